"""The read-side facade: search and suggest over the live index generation with one shared encoder."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from .adherence import warm_references
from .config import Settings
from .encoders import Encoder, QueryCache, create_encoder
from .index import IndexGeneration, IndexHolder, IndexMissing
from .normalize import normalize, query_terms
from .rules import RuleSettings, linked_rules, match_rules, rule_probabilities
from .search import FusionParams, Hit, Timings, rank
from .snippets import highlight

MAX_QUERY_CHARS = 2000
MAX_RESULTS = 50
ANSWERS_PER_ARTICLE = 2


class QueryError(ValueError):
    """The query cannot be served as given (wrong type); the message says why."""


class QueryTooLong(QueryError):
    """The query is over MAX_QUERY_CHARS (the API answers 413)."""


class KnowledgeBase:
    def __init__(self, settings: Settings, encoder: Encoder | None = None, params: FusionParams | None = None):
        self.settings = settings
        self._encoder = encoder
        self.params = params or FusionParams()
        self.holder = IndexHolder(settings.index_dir)
        self._query_cache: QueryCache | None = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed")
        self.ready = False  # set by warm(): model and index loaded
        self.rule_settings = RuleSettings()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = create_encoder(self.settings.embed_model)
        return self._encoder

    @property
    def query_cache(self) -> QueryCache:
        if self._query_cache is None:
            self._query_cache = QueryCache(self.encoder)
        return self._query_cache

    def generation(self) -> IndexGeneration:
        generation = self.holder.get()
        if generation.model_id != self.encoder.model_id:
            raise RuntimeError(f"the index was built with {generation.model_id}, but the configured model is "
                               f"{self.encoder.model_id}: rebuild with `python -m indexer build`")
        return generation

    def warm(self, retry_seconds: float = 1.0) -> None:
        """Load the index and the model, embed one query and the adherence matcher's references (about ninety
        texts a live call's first agent line would otherwise wait for), so the first real request is fast.

        A node that joins with an empty data folder has no index until its follower has built one: warm-up waits
        for it (checking every ``retry_seconds``), so ``ready`` — what /healthz and a load balancer read — turns
        true once the node can answer, and never before."""
        while True:
            try:
                self.suggest("预热")
                break
            except IndexMissing:
                time.sleep(retry_seconds)
        warm_references(self)
        self.ready = True

    @staticmethod
    def check_query(text) -> str:
        if not isinstance(text, str):
            raise QueryError("text must be a string")
        if len(text) > MAX_QUERY_CHARS:
            raise QueryTooLong(f"text is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
        return text

    def _prepare(self, text, timings: Timings) -> tuple[str, tuple[str, ...]]:
        """Check, normalise and tokenise the query once for every stage that needs it."""
        text = self.check_query(text)
        started = time.perf_counter()
        normalized = normalize(text)
        terms = query_terms(normalized)
        timings.add("normalise", started)
        return normalized, terms

    def _vector_later(self, normalized: str, timings: Timings) -> Callable[[], np.ndarray | None]:
        """Start embedding the query in a worker thread and return a function that waits for it.

        The e5 engine releases the GIL, so the embedding (the slowest stage) runs while Whoosh searches; only the
        time still spent waiting afterwards is on the critical path (timed as "embed").
        """
        if not normalized:
            return lambda: None
        future = self._executor.submit(self.query_cache.get, normalized)

        def wait() -> np.ndarray:
            started = time.perf_counter()
            vector = future.result()
            timings.add("embed", started)
            return vector

        return wait

    def search(self, text: str, k: int = 5, mode: str = "hybrid", timings: Timings | None = None,
               per_article: int | None = ANSWERS_PER_ARTICLE) -> list[dict]:
        """Ranked answer chunks (docs/interfaces.md answer objects), at most ``per_article`` per article."""
        timings = timings or Timings()
        k = max(1, min(int(k), MAX_RESULTS))
        normalized, terms = self._prepare(text, timings)
        if not normalized:
            return []
        generation = self.generation()
        vector = self._vector_later(normalized, timings) if mode != "keyword" else (lambda: None)
        return self._answers(generation, terms, vector, mode, k, timings, per_article)

    def _answers(self, generation: IndexGeneration, terms, vector, mode: str, k: int, timings: Timings,
                 per_article: int | None) -> list[dict]:
        hits = rank(generation, terms, vector, mode, self.params, limit=max(k * 4, self.params.candidates),
                    timings=timings)
        started = time.perf_counter()
        answers, per = [], {}
        for hit in hits:
            record = hit.record(generation)
            if per_article and per.get(record["article_id"], 0) >= per_article:
                continue
            per[record["article_id"]] = per.get(record["article_id"], 0) + 1
            answers.append(self._answer(record, hit, terms))
            if len(answers) >= k:
                break
        timings.add("snippets", started)
        return answers

    @staticmethod
    def _answer(record: dict, hit: Hit, terms) -> dict:
        return {"article_id": record["article_id"], "title": record["title"], "type": record["type"],
                "heading": record["heading"], "snippet": highlight(record["plain"], terms), "text": record["markdown"],
                "score": round(hit.score, 4), "chunk_id": record["cid"], "html": record["html"],
                "scripts": record["scripts"], "version": record["version"]}

    def suggest(self, text: str, k: int = 5, wait_seconds: float | None = None, call_seconds: float | None = None,
                timings: Timings | None = None) -> dict:
        """Answers, disclosures and escalations for what the agent typed (the object in docs/interfaces.md)."""
        timings = timings or Timings()
        normalized, terms = self._prepare(text, timings)
        generation = self.generation()
        vector = self._vector_later(normalized, timings)
        answers = self._answers(generation, terms, vector, "hybrid", k, timings, ANSWERS_PER_ARTICLE) \
            if normalized else []
        started = time.perf_counter()
        clocks = {name: float(value) for name, value in (("wait", wait_seconds), ("call", call_seconds))
                  if value is not None}
        query_vector = vector()
        # one classifier pass serves both the semantic rules and the answer links' gate
        probabilities = rule_probabilities(generation, query_vector, normalized) \
            if query_vector is not None and generation.rules else None
        fired = match_rules(generation, normalized, query_vector, clocks, probabilities, self.rule_settings)
        fired += linked_rules(generation, answers, {f.rule["id"] for f in fired}, probabilities)
        timings.add("rules", started)
        return {"answers": answers,
                "disclosures": [f.as_dict() for f in fired if f.rule["type"] == "disclosure"],
                "escalations": [f.as_dict() for f in fired if f.rule["type"] == "escalation"]}
