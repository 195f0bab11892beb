"""Rate limits counted in the database, so a limit holds across every worker and node (login attempts, the API).

The window is cut into ``SLOTS`` slots; an attempt adds one to its slot's row with an upsert and is allowed when the
slots covering the last window hold at most ``limit`` attempts. Attempts on one key are serialised for the whole
count-and-check (SQLite: its single writer; PostgreSQL: a transaction-scoped advisory lock on the key), because two
attempts either side of a slot boundary write different rows and would not see each other's uncommitted count. A refused attempt is rolled back, so it is not counted. Slots make the window
slide in steps of window / SLOTS; the limit may be up to that much lenient at the edge of a window, never stricter.
Nodes need clocks that agree to within a slot (NTP).
"""
from __future__ import annotations

import logging
import math
import random
import time

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError

from kb.db import Database
from kb.models import RateLimitCount

log = logging.getLogger(__name__)
SLOTS = 10
PRUNE_EVERY = 200  # on average, one attempt in this many also deletes every expired slot (of any key)
LOCK_NAMESPACE = 0x6B62_726C  # "kbrl": first key of the two-key advisory locks that serialise one limiter key


def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class RateLimiter:
    """``allow(key)`` counts one attempt; ``reset(key)`` forgets a key's attempts. ``name`` keeps limiters apart.

    ``fail_open``: when the database cannot count (busy, down), allow and log rather than fail the request. The API
    uses it (an agent on a call keeps their suggestions); the login does not need it, it reads the database anyway.
    """

    def __init__(self, db: Database, name: str, limit: int, window_seconds: float, clock=time.time,
                 fail_open: bool = False):
        self.db, self.name, self.limit, self.window, self.clock = db, name, limit, window_seconds, clock
        self.slot_seconds = max(1.0, window_seconds / SLOTS)
        self.fail_open = fail_open
        self._insert = _upsert(db.engine.dialect.name)

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"[:200]

    def allow(self, key: str) -> bool:
        """Record one attempt for ``key``; False when it is over the limit for the window (and then not recorded)."""
        now = self.clock()
        slot = math.floor(now / self.slot_seconds)
        oldest = slot - math.ceil(self.window / self.slot_seconds) + 1
        full_key = self._key(key)
        table = RateLimitCount.__table__
        upsert = self._insert(table).values(key=full_key, slot=slot, count=1,
                                            expires_at=math.ceil((slot + 1) * self.slot_seconds + self.window))
        upsert = upsert.on_conflict_do_update(index_elements=["key", "slot"], set_={"count": table.c.count + 1})
        try:
            with self.db.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"),
                                 {"namespace": LOCK_NAMESPACE, "key": full_key})
                conn.execute(upsert)
                total = conn.scalar(select(func.sum(table.c.count)).where(table.c.key == full_key,
                                                                          table.c.slot >= oldest))
                if total > self.limit:
                    conn.rollback()
                    return False
                conn.execute(delete(table).where(table.c.key == full_key, table.c.slot < oldest))
                if random.randrange(PRUNE_EVERY) == 0:
                    conn.execute(delete(table).where(table.c.expires_at < now))
                conn.commit()
                return True
        except OperationalError:
            if not self.fail_open:
                raise
            log.warning("rate limit %s not counted: database unavailable", self.name, exc_info=True)
            return True

    def reset(self, key: str) -> None:
        table = RateLimitCount.__table__
        with self.db.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == self._key(key)))
