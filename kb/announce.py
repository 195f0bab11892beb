"""Publish announcements: how every node learns that the published content changed (``indexer/follower.py``).

On PostgreSQL a publish sends ``NOTIFY kb_publish`` inside its own transaction, so it is delivered when the publish
commits and never for one that rolled back. The watermark is the fallback every follower also polls (and the whole
mechanism on SQLite, which has no NOTIFY).
"""
from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .models import ArticleRecord, ArticleVersion

CHANNEL = "kb_publish"


def announce(session: Session) -> None:
    """Tell every node that published content changed (at commit). A no-op on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def watermark(session: Session) -> tuple:
    """Changes with every publish and rollback: the newest version id and the newest article change."""
    newest_version = select(func.max(ArticleVersion.id)).scalar_subquery()
    newest_change = select(func.max(ArticleRecord.updated_at)).scalar_subquery()
    return tuple(session.execute(select(newest_version, newest_change)).one())
