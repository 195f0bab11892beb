"""Suggest requests are logged off the request path: queued, then written in batches by one thread."""
from __future__ import annotations

import logging
import queue
import threading

from kb.db import Database
from kb.models import SuggestLog
from kb.normalize import normalize

log = logging.getLogger(__name__)


class QueryLog:
    def __init__(self, db: Database, flush_interval: float = 1.0):
        self.db, self.flush_interval = db, flush_interval
        self._queue: queue.Queue = queue.Queue(maxsize=10000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, user: str, text: str, result: dict) -> None:
        answers = result.get("answers") or []
        entry = dict(user=user, text=text[:2000], normalized=normalize(text)[:2000], result_count=len(answers),
                     top_score=answers[0]["score"] if answers else 0.0,
                     top_article_id=answers[0]["article_id"] if answers else None)
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            return  # under overload the log is the thing to drop, never the agent's answer
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="querylog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            try:
                while len(batch) < 500:
                    batch.append(self._queue.get(timeout=self.flush_interval if len(batch) == 1 else 0.05))
            except queue.Empty:
                pass
            self._write(batch)

    def _write(self, batch: list[dict]) -> None:
        try:
            with self.db.session() as s:
                s.add_all(SuggestLog(**entry) for entry in batch)
        except Exception:  # the database is away: this batch of the log is lost, the writer lives on
            log.warning("query log: %d entries not written", len(batch), exc_info=True)
        finally:
            for _ in batch:
                self._queue.task_done()

    def flush(self) -> None:
        """Block until everything queued so far is written (tests, shutdown)."""
        self._queue.join()
