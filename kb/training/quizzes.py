"""Quizzes: assemble approved questions, publish (freezing each question as a snapshot) and assign to agents."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import AuditEntry, User, utcnow

from .models import FEEDBACK, Attempt, Quiz, QuizAssignment, QuizItem, TrainingQuestion
from .questions import TrainingError, current_versions, is_stale

MAX_QUESTIONS = 100
MAX_TIME_LIMIT = 240


@dataclass
class QuizSettings:
    title: str
    pass_mark: int
    time_limit_minutes: int | None
    feedback: str


def _whole_number(text, label: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise TrainingError(f"{label}必须是 {low} 到 {high} 之间的整数。") from None
    if not low <= value <= high:
        raise TrainingError(f"{label}必须是 {low} 到 {high} 之间的整数。")
    return value


def parse_settings(title, pass_mark, time_limit, feedback) -> QuizSettings:
    """Quiz settings from form text, or a TrainingError naming the field that is wrong."""
    title = (title or "").strip()
    if not title:
        raise TrainingError("请填写测验名称。")
    if len(title) > 120:
        raise TrainingError("测验名称不能超过 120 个字。")
    mark = _whole_number(pass_mark, "及格线", 0, 100)
    limit = None if not str(time_limit or "").strip() else _whole_number(time_limit, "时间限制（分钟）", 1,
                                                                       MAX_TIME_LIMIT)
    if feedback not in FEEDBACK:
        raise TrainingError("请选择答案反馈方式：每题之后或全部答完之后。")
    return QuizSettings(title, mark, limit, feedback)


def _questions(session: Session, question_ids: list[int]) -> list[TrainingQuestion]:
    if not question_ids:
        raise TrainingError("请至少选择一道题。")
    if len(question_ids) > MAX_QUESTIONS:
        raise TrainingError(f"一份测验最多 {MAX_QUESTIONS} 道题。")
    found = {q.id: q for q in session.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(question_ids)))}
    missing = [str(i) for i in question_ids if i not in found]
    if missing:
        raise TrainingError(f"找不到这些题目：{', '.join(missing)}")
    versions = current_versions(session)
    blocked = [q for q in found.values() if q.status != "approved" or is_stale(q, versions)]
    if blocked:
        ids = ", ".join(f"#{q.id}" for q in sorted(blocked, key=lambda q: q.id))
        raise TrainingError(f"这些题目未批准或来源文章已更新、需要重新审核：{ids}")
    return [found[i] for i in dict.fromkeys(question_ids)]


def save_quiz(session: Session, settings: QuizSettings, question_ids: list[int], actor: str,
              quiz: Quiz | None = None) -> Quiz:
    """Create a draft quiz, or replace a draft's settings and questions."""
    if quiz is not None and quiz.status != "draft":
        raise TrainingError("已发布的测验不能再修改题目。")
    questions = _questions(session, question_ids)
    if quiz is None:
        quiz = Quiz(created_by=actor, status="draft")
        session.add(quiz)
    quiz.title, quiz.pass_mark = settings.title, settings.pass_mark
    quiz.time_limit_minutes, quiz.feedback = settings.time_limit_minutes, settings.feedback
    quiz.items.clear()
    session.flush()
    quiz.items.extend(QuizItem(question_id=q.id, position=n) for n, q in enumerate(questions, start=1))
    session.flush()
    session.add(AuditEntry(actor=actor, action="training-quiz-save", target=f"quiz {quiz.id}",
                           detail=f"{len(questions)} questions"))
    return quiz


def publish(session: Session, quiz: Quiz, actor: str) -> None:
    """Freeze every question as it is now; refuse when one has become stale or unapproved since it was chosen."""
    if quiz.status == "published":
        return
    _questions(session, [item.question_id for item in quiz.items])
    for item in quiz.items:
        item.snapshot = item.question.snapshot()
    quiz.status, quiz.published_at = "published", utcnow()
    session.add(AuditEntry(actor=actor, action="training-quiz-publish", target=f"quiz {quiz.id}", detail=quiz.title))


def agents(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.role == "agent", User.active.is_(True))
                                .order_by(User.username)))


def assign(session: Session, quiz: Quiz, usernames: list[str], actor: str) -> list[str]:
    """Assign a published quiz to agents; returns the newly assigned usernames (re-assigning is a no-op)."""
    if quiz.status != "published":
        raise TrainingError("请先发布测验，再分配给坐席。")
    valid = {u.username for u in agents(session)}
    unknown = [u for u in usernames if u not in valid]
    if unknown:
        raise TrainingError(f"这些账号不是在职坐席：{', '.join(unknown)}")
    have = {a.username for a in quiz.assignments}
    added = [u for u in dict.fromkeys(usernames) if u not in have]
    quiz.assignments.extend(QuizAssignment(username=u, assigned_by=actor) for u in added)
    if added:
        session.add(AuditEntry(actor=actor, action="training-assign", target=f"quiz {quiz.id}",
                               detail=", ".join(added)[:1000]))
    return added


def is_assigned(session: Session, quiz_id: int, username: str) -> bool:
    return session.scalar(select(QuizAssignment.id).where(QuizAssignment.quiz_id == quiz_id,
                                                          QuizAssignment.username == username)) is not None


@dataclass
class AgentQuiz:
    quiz: Quiz
    attempts: list[Attempt]

    @property
    def latest(self) -> Attempt | None:
        finished = [a for a in self.attempts if a.finished_at]
        return finished[-1] if finished else None

    @property
    def open(self) -> Attempt | None:
        return next((a for a in self.attempts if not a.finished_at), None)


def for_agent(session: Session, username: str) -> list[AgentQuiz]:
    """The published quizzes assigned to an agent, newest first, with the agent's attempts."""
    quizzes = session.scalars(select(Quiz).join(QuizAssignment, QuizAssignment.quiz_id == Quiz.id)
                              .where(QuizAssignment.username == username, Quiz.status == "published")
                              .order_by(Quiz.published_at.desc(), Quiz.id.desc()))
    result = []
    for quiz in quizzes:
        attempts = list(session.scalars(select(Attempt).where(Attempt.quiz_id == quiz.id,
                                                              Attempt.username == username).order_by(Attempt.id)))
        result.append(AgentQuiz(quiz, attempts))
    return result
