"""Publish → searchable: a background worker runs incremental index builds after publishes.

Editors publish in bursts (an import, a rollback right after a publish). Each publish calls
:meth:`IndexUpdater.request`; one worker thread waits a moment for the burst to settle and runs one incremental build
that covers every publish requested so far. The serving ``KnowledgeBase`` notices the new generation by itself, so
nothing restarts. Builds are serialised across processes by ``build_index``'s lock, so two server workers cannot
corrupt the index; at worst they build twice.

Whether a given published version is searchable yet is read from the generation the server is serving
(:func:`is_indexed`), not from this worker's memory, so any process can answer it.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable

from kb.articles import ANSWER_TYPES
from kb.config import Settings
from kb.db import Database

from .build import BuildReport, build_index

log = logging.getLogger(__name__)


class IndexUpdater:
    """One background thread; requests made while a build runs are covered by one more build after it."""

    def __init__(self, settings: Settings, db: Database, settle_seconds: float = 0.3,
                 build: Callable[..., BuildReport] = build_index):
        self.settings, self.db, self.settle_seconds, self._build = settings, db, settle_seconds, build
        self._cond = threading.Condition()
        self._requested = 0     # ticket of the newest request
        self._started = 0       # newest ticket a build has started for
        self._done = 0          # newest ticket a finished (successful or failed) build covered
        self._thread: threading.Thread | None = None
        self.running = False
        self.builds = 0
        self.last_error: str | None = None
        self.last_report: BuildReport | None = None

    def request(self) -> int:
        """Ask for an update covering everything published so far; returns a ticket for :meth:`wait`."""
        with self._cond:
            self._requested += 1
            ticket = self._requested
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="index-updater", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return ticket

    def wait(self, ticket: int, timeout: float) -> bool:
        """Block until a build that started after ``ticket`` was requested has finished (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._done < ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def status(self) -> dict:
        with self._cond:
            return {"pending": self._requested > self._started, "running": self.running, "builds": self.builds,
                    "error": self.last_error}

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._requested == self._started:
                    self._cond.wait()
            time.sleep(self.settle_seconds)  # let a burst of publishes arrive; they share one build
            with self._cond:
                target = self._started = self._requested
                self.running = True
            try:
                report = self._build(self.settings, self.db, incremental=True, stream=io.StringIO())
                error = None
                log.info("index update after publish: %s", report.summary())
            except Exception as exc:  # the worker must survive a failed build; the editor sees the error
                log.exception("index update after publish failed")
                report, error = None, f"{type(exc).__name__}: {exc}"
            with self._cond:
                self.running = False
                self.builds += 1
                self.last_error = error
                self.last_report = report or self.last_report
                self._done = target
                self._cond.notify_all()


def is_indexed(generation, article_id: str, article_type: str, version: int, content_hash: str) -> bool:
    """Is this published version what ``generation`` (a loaded ``kb.index.IndexGeneration``) serves?

    Answer articles are compared by content hash (a rollback can bring back content the index already has under an
    older version number); rules are rebuilt whole on every update and carry their version.
    """
    if article_type in ANSWER_TYPES:
        info = generation.manifest.get("articles", {}).get(article_id)
        return info is not None and info.get("hash") == content_hash
    return any(rule["id"] == article_id and rule.get("version") == version for rule in generation.rules)
