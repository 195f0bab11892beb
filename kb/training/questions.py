"""The question bank: store generated questions, review them (approve, drop, edit) and spot stale ones.

A question is stale when its article has a newer published version than the one it was generated from (or the
article is gone). Stale questions stay out of new quizzes until a trainer re-approves them against the current text.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.articles import Article
from kb.models import AuditEntry, utcnow
from kb.render import plain_text
from kb.store import published_articles

from .generate import BLANK, FACT, Candidate, Generator, section_text, seeded, short_heading, shuffle_steps
from .models import TrainingQuestion


class TrainingError(ValueError):
    """Bad input from a trainer or agent; the message says what is wrong and is shown as is."""


@dataclass
class GenerateReport:
    created: list[int] = field(default_factory=list)
    existing: int = 0


def published(session: Session) -> dict[str, tuple[int, Article]]:
    """Article id → (current version number, Article) for every live article."""
    return {article.id: (version.number, article) for version, article in published_articles(session)}


def select_articles(current: dict[str, tuple[int, Article]], article_ids=(), tags=()) -> list[str]:
    """Ids of the chosen articles plus every article carrying one of the chosen tags."""
    unknown = [a for a in article_ids if a not in current]
    if unknown:
        raise TrainingError(f"没有这些已发布的文章：{', '.join(unknown[:5])}")
    tags = set(tags)
    chosen = set(article_ids) | {aid for aid, (_, a) in current.items() if tags & set(a.tags)}
    if not chosen:
        raise TrainingError("请至少选择一篇文章或一个标签。")
    return sorted(chosen)


def generate(session: Session, article_ids: list[str], actor: str) -> GenerateReport:
    """Add new questions for the articles; a question generated before (same key) is kept as the trainer left it."""
    current = published(session)
    candidates = Generator(list(current.values())).generate(set(article_ids))
    known = set(session.scalars(select(TrainingQuestion.key).where(
        TrainingQuestion.key.in_([c.key for c in candidates]))))
    report = GenerateReport()
    for candidate in candidates:
        if candidate.key in known:
            report.existing += 1
            continue
        question = _from_candidate(candidate, actor)
        session.add(question)
        session.flush()
        report.created.append(question.id)
    session.add(AuditEntry(actor=actor, action="training-generate", target=",".join(article_ids)[:120],
                           detail=f"{len(report.created)} new, {report.existing} existing"))
    return report


def _from_candidate(c: Candidate, actor: str) -> TrainingQuestion:
    return TrainingQuestion(
        key=c.key, family=c.family, mode=c.mode, article_id=c.article_id, article_type=c.article_type,
        article_title=c.article_title, article_version=c.article_version, heading=c.heading,
        source_field=c.source_field, source_text=c.source_text, prompt=c.prompt, options=list(c.options),
        answer=list(c.answer) if isinstance(c.answer, tuple) else c.answer, unit=c.unit, status="pending",
        created_by=actor)


def current_versions(session: Session) -> dict[str, int]:
    return {aid: number for aid, (number, _) in published(session).items()}


def is_stale(question: TrainingQuestion, versions: dict[str, int]) -> bool:
    return versions.get(question.article_id) != question.article_version


def usable(session: Session) -> list[TrainingQuestion]:
    """Approved questions whose source article has not changed since: the ones new quizzes may use."""
    versions = current_versions(session)
    rows = session.scalars(select(TrainingQuestion).where(TrainingQuestion.status == "approved")
                           .order_by(TrainingQuestion.article_id, TrainingQuestion.id))
    return [q for q in rows if not is_stale(q, versions)]


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def answerable(mode: str, answer, source: str, sentence: str | None = None) -> bool:
    """The correct answer is in the source text (steps in their order; a fact within its own sentence)."""
    text = _squash(plain_text(source))
    if sentence:
        return _squash(sentence.replace(BLANK, answer)) in text
    if mode == "order":
        at = 0
        for step in answer:
            at = text.find(_squash(step), at)
            if at < 0:
                return False
            at += len(_squash(step))
        return True
    return bool(answer) and _squash(answer) in text


def approve(session: Session, question: TrainingQuestion, actor: str) -> None:
    """Approve; a stale question is re-checked against the current version and moved to it."""
    current = published(session)
    if question.article_id not in current:
        raise TrainingError(f"文章 {question.article_id} 已下线，这道题不能再使用。")
    number, article = current[question.article_id]
    if number != question.article_version:
        source = section_text(article, question.heading, question.source_field)
        if source is None:
            raise TrainingError(f"第 {number} 版已没有「{question.heading}」这一节：请修改题目或删除。")
        if not answerable(question.mode, question.answer, source, _fact_sentence(question)):
            raise TrainingError(f"第 {number} 版「{question.heading}」中已找不到这道题的答案：请对照新内容修改后再批准。")
        _move_to(question, number, article, source)
    _review(session, question, "approved", actor)


def _fact_sentence(question: TrainingQuestion) -> str | None:
    """The generated sentence with its blank, for a fact question the trainer has not reworded."""
    lead = short_heading(question.heading) + "："
    if question.family == "fact" and not question.edited and question.prompt.startswith(lead):
        return question.prompt[len(lead):]
    return None


def _move_to(question: TrainingQuestion, number: int, article: Article, source: str) -> None:
    question.article_version, question.article_title, question.source_text = number, article.title, source


def drop(session: Session, question: TrainingQuestion, actor: str) -> None:
    _review(session, question, "dropped", actor)


def restore(session: Session, question: TrainingQuestion, actor: str) -> None:
    _review(session, question, "pending", actor)


def _review(session: Session, question: TrainingQuestion, status: str, actor: str) -> None:
    question.status, question.reviewed_by, question.reviewed_at = status, actor, utcnow()
    session.add(AuditEntry(actor=actor, action=f"training-{status}", target=f"question {question.id}",
                           detail=question.article_id))


def edit(session: Session, question: TrainingQuestion, prompt: str, options: list[str], answer, actor: str,
         approve_now: bool = False) -> None:
    """Save a trainer's wording. Saving with approval also moves a stale question to the current version: the
    trainer has just checked it against the current text shown beside the form."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise TrainingError("题干不能为空。")
    if len(prompt) > 2000:
        raise TrainingError("题干太长（上限 2000 字）。")
    options = [o.strip() for o in options if o and o.strip()]
    if question.mode == "fill":
        answer = (answer or "").strip()
        if not answer:
            raise TrainingError("填空题需要填写正确答案。")
        options = []
    elif question.mode == "order":
        if len(options) < 3:
            raise TrainingError("排序题至少需要 3 个步骤（每行一个，按正确顺序）。")
        if len(set(options)) != len(options):
            raise TrainingError("步骤不能重复。")
        answer, options = list(options), shuffle_steps(options, seeded("\n".join(options)))
    else:
        if len(options) < 2:
            raise TrainingError("选择题至少需要 2 个选项（每行一个）。")
        if len(set(options)) != len(options):
            raise TrainingError("选项不能重复。")
        answer = (answer or "").strip()
        if answer not in options:
            raise TrainingError("正确答案必须是选项中的一项。")
    current = published(session).get(question.article_id)
    if approve_now and current is None:
        raise TrainingError(f"文章 {question.article_id} 已下线，这道题不能再使用。")
    question.prompt, question.options, question.answer, question.edited = prompt, options, answer, True
    if question.mode == "fill" and not FACT.fullmatch(answer):
        question.unit = ""
    if approve_now:
        number, article = current
        source = section_text(article, question.heading, question.source_field) or question.source_text
        _move_to(question, number, article, source)
        _review(session, question, "approved", actor)
    else:
        session.add(AuditEntry(actor=actor, action="training-edit", target=f"question {question.id}",
                               detail=question.article_id))
