"""Engine and session factory. SQLite gets WAL and a busy timeout so readers and one writer coexist."""
from __future__ import annotations

import os
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .models import Base


def make_engine(url: str) -> Engine:
    """``KB_DB_BUSY_TIMEOUT`` (seconds, default 15): how long a write waits for another writer's lock before the
    request fails with a clear "database busy" error instead of hanging."""
    is_sqlite = url.startswith("sqlite")
    timeout = float(os.environ.get("KB_DB_BUSY_TIMEOUT", "15"))
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False} if is_sqlite else {})
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return engine


class Database:
    """One engine + session factory; ``session()`` commits on success and rolls back on any error."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self):
        session: Session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
