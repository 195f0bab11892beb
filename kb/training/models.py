"""Training tables: generated questions (linked to an article version and section), quizzes, assignments, attempts.

A question remembers the article version it was generated from; when the article moves on, the question is stale
until a trainer re-approves it. A published quiz keeps a snapshot of each question, so later edits never change what
an agent was asked.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.models import Base, utcnow

FAMILIES = ("fact", "disclosure", "next_step", "order", "script")
FEEDBACK = ("each", "end")


class TrainingQuestion(Base):
    """One generated (and possibly trainer-edited) question. ``key`` identifies it across regenerations."""

    __tablename__ = "training_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(20), index=True)
    mode: Mapped[str] = mapped_column(String(10))
    article_id: Mapped[str] = mapped_column(String(80), index=True)
    article_type: Mapped[str] = mapped_column(String(20))
    article_title: Mapped[str] = mapped_column(String(200))
    article_version: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300))
    source_field: Mapped[str] = mapped_column(String(10), default="body")
    source_text: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON)
    answer: Mapped[object] = mapped_column(JSON)
    unit: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_by: Mapped[str] = mapped_column(String(80), default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    def snapshot(self) -> dict:
        """What a published quiz keeps of this question."""
        return {"question_id": self.id, "family": self.family, "mode": self.mode, "prompt": self.prompt,
                "options": list(self.options), "answer": self.answer, "unit": self.unit,
                "article_id": self.article_id, "article_title": self.article_title,
                "article_version": self.article_version, "heading": self.heading}


class Quiz(Base):
    """``remedial_key`` is set on a quiz built from an agent's missed rules (kb/training/remedial.py): the agent, the
    newest call it read and the rules it covers. A double click or a retried request builds the same key, and the
    unique constraint makes the second one find the first quiz instead of assigning the agent two."""

    __tablename__ = "training_quizzes"
    __table_args__ = (UniqueConstraint("remedial_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    pass_mark: Mapped[int] = mapped_column(Integer, default=80)
    time_limit_minutes: Mapped[int | None] = mapped_column(Integer)
    feedback: Mapped[str] = mapped_column(String(10), default="each")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    remedial_key: Mapped[str | None] = mapped_column(String(64))

    items: Mapped[list["QuizItem"]] = relationship(order_by="QuizItem.position", cascade="all, delete-orphan")
    assignments: Mapped[list["QuizAssignment"]] = relationship(order_by="QuizAssignment.username",
                                                               cascade="all, delete-orphan")


class QuizItem(Base):
    """A question's place in a quiz; ``snapshot`` is filled when the quiz is published."""

    __tablename__ = "training_quiz_items"
    __table_args__ = (UniqueConstraint("quiz_id", "question_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("training_quizzes.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("training_questions.id"))
    position: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict | None] = mapped_column(JSON)

    question: Mapped[TrainingQuestion] = relationship()


class QuizAssignment(Base):
    __tablename__ = "training_assignments"
    __table_args__ = (UniqueConstraint("quiz_id", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("training_quizzes.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    assigned_by: Mapped[str] = mapped_column(String(80))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Attempt(Base):
    """One agent taking one quiz. ``deadline`` is set when the quiz has a time limit; the server enforces it."""

    __tablename__ = "training_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("training_quizzes.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)

    quiz: Mapped[Quiz] = relationship()
    answers: Mapped[list["AttemptAnswer"]] = relationship(order_by="AttemptAnswer.position",
                                                          cascade="all, delete-orphan")


class AttemptAnswer(Base):
    __tablename__ = "training_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("training_attempts.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("training_quiz_items.id"))
    position: Mapped[int] = mapped_column(Integer)
    response: Mapped[object] = mapped_column(JSON)
    correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    item: Mapped[QuizItem] = relationship()
