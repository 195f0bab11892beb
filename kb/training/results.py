"""Results of finished attempts, per agent, per question and per article (the knowledge agents miss most), and CSV."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb.models import User

from .models import Attempt, Quiz, QuizAssignment

VIEWS = ("agents", "questions", "articles")


@dataclass
class Tally:
    """Answers given and answers right for one question or one article."""

    key: str
    label: str
    detail: str = ""
    answered: int = 0
    correct: int = 0

    @property
    def share(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


@dataclass
class AgentRow:
    username: str
    display_name: str
    attempts: int = 0
    answered: int = 0
    correct: int = 0
    last_score: float | None = None
    best_score: float | None = None
    passed: bool | None = None

    @property
    def share(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


@dataclass
class Results:
    agents: list[AgentRow] = field(default_factory=list)
    questions: list[Tally] = field(default_factory=list)
    articles: list[Tally] = field(default_factory=list)
    attempts: int = 0

    @property
    def average_score(self) -> float | None:
        scores = [a.last_score for a in self.agents if a.last_score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def pass_rate(self) -> float | None:
        done = [a for a in self.agents if a.passed is not None]
        return sum(1 for a in done if a.passed) / len(done) if done else None


def results(session: Session, quiz_id: int | None = None) -> Results:
    """Aggregate finished attempts (of one quiz, or all). Agents assigned but not finished are listed too."""
    query = (select(Attempt).where(Attempt.finished_at.is_not(None))
             .options(selectinload(Attempt.answers), selectinload(Attempt.quiz).selectinload(Quiz.items))
             .order_by(Attempt.finished_at, Attempt.id))
    assigned = select(QuizAssignment.username)
    if quiz_id is not None:
        query = query.where(Attempt.quiz_id == quiz_id)
        assigned = assigned.where(QuizAssignment.quiz_id == quiz_id)
    attempts = list(session.scalars(query))
    names = {u.username: u.display_name for u in session.scalars(select(User))}
    agents: dict[str, AgentRow] = {}
    for username in sorted(set(session.scalars(assigned)) | {a.username for a in attempts}):
        agents[username] = AgentRow(username, names.get(username) or username)
    questions: dict[str, Tally] = {}
    articles: dict[str, Tally] = {}
    for attempt in attempts:
        row = agents[attempt.username]
        row.attempts += 1
        row.last_score, row.passed = attempt.score, attempt.passed
        row.best_score = max(attempt.score, row.best_score or 0.0)
        given = {ans.item_id: ans.correct for ans in attempt.answers}
        for item in attempt.quiz.items:
            # A question left unanswered when time ran out counts as answered wrongly.
            correct = given.get(item.id, False)
            snap = item.snapshot
            _count(questions, str(snap["question_id"]), snap["prompt"],
                   f"{snap['article_title']} › {snap['heading']}", correct)
            _count(articles, snap["article_id"], snap["article_title"], snap["article_id"], correct)
            row.answered += 1
            row.correct += int(correct)
    weakest_first = lambda t: (t.share, -t.answered, t.label)  # noqa: E731
    return Results(agents=list(agents.values()), questions=sorted(questions.values(), key=weakest_first),
                   articles=sorted(articles.values(), key=weakest_first), attempts=len(attempts))


def _count(table: dict[str, Tally], key: str, label: str, detail: str, correct: bool) -> None:
    tally = table.setdefault(key, Tally(key, label, detail))
    tally.answered += 1
    tally.correct += int(correct)


def _cell(value) -> str:
    """A spreadsheet-safe cell: text that starts like a formula is prefixed with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(data: Results, view: str) -> str:
    """One view as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese correctly)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}")
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    if view == "agents":
        writer.writerow(["账号", "姓名", "完成次数", "最近得分", "最高得分", "最近是否通过", "题数", "答对数", "正确率"])
        for a in data.agents:
            writer.writerow([_cell(a.username), _cell(a.display_name), a.attempts, _fmt(a.last_score),
                             _fmt(a.best_score), "" if a.passed is None else ("通过" if a.passed else "未通过"),
                             a.answered, a.correct, f"{a.share:.3f}"])
    elif view == "questions":
        writer.writerow(["题目编号", "题目", "来源", "答题数", "答对数", "正确率"])
        for t in data.questions:
            writer.writerow([t.key, _cell(t.label), _cell(t.detail), t.answered, t.correct, f"{t.share:.3f}"])
    else:
        writer.writerow(["文章编号", "文章", "答题数", "答对数", "正确率"])
        for t in data.articles:
            writer.writerow([_cell(t.key), _cell(t.label), t.answered, t.correct, f"{t.share:.3f}"])
    return out.getvalue()


def _fmt(score: float | None) -> str:
    return "" if score is None else f"{score:.1f}"
