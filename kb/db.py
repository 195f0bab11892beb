"""Engine and session factory. SQLite gets WAL and a busy timeout so readers and one writer coexist; PostgreSQL
gets a lock timeout with the same meaning and connections that are checked before use, so a server restart costs
the requests made while it is down (503) and nothing after."""
from __future__ import annotations

import os
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .config import driver_url


def make_engine(url: str) -> Engine:
    """``KB_DB_BUSY_TIMEOUT`` (seconds, default 15): how long a write waits for another writer's lock before the
    request fails with a clear "database busy" error instead of hanging."""
    url = driver_url(url)
    is_sqlite = url.startswith("sqlite")
    timeout = float(os.environ.get("KB_DB_BUSY_TIMEOUT", "15"))
    if not is_sqlite:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=timeout,
                               connect_args={"connect_timeout": max(1, round(timeout)),
                                             "options": f"-c lock_timeout={round(timeout * 1000)}"})
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
        return engine
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def _strip_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_strip_nul(item) for item in value)
    return value


def _without_nul(_conn, _cursor, statement, parameters, _context, _executemany):
    """PostgreSQL text cannot hold U+0000 (psycopg refuses the whole statement); no text here needs it, so hostile
    input with NUL characters is stored without them, as on SQLite apart from the NUL, instead of failing with 500."""
    return statement, _strip_nul(parameters)


class Database:
    """One engine + session factory; ``session()`` commits on success and rolls back on any error."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        """Create or migrate the tables to the newest revision (see ``kb.migrate``)."""
        from .migrate import upgrade
        upgrade(self.url)

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
