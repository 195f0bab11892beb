"""One thread per serving process that wakes the sidebar streams of agents whose live calls have new events.

Events live in the database (``kb/live.py``), so every worker and node sees every call. Rather than each open stream
polling the table, the process's hub reads ``(id, agent)`` of new events (every ``poll_seconds``; on PostgreSQL also
at once when ``NOTIFY kb_live`` is heard) and sets the wake-up flag of that agent's streams, which then read their
own events. A stream holds a request thread while it is open (gunicorn's gthread worker), so the hub also counts open
streams against ``max_streams`` and the stream view turns the surplus away (``webapp/live.py``).
"""
from __future__ import annotations

import logging
import threading

from kb import live
from kb.config import driver_url
from kb.db import Database

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, agent: str):
        self.agent = agent
        self.woken = threading.Event()
        self.closed = False


class LiveHub:
    def __init__(self, db: Database, poll_seconds: float = 0.05, max_streams: int = 32):
        self.db, self.poll_seconds, self.max_streams = db, poll_seconds, max_streams
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}
        self._streams = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._changed = threading.Event()  # set by NOTIFY: read now instead of at the next poll
        self.last_id: int | None = None

    # --- streams ---------------------------------------------------------------------------------------------------

    def open_stream(self, agent: str) -> Subscription | None:
        """A subscription for one stream, or None when this process already holds ``max_streams`` open streams."""
        with self._lock:
            if self._streams >= self.max_streams:
                return None
            self._streams += 1
            sub = Subscription(agent)
            self._subs.setdefault(agent, set()).add(sub)
        self._ensure_running()
        return sub

    def close_stream(self, sub: Subscription) -> None:
        """Idempotent: called when the stream ends and again when the server closes the response."""
        with self._lock:
            if sub.closed:
                return
            sub.closed = True
            self._streams -= 1
            subs = self._subs.get(sub.agent)
            if subs:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.agent]

    @property
    def open_streams(self) -> int:
        return self._streams

    # --- the thread ------------------------------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self.last_id is None:  # before the stream's first read: an event after it always wakes the stream
            with self.db.session() as s:
                self.last_id = live.newest_event_id(s)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        if self.db.engine.dialect.name == "postgresql":
            threading.Thread(target=self._listen, name="live-hub-listen", daemon=True).start()
        while not self._stop.is_set():
            try:
                self._check()
            except Exception:  # the database is down or restarting: streams keep their place, try again
                log.warning("live hub: database unavailable, retrying", exc_info=True)
                self._stop.wait(1.0)
            self._changed.wait(self.poll_seconds)
            self._changed.clear()

    def _check(self) -> None:
        with self.db.session() as s:
            if self.last_id is None:
                self.last_id = live.newest_event_id(s)
                return
            new = live.new_events(s, self.last_id)
        if not new:
            return
        self.last_id = new[-1][0]
        agents = {agent for _, agent in new}
        with self._lock:
            woken = [sub for agent in agents for sub in self._subs.get(agent, ())]
        for sub in woken:
            sub.woken.set()

    def _listen(self) -> None:
        """PostgreSQL: LISTEN on a connection of its own and wake the poll loop when an event is announced."""
        import psycopg
        url = driver_url(self.db.url).replace("postgresql+psycopg://", "postgresql://", 1)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {live.CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._changed.set()
            except Exception as exc:
                log.warning("live hub: LISTEN connection lost (%s), polling until it is back", exc)
                self._stop.wait(1.0)
