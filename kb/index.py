"""A loaded, read-only index generation, and a holder that swaps to the newest one without a restart."""
from __future__ import annotations

import gc
import json
import threading
import time
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import threadpool_limits
from whoosh import index as whoosh_index

from .generation import CHUNK_SHARDS, FORMAT, MANIFEST, article_vectors_path, current_generation, shard_path
from .keyword import build_query, select_terms, weighting

# One query at a time gains nothing from FAISS's OpenMP threads, and their spinning competes for the two cores with
# the embedding model's threads (bench/latency.py showed vector search 20x slower in the hybrid path with them).
faiss.omp_set_num_threads(1)
# The same for numpy's BLAS (the rules' products with their ~5 700 training vectors on every keystroke): the product
# with the 2 713 rule examples took 3.6 ms on two BLAS threads and 0.6 ms on one on the loaded 2-core machine, and a
# 19k-row product inside suggest 24 ms against 2.5 ms (retrieval branch, 50k chunks). The e5 engine's threads are
# OpenMP, not BLAS, and keep their count.
threadpool_limits(1, user_api="blas")

# Inverted lists scanned per query in large (IVF) indexes; bench/latency.py prints the recall against exact search.
IVF_NPROBE = 24


def load_shards(paths: list[Path], reusable: dict, read) -> dict[tuple[int, int], object]:
    """Each shard file's content, in order, keyed by (device, inode): a shard an update hard-linked from the previous
    generation is the same inode, so what was already read is reused instead of read again."""
    loaded = {}
    for path in paths:
        stat = path.stat()
        key = (stat.st_dev, stat.st_ino)
        loaded[key] = reusable[key] if key in reusable else read(path)
    return loaded


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


class ArticleVectors:
    """The article ranker's vectors (indexer/article_vectors.py): per article, its whole-text vector and its labels'
    vectors. Shards hard-linked from the previous generation (same inode) are reused, not read again."""

    def __init__(self, generation: Path, previous: "ArticleVectors | None" = None):
        self.shards = load_shards([article_vectors_path(generation, n) for n in range(CHUNK_SHARDS)],
                                  previous.shards if previous is not None else {}, _read_npz)
        self.where: dict[str, tuple[dict[str, np.ndarray], int]] = {}
        for arrays in self.shards.values():
            self.where.update((a, (arrays, i)) for i, a in enumerate(arrays["ids"].tolist()))

    def documents(self, articles: list[str]) -> np.ndarray:
        """The articles' whole-text vectors, one row each (float32)."""
        return np.vstack([self.where[a][0]["documents"][self.where[a][1]] for a in articles]).astype(np.float32)

    def labels(self, articles: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The articles' label vectors stacked (float32), and where each article's rows start."""
        parts = []
        for article in articles:
            arrays, row = self.where[article]
            start, end = arrays["label_offsets"][row], arrays["label_offsets"][row + 1]
            parts.append(arrays["labels"][start:end])
        starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])[:-1]])
        return np.vstack(parts).astype(np.float32), starts


class IndexGeneration:
    """Everything search needs from one generation, opened once and shared by all requests (searcher reuse)."""

    def __init__(self, path: Path, previous: "IndexGeneration | None" = None):
        self.path = Path(path)
        self.manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise IndexOutdated(f"the index in {self.path} has format {self.manifest.get('format')}, this version "
                                f"reads format {FORMAT}: rebuild it with `python -m indexer build`")
        self._shards = load_shards([shard_path(self.path, n) for n in range(CHUNK_SHARDS)],
                                   previous._shards if previous is not None else {},
                                   lambda p: json.loads(p.read_text(encoding="utf-8")))
        self.chunks: dict[int, dict] = {r["cid"]: r for records in self._shards.values() for r in records}
        self._whoosh = whoosh_index.open_dir(str(self.path / "keyword"))
        self._searcher = self._whoosh.searcher(weighting=weighting())
        self._search_lock = threading.Lock()
        self.dense = faiss.read_index(str(self.path / "dense.faiss"))
        if isinstance(self.dense, faiss.IndexIVF):
            self.dense.nprobe = IVF_NPROBE
        self.articles = ArticleVectors(self.path, previous.articles if previous is not None else None)
        rules = json.loads((self.path / "rules.json").read_text(encoding="utf-8"))
        self.rules: list[dict] = rules["rules"]
        self.rule_example_owner = np.asarray(rules["example_owner"], dtype=np.int64)
        self.rule_requires: dict[str, list[str]] = rules["requires"]
        self.rule_example_vectors = np.load(self.path / "rule_examples.npy")
        model = np.load(self.path / "rule_model.npz")
        self.rule_weights, self.rule_ngram_weights, self.rule_bias = \
            model["weights"], model["ngram_weights"], model["bias"]
        # every training text that is not a rule example (counter-examples, background), for the neighbour vote
        self.rule_neighbour_vectors = model["neighbour_vectors"] if "neighbour_vectors" in model.files else \
            np.zeros((0, self.rule_example_vectors.shape[1]), dtype=np.float32)

    @cached_property
    def rule_background(self) -> dict[str, np.ndarray]:
        """The background the rule classifiers were trained with (vectors, texts, weights): only the editor's
        「试一试」 needs it, to train a draft rule the same way, so it is read on first use."""
        with np.load(self.path / "rule_background.npz") as data:
            return {name: data[name] for name in data.files}

    @property
    def model_id(self) -> str:
        return self.manifest["model_id"]

    def keyword(self, terms: tuple[str, ...], limit: int) -> list[tuple[int, float]]:
        with self._search_lock:  # a Whoosh searcher is not safe to share between threads mid-query
            searcher = self._searcher
            selected = select_terms(terms, lambda t: searcher.doc_frequency("text", t))
            query = build_query(selected)
            if query is None:
                return []
            hits = searcher.search(query, limit=limit)
            return [(hit["cid"], float(hit.score)) for hit in hits]

    def vector(self, query_vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        if self.dense.ntotal == 0:
            return []
        scores, ids = self.dense.search(query_vector.reshape(1, -1).astype(np.float32), min(limit, self.dense.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def close(self) -> None:
        self._searcher.close()
        self._whoosh.close()


class IndexHolder:
    """Serves the current generation; checks the CURRENT pointer at most every ``check_interval`` seconds."""

    def __init__(self, index_dir: Path, check_interval: float = 0.5):
        self.index_dir = Path(index_dir)
        self.check_interval = check_interval
        self._generation: IndexGeneration | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> IndexGeneration:
        now = time.monotonic()
        if self._generation is None or now - self._checked >= self.check_interval:
            self.refresh()
        if self._generation is None:
            raise IndexMissing(f"no index in {self.index_dir}: run `python -m indexer build`")
        return self._generation

    def refresh(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            path = current_generation(self.index_dir)
            if path is None or (self._generation is not None and self._generation.path == path):
                return
            # The old generation is left open for requests still using it; it is dropped with its last reference.
            self._generation = IndexGeneration(path, previous=self._generation)
            # A generation is millions of long-lived objects (chunk records, the tokeniser's dictionary). Moving
            # them out of the collector's reach stops full collections from pausing requests for 100+ ms at 50k
            # chunks (bench/latency.py p99); a replaced generation's objects then stay until the process ends,
            # a bounded cost paid once per publish.
            gc.freeze()


class IndexMissing(RuntimeError):
    """No index the engine can serve (the message says what to run); the API answers 503."""


class IndexOutdated(IndexMissing):
    """The live generation was written by another version of the indexer."""
