"""Index follower: keeps this node's index in step with a database that other nodes publish to.

Every publish is announced: on PostgreSQL with ``NOTIFY kb_publish`` inside the publishing transaction (delivered
when it commits, never for a rolled-back one). Each serving process runs one follower thread that LISTENs on a
connection of its own and, heard or not, compares a cheap watermark of the published content every
``poll_seconds``: the fallback for a notification lost while the database restarted, and the whole mechanism on
SQLite (one node, several workers). A change asks the node's :class:`~indexer.publish.IndexUpdater` for an
incremental build; builds are serialised per data folder by the build lock, so two workers cost at most one extra
build. On start the follower asks for one build, so a node that was down (or killed mid-build) catches up.
"""
from __future__ import annotations

import logging
import threading

from kb import announce
from kb.config import driver_url
from kb.db import Database

log = logging.getLogger(__name__)


def watermark(db: Database) -> tuple:
    """The published content's watermark (``kb.announce.watermark``) read in a session of its own."""
    with db.session() as s:
        return announce.watermark(s)


class IndexFollower:
    """One thread per serving process. ``request_update`` is the node's ``IndexUpdater.request``; ``seen`` is the
    last watermark acted on and ``notifications`` counts what LISTEN heard."""

    def __init__(self, db: Database, request_update, poll_seconds: float = 2.0):
        self.db, self.request_update, self.poll_seconds = db, request_update, poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen: tuple | None = None
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
        self.request_update()  # catch up with whatever was published while this node was down
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
        current = watermark(self.db)
        if current != self.seen:
            if self.seen is not None:
                self.request_update()
            self.seen = current

    def _listen(self) -> None:
        import psycopg
        url = driver_url(self.db.url).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(self.poll_seconds))) as conn:
            conn.execute(f"LISTEN {announce.CHANNEL}")
            self._check()  # anything published before LISTEN took effect
            while not self._stop.is_set():
                heard = list(conn.notifies(timeout=self.poll_seconds, stop_after=1))
                if heard:
                    self.notifications += len(heard)
                    self.seen = None  # force the update even if the watermark was read before the commit
                    self.request_update()
                    self.seen = watermark(self.db)
                else:
                    self._check()
