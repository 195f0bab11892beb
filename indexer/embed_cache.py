"""Passage embeddings cached by (model id, content hash), so a rebuild embeds only the text that changed."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS embeddings (model TEXT, key TEXT, dim INTEGER, vector BLOB, "
                           "PRIMARY KEY (model, key))")
        self._lock = threading.Lock()

    def get_many(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(f"SELECT key, vector FROM embeddings WHERE model=? AND key IN ({marks})",
                                          [model, *batch])
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, key, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, key, int(vec.shape[0]), np.asarray(vec, dtype=np.float32).tobytes())
                 for key, vec in items.items()])

    def close(self) -> None:
        self._conn.close()
