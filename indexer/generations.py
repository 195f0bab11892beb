"""Index generations: build into a fresh directory, then switch the CURRENT pointer atomically."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from kb.generation import CHUNK_SHARDS, MANIFEST, POINTER, current_generation


def new_generation_dir(index_dir: Path) -> Path:
    """A new, empty directory whose name sorts after every earlier generation."""
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for n in range(1000):
        path = index_dir / f"gen-{stamp}-{time.time_ns() % 10**9:09d}-{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a generation directory in {index_dir}")


def write_shards(path_of, generation: Path, base: Path | None, changed: set[int], write) -> None:
    """Every shard of one kind of file (``path_of(generation, shard)``): those in ``changed``, or all of them without
    a base, written by ``write(shard, path)``; the others hard-linked from ``base`` (files are never modified, and a
    reader reuses what it read of the same inode)."""
    path_of(generation, 0).parent.mkdir()
    for shard in range(CHUNK_SHARDS):
        if base is not None and shard not in changed:
            os.link(path_of(base, shard), path_of(generation, shard))
        else:
            write(shard, path_of(generation, shard))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def activate(index_dir: Path, generation: Path) -> None:
    """Point CURRENT at ``generation`` (which must be complete: it has a manifest) in one atomic rename."""
    if not (generation / MANIFEST).is_file():
        raise RuntimeError(f"refusing to activate {generation}: it has no {MANIFEST} (incomplete build)")
    _fsync_dir(generation)
    tmp = index_dir / f".{POINTER}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(generation.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)


def prune(index_dir: Path, keep: int = 3, min_age_seconds: float = 60.0) -> list[Path]:
    """Remove old generations (and abandoned partial ones) except the current and the ``keep`` newest.

    Directories younger than ``min_age_seconds`` are left alone: they may be a build in progress or a generation a
    reader has just opened.
    """
    current = current_generation(index_dir)
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    keepers = set(generations[-keep:]) | ({current} if current else set())
    removed = []
    now = time.time()
    for path in generations:
        if path in keepers or now - path.stat().st_mtime < min_age_seconds:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


__all__ = ["new_generation_dir", "activate", "prune", "current_generation"]
