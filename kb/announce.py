"""Publish announcements: how every node learns that the published content changed (``indexer/follower.py``).

Each publish adds a row to ``publish_events`` (the publish queue) in its own transaction, so the event exists
exactly when the publish does. Event ids must be handed out in commit order, or a node that indexed up to id 6 could
miss a slower transaction's id 5 committed afterwards: on PostgreSQL the publishing transaction takes an advisory
lock before it inserts and holds it until it commits (SQLite has one writer at a time anyway). On PostgreSQL the
publish also sends ``NOTIFY kb_publish``, delivered when it commits and never for one that rolled back; polling
the newest event id is the fallback every follower also runs, and the whole mechanism on SQLite.
"""
from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .models import PublishEvent

CHANNEL = "kb_publish"
LOCK_ID = 0x6B62_7075  # "kbpu": held by a publishing transaction from its event insert to its commit


def announce(session: Session, article_id: str, version: int, actor: str = "") -> None:
    """Record the publish as the next event and tell every node (both take effect at commit)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
    session.add(PublishEvent(article_id=article_id, version=version, actor=actor[:80]))
    session.flush()
    if postgres:
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def latest_event(session: Session) -> int:
    """The newest publish event's id (0 before the first): what a node's index must cover to be up to date."""
    return session.scalar(select(func.coalesce(func.max(PublishEvent.id), 0)))
