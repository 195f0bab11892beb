"""Files only the service account may read (the session key, generated passwords), private from the first byte.

Writing first and chmod-ing after leaves a moment in which another user can open the file. Here the content goes
into a temporary file created with mode 600 and is then moved (or linked) into place, so the path never shows a
readable or half-written file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str, *, replace: bool = True) -> bool:
    """Write ``text`` to ``path`` with mode 600. With ``replace=False`` an existing file wins (two workers racing to
    create the same key both end up reading the first one); returns whether this call wrote the file."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates with mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)  # atomic and fails if the path exists
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
