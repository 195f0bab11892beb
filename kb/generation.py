"""Reading the index generation that is live: ``$KB_DATA_DIR/index/CURRENT`` names a complete generation directory.

The indexer writes a whole generation, then replaces CURRENT atomically (``os.replace``), so a reader sees either the
old or the new generation, never a half-written one.
"""
from __future__ import annotations

import zlib
from pathlib import Path

POINTER = "CURRENT"
MANIFEST = "manifest.json"
# The layout of a generation. The indexer writes it into the manifest and rebuilds fully when the live generation has
# another; a reader refuses other formats with a clear message instead of failing on a missing file.
FORMAT = 9


def current_generation(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = Path(index_dir) / name
    return path if (path / MANIFEST).is_file() else None


CHUNK_SHARDS = 64


def chunk_shard(article_id: str) -> int:
    """Chunks are stored in shards by article, so an update rewrites only the shards it touches and hard-links
    the rest from the previous generation (and a reader reuses what it already parsed: same file, same inode)."""
    return zlib.crc32(article_id.encode("utf-8")) % CHUNK_SHARDS


def shard_path(generation: Path, shard: int) -> Path:
    return Path(generation) / "chunks" / f"{shard:02d}.json"


def article_vectors_path(generation: Path, shard: int) -> Path:
    """The article ranker's vectors (indexer/article_vectors.py), sharded by article like the chunk records."""
    return Path(generation) / "articles" / f"{shard:02d}.npz"
