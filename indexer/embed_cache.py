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


class SharedEmbeddingCache:
    """This node's cache file in front of the database's ``embeddings`` table, which every node shares.

    Read-through: what the file lacks comes from the database (and is kept in the file); what neither has is
    embedded by the caller and stored in both. With ``share_local``, vectors the file has but the database lacks (a
    node that embedded them before the table existed) are uploaded, so a node joining later embeds nothing that any
    node already did; builds ask for it when they start from nothing or from a generation older than the table,
    not on every update (it costs a look-up of every key the file answered).
    Two nodes storing the same text race harmlessly: the primary key keeps one row (``ON CONFLICT DO NOTHING``).
    """

    BATCH = 500

    def __init__(self, local: EmbeddingCache, engine, share_local: bool = True):
        from kb.models import SharedEmbedding
        self.local, self.engine, self.share_local = local, engine, share_local
        self.table = SharedEmbedding.__table__
        self.fetched = self.uploaded = 0

    def get_many(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        found = self.local.get_many(model, keys)
        missing = [k for k in keys if k not in found]
        shared = self._fetch(model, missing)
        if shared:
            self.local.put_many(model, shared)
            found.update(shared)
            self.fetched += len(shared)
        if self.share_local:
            local_only = {k: found[k] for k in self._absent(model, [k for k in keys if k not in shared and k in found])}
            self._store(model, local_only)
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        self._store(model, items)
        self.local.put_many(model, items)

    def close(self) -> None:
        self.local.close()

    def _fetch(self, model: str, keys: list[str]) -> dict[str, np.ndarray]:
        from sqlalchemy import select
        t, found = self.table, {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), self.BATCH):
                rows = conn.execute(select(t.c.text_key, t.c.vector).where(
                    t.c.model_id == model, t.c.text_key.in_(keys[start:start + self.BATCH])))
                for key, blob in rows:
                    found[key] = np.frombuffer(bytes(blob), dtype=np.float32)
        return found

    def _absent(self, model: str, keys: list[str]) -> list[str]:
        from sqlalchemy import select
        t, present = self.table, set()
        with self.engine.connect() as conn:
            for start in range(0, len(keys), self.BATCH):
                present.update(conn.scalars(select(t.c.text_key).where(
                    t.c.model_id == model, t.c.text_key.in_(keys[start:start + self.BATCH]))))
        return [k for k in keys if k not in present]

    def _store(self, model: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        rows = [{"model_id": model, "text_key": key, "dim": int(vec.shape[0]),
                 "vector": np.asarray(vec, dtype=np.float32).tobytes()} for key, vec in items.items()]
        statement = insert(self.table).on_conflict_do_nothing()
        with self.engine.begin() as conn:
            for start in range(0, len(rows), self.BATCH):
                conn.execute(statement, rows[start:start + self.BATCH])
        self.uploaded += len(rows)


def open_cache(settings, db, share_local: bool = True) -> SharedEmbeddingCache:
    """The embedding cache a build uses: the node's file (``KB_EMBED_CACHE``) in front of the shared table."""
    return SharedEmbeddingCache(EmbeddingCache(settings.embed_cache_path), db.engine, share_local)
