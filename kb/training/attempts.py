"""Taking a quiz: start or resume an attempt, answer one question at a time, grade, finish, enforce the time limit.

Every function takes ``now`` so the clock is the caller's (tests pass a fixed one); the server is the judge of the
deadline, whatever the page's countdown shows.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from .generate import FACT
from .models import Attempt, AttemptAnswer, Quiz, QuizItem
from .questions import TrainingError


def start(session: Session, quiz: Quiz, username: str, now: dt.datetime) -> Attempt:
    """Resume the agent's open attempt at this quiz, or begin a new one."""
    if quiz.status != "published":
        raise TrainingError("这份测验还没有发布。")
    attempt = session.scalar(select(Attempt).where(Attempt.quiz_id == quiz.id, Attempt.username == username,
                                                   Attempt.finished_at.is_(None)))
    if attempt is not None:
        return attempt
    deadline = now + dt.timedelta(minutes=quiz.time_limit_minutes) if quiz.time_limit_minutes else None
    attempt = Attempt(quiz_id=quiz.id, username=username, started_at=now, deadline=deadline, total=len(quiz.items))
    session.add(attempt)
    session.flush()
    return attempt


def next_item(attempt: Attempt) -> QuizItem | None:
    done = {a.item_id for a in attempt.answers}
    return next((item for item in attempt.quiz.items if item.id not in done), None)


def time_left(attempt: Attempt, now: dt.datetime) -> int | None:
    """Whole seconds left before the deadline (never negative), or None without a time limit."""
    if attempt.deadline is None:
        return None
    return max(0, int((attempt.deadline - now).total_seconds()))


def check_open(session: Session, attempt: Attempt, now: dt.datetime) -> bool:
    """Finish the attempt if its time is up or every question is answered; True while it is still open."""
    if attempt.finished_at is not None:
        return False
    if time_left(attempt, now) == 0 or next_item(attempt) is None:
        finish(session, attempt, now)
        return False
    return True


def parse_response(snapshot: dict, form: Mapping) -> object:
    """The agent's answer from the submitted form, or a TrainingError saying what is missing."""
    mode, options = snapshot["mode"], snapshot["options"]
    if mode == "fill":
        text = str(form.get("text", "")).strip()
        if not text:
            raise TrainingError("请填写答案。")
        return text[:200]
    if mode == "order":
        positions = []
        for index in range(len(options)):
            try:
                positions.append(int(form.get(f"pos-{index}", "")))
            except ValueError:
                raise TrainingError("请为每个步骤选择它的顺序。") from None
        if sorted(positions) != list(range(1, len(options) + 1)):
            raise TrainingError("每个步骤要选一个不同的顺序号（1 到 %d）。" % len(options))
        return [options[i] for i in sorted(range(len(options)), key=lambda i: positions[i])]
    try:
        index = int(form.get("choice", ""))
    except ValueError:
        raise TrainingError("请选择一个答案。") from None
    if not 0 <= index < len(options):
        raise TrainingError("请选择一个答案。")
    return options[index]


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def grade(snapshot: dict, response) -> bool:
    """Choice and order answers must match exactly; a fill-in answer may leave out spaces or the unit."""
    answer = snapshot["answer"]
    if snapshot["mode"] == "order":
        return list(response) == list(answer)
    if snapshot["mode"] == "fill":
        accepted = {_squash(answer)}
        fact = FACT.fullmatch(answer.strip())
        if fact:
            accepted.add(_squash(fact.group(1)))
        return _squash(response) in accepted
    return response == answer


def answer(session: Session, attempt: Attempt, item_id: int, form: Mapping, now: dt.datetime) -> AttemptAnswer:
    """Record the answer to the next open question; answers out of turn, twice or after the deadline are refused."""
    if not check_open(session, attempt, now):
        raise TrainingError("这次测验已经结束（已答完或时间已到）。")
    item = next_item(attempt)
    if item.id != item_id:
        raise TrainingError("这道题已经答过了，请继续下一题。")
    response = parse_response(item.snapshot, form)
    record = AttemptAnswer(item_id=item.id, position=item.position, response=response,
                           correct=grade(item.snapshot, response), answered_at=now)
    attempt.answers.append(record)
    session.flush()
    check_open(session, attempt, now)
    return record


def finish(session: Session, attempt: Attempt, now: dt.datetime) -> None:
    """Score the attempt: unanswered questions (time ran out) count as wrong."""
    attempt.finished_at = now
    attempt.total = len(attempt.quiz.items)
    attempt.correct = sum(1 for a in attempt.answers if a.correct)
    attempt.score = round(100.0 * attempt.correct / attempt.total, 1) if attempt.total else 0.0
    attempt.passed = attempt.score >= attempt.quiz.pass_mark
    session.flush()
