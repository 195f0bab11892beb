"""Reading the index generation that is live: ``$KB_DATA_DIR/index/CURRENT`` names a complete generation directory.

The indexer writes a whole generation, then replaces CURRENT atomically (``os.replace``), so a reader sees either the
old or the new generation, never a half-written one.
"""
from __future__ import annotations

from pathlib import Path

POINTER = "CURRENT"
MANIFEST = "manifest.json"


def current_generation(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = Path(index_dir) / name
    return path if (path / MANIFEST).is_file() else None
