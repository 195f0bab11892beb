"""Progress lines on stderr for long jobs: done/total, rate and ETA, at most about once a second."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, stream=None, interval: float = 1.0, clock=time.monotonic):
        self.label, self.total, self.stream, self.interval, self.clock = label, total, stream or sys.stderr, interval, clock
        self.done = 0
        self.started = self._last = clock()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now if now is not None else self.clock()) - self.started, 1e-9)
        rate = self.done / elapsed
        remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{remaining:.0f}s" if remaining != float("inf") else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {rate:.1f}/s ETA {eta}"
