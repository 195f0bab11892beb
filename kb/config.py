"""Configuration from environment variables, with working defaults (docs/interfaces.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EMBED_MODEL = "e5"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    embed_model: str
    embed_cache_path: Path

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        data_dir = Path(overrides.get("data_dir") or os.environ.get("KB_DATA_DIR") or "./var").resolve()
        database_url = (overrides.get("database_url") or os.environ.get("KB_DATABASE_URL")
                        or f"sqlite:///{data_dir / 'kb.sqlite'}")
        embed_model = overrides.get("embed_model") or os.environ.get("KB_EMBED_MODEL") or DEFAULT_EMBED_MODEL
        cache = overrides.get("embed_cache_path") or os.environ.get("KB_EMBED_CACHE") or data_dir / "embed-cache.sqlite"
        return cls(data_dir=data_dir, database_url=database_url, embed_model=embed_model,
                   embed_cache_path=Path(cache).resolve())

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.index_dir.mkdir(parents=True, exist_ok=True)


def driver_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs use psycopg 3 (SQLAlchemy would otherwise look for psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
