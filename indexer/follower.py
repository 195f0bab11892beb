"""Index follower: keeps this node's index in step with a database that other nodes publish to.

Every publish adds an event to ``publish_events`` (the publish queue, ``kb/announce.py``) whose ids grow in commit
order. Each generation's manifest records the newest event it covers: that is this node's high-water mark, kept in
its own data folder and replaced atomically with the generation. The follower compares it with the database's
newest event and asks the node's :class:`~indexer.publish.IndexUpdater` for an incremental build when the index is
behind. It looks when PostgreSQL's ``NOTIFY kb_publish`` arrives (sent by the publishing transaction at commit) and,
heard or not, every ``poll_seconds``: the fallback for a notification lost while the database restarted, and the
whole mechanism on SQLite (one node, several workers).

Nothing the follower or the updater keeps in memory has to survive: a node that was down, or killed in the middle of
a build (whose unfinished generation is never activated), still has the old mark and catches up when it starts.
Builds are serialised per data folder by the build lock, so two workers cost at most one extra build.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from kb import announce
from kb.config import driver_url
from kb.db import Database
from kb.generation import FORMAT, MANIFEST, current_generation

log = logging.getLogger(__name__)


def latest_event(db: Database) -> int:
    """The database's newest publish event, read in a session of its own."""
    with db.session() as s:
        return announce.latest_event(s)


def indexed_event(index_dir: Path) -> int:
    """The newest publish event the live generation covers; -1 without a usable one (none yet, another format, or
    built before the publish queue existed), which any database is ahead of."""
    generation = current_generation(index_dir)
    if generation is None:
        return -1
    try:
        manifest = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return -1
    if manifest.get("format") != FORMAT:
        return -1
    return int(manifest.get("publish_event", -1))


class IndexFollower:
    """One thread per serving process. ``request_update`` is the node's ``IndexUpdater.request``; ``seen`` is the
    newest event read from the database, ``requested`` the newest one a build was asked for, and ``notifications``
    counts what LISTEN heard. A build that did not bring the index up to date (it failed) is asked for again after
    ``retry_seconds``, unless ``busy()`` says a build is still queued or running."""

    def __init__(self, db: Database, request_update, index_dir: Path, poll_seconds: float = 2.0,
                 retry_seconds: float = 30.0, busy=lambda: False):
        self.db, self.request_update, self.index_dir, self.busy = db, request_update, Path(index_dir), busy
        self.poll_seconds, self.retry_seconds = poll_seconds, retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen: int | None = None
        self.requested = -1
        self._requested_at = 0.0
        self.notifications = 0

    def start(self) -> "IndexFollower":
        self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.poll_seconds + 5)

    def _run(self) -> None:
        listening = self.db.engine.dialect.name == "postgresql"
        while not self._stop.is_set():
            try:
                if listening:
                    self._listen()
                else:
                    self._check()
                    self._stop.wait(self.poll_seconds)
            except Exception:  # the database is down or restarting: keep polling until it is back
                log.warning("index follower: database unavailable, retrying", exc_info=True)
                self._stop.wait(self.poll_seconds)

    def _check(self) -> None:
        """Ask for a build when the live generation is behind the database's newest event (once per new event,
        again after ``retry_seconds`` if it is still behind)."""
        self.seen = latest = latest_event(self.db)
        if indexed_event(self.index_dir) >= latest:
            return
        now = time.monotonic()
        if latest > self.requested or (now - self._requested_at >= self.retry_seconds and not self.busy()):
            self.requested, self._requested_at = latest, now
            self.request_update()

    def _listen(self) -> None:
        import psycopg
        url = driver_url(self.db.url).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(self.poll_seconds))) as conn:
            conn.execute(f"LISTEN {announce.CHANNEL}")
            self._check()  # anything published before LISTEN took effect (or while this node was down)
            while not self._stop.is_set():
                heard = list(conn.notifies(timeout=self.poll_seconds, stop_after=1))
                self.notifications += len(heard)
                self._check()  # a notification arrives after its commit: the new event is visible now
