"""The encoder interface: queries and passages may be embedded differently (e5's prefixes), vectors are unit length."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class Encoder:
    """Turns text into L2-normalised float32 vectors. ``model_id`` names the model in caches."""

    model_id: str = ""
    dim: int = 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class QueryCache:
    """Thread-safe LRU of query embeddings: agents retype the same prefixes, embedding is the slow stage."""

    def __init__(self, encoder: Encoder, size: int = 4096):
        self.encoder, self.size = encoder, size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._items.get(text)
            if vector is not None:
                self._items.move_to_end(text)
                self.hits += 1
                return vector
        vector = self.encoder.encode_queries([text])[0]
        with self._lock:
            self.misses += 1
            self._items[text] = vector
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector

    def get_many(self, texts: list[str]) -> np.ndarray:
        """``get`` for several texts, the missing ones embedded in one batch."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._items))
        if missing:
            vectors = self.encoder.encode_queries(missing)
            with self._lock:
                self.misses += len(missing)
                for text, vector in zip(missing, vectors):
                    self._items[text] = vector
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        with self._lock:
            self.hits += len(texts) - len(missing)
            found = [self._items.get(t) for t in texts]
        # an item evicted between the two locks (a full cache under load) is embedded again
        return np.stack([v if v is not None else self.get(t) for v, t in zip(found, texts)])

    def prime(self, texts: list[str], vectors: np.ndarray) -> None:
        """Put vectors computed elsewhere (benchmarks read them from the persistent embedding cache)."""
        with self._lock:
            for text, vector in zip(texts, vectors):
                self._items[text] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
