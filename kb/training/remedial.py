"""Calls feed training: read finished calls' adherence per agent, and turn an agent's misses into a quiz for them.

The quiz comes from the rules the agent missed (disclosures missed or said late, escalations left unhandled) through
the ordinary generator: every question is taken verbatim from the rule's `say` text, steps or sections, so the
trainer's one click stands for the review (it approves the generated questions on those rules, as the audit log
records), publishes the quiz and assigns it to the agent.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.models import CallRecord
from kb.qa import CallAdherence, summarize_call

from . import questions as bank
from . import quizzes
from .models import Quiz, TrainingQuestion
from .questions import TrainingError

# The QA view reads at most this many recent calls (a page, not an archive).
MAX_CALLS = 2000
REMEDIAL_PASS_MARK = 80


@dataclass
class ReviewedCall:
    record: CallRecord
    adherence: CallAdherence


def recent_calls(session: Session, agent: str | None = None, limit: int = MAX_CALLS) -> list[ReviewedCall]:
    """The most recent finished calls (of one agent, or everyone's), newest first, each with its adherence."""
    query = select(CallRecord).order_by(CallRecord.ended_at.desc(), CallRecord.id.desc()).limit(limit)
    if agent is not None:
        query = query.where(CallRecord.agent == agent)
    return [ReviewedCall(r, summarize_call(r.data)) for r in session.scalars(query)]


def missed_rules(calls: list[ReviewedCall]) -> Counter:
    """Rule id → the number of calls in which it was missed, said late or (an escalation) left unhandled."""
    counts: Counter = Counter()
    for call in calls:
        counts.update(set(call.adherence.missed_rules()))
    return counts


def quiz_from_misses(session: Session, agent: str, actor: str) -> Quiz:
    """Build, publish and assign to ``agent`` a quiz on the rules their recent calls missed.

    Raises TrainingError (shown to the trainer as is) when the agent missed nothing or no question can be made.
    """
    calls = recent_calls(session, agent)
    misses = missed_rules(calls)
    current = bank.published(session)
    rule_ids = [rule_id for rule_id, _ in misses.most_common() if rule_id in current]
    if not rule_ids:
        raise TrainingError(f"坐席 {agent} 最近的通话没有漏说或晚说的告知，也没有未处理的升级，无需补课。")
    key = remedial_key(agent, calls[0].record.id, rule_ids)
    existing = session.scalar(select(Quiz).where(Quiz.remedial_key == key))
    if existing is not None:
        return existing
    try:
        return _build_quiz(session, agent, actor, rule_ids, current, key)
    except IntegrityError:
        # the same click, racing: the other request generated the same questions or stored this quiz first, and its
        # transaction holds all of it; everything done here is rolled back and its quiz is the answer
        session.rollback()
        quiz = session.scalar(select(Quiz).where(Quiz.remedial_key == key))
        if quiz is None:
            raise TrainingError("另一位培训师正在为这位坐席生成同样的补课测验，请稍后刷新查看。") from None
        return quiz


def _build_quiz(session: Session, agent: str, actor: str, rule_ids: list[str], current: dict, key: str) -> Quiz:
    bank.generate(session, rule_ids, actor)
    rows = session.scalars(select(TrainingQuestion).where(TrainingQuestion.article_id.in_(rule_ids),
                                                          TrainingQuestion.status.in_(("pending", "approved")))
                           .order_by(TrainingQuestion.id))
    versions = bank.current_versions(session)
    chosen = []
    for question in rows:
        if question.status == "pending" or bank.is_stale(question, versions):
            try:
                bank.approve(session, question, actor)
            except TrainingError:
                continue   # its section changed so that the answer is gone: left for the trainer to fix
        chosen.append(question.id)
    if not chosen:
        raise TrainingError("这些规则目前生成不出可用的题目（题目都已被删除）：请在题库中恢复或新建题目。")
    titles = "、".join(current[r][1].title for r in rule_ids[:2]) + ("等" if len(rule_ids) > 2 else "")
    settings = quizzes.QuizSettings(f"通话补课：{agent}（{titles}）"[:120], REMEDIAL_PASS_MARK, None, "each")
    quiz = quizzes.save_quiz(session, settings, chosen[:quizzes.MAX_QUESTIONS], actor)
    quiz.remedial_key = key
    session.flush()
    quizzes.publish(session, quiz, actor)
    quizzes.assign(session, quiz, [agent], actor)
    return quiz


def remedial_key(agent: str, newest_call_id: int, rule_ids: list[str]) -> str:
    """The same agent, the same newest call and the same missed rules: the same remedial quiz."""
    text = "\n".join([agent, str(newest_call_id), *sorted(rule_ids)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
