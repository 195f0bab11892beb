"""Shared helpers for benchmark scripts: a throwaway KB in a temp dir with a persistent embedding cache."""
from __future__ import annotations

import runpy
import shutil
import statistics
import tempfile
from pathlib import Path

from kb.config import Settings
from kb.db import Database

BENCH_DIR = Path(__file__).resolve().parent
SHARED = BENCH_DIR.parent.parent / "shared"
CACHE_DIR = BENCH_DIR / ".cache"
# The production server settings (`make run`); benchmarks start gunicorn with them and may override workers/threads.
GUNICORN_CONFIG = BENCH_DIR.parent / "webapp" / "gunicorn.conf.py"
GUNICORN = runpy.run_path(str(GUNICORN_CONFIG))


def temp_settings(name: str) -> Settings:
    """A fresh data dir whose embedding cache is kept between runs (bench/.cache, git-ignored)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"kb-bench-{name}-"))
    CACHE_DIR.mkdir(exist_ok=True)
    settings = Settings.from_env(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'kb.sqlite'}",
                                 embed_cache_path=str(CACHE_DIR / "embed-cache.sqlite"))
    settings.ensure_dirs()
    Database(settings.database_url).upgrade()
    return settings


def remove(settings: Settings) -> None:
    shutil.rmtree(settings.data_dir, ignore_errors=True)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
