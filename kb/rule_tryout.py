"""「试一试」: which disclosure and escalation rules fire for one sentence, with an unpublished draft rule in place.

An editor changing a rule wants to see its effect before publishing. The published rules are matched as the live
engine matches them; the draft rule (replacing the published version of the same id, or added if it is new) fires on
its trigger phrases, or on meaning through a small classifier trained on the fly: the draft's examples (with its
title, aliases and triggers, as the index build does) against its counter-examples and every other rule's examples.

The signature of :func:`try_rules` and the keys of its result dicts are what the editor page relies on; the matching
inside may change with the rules engine.
"""
from __future__ import annotations

import numpy as np

from .articles import RULE_TYPES, Article
from .engine import KnowledgeBase
from .index import IndexGeneration
from .normalize import normalize
from .rules import SEMANTIC_MIN_CHARS, SEMANTIC_THRESHOLD, match_rules, rule_probabilities, train_rule_classifiers


def try_rules(kb: KnowledgeBase, text: str, draft: Article | None) -> list[dict]:
    """Every rule that fires for ``text``: ``{"id", "title", "type", "how", "reason", "score", "draft"}``, draft first.

    ``draft`` is an unpublished rule article (None, or an answer article, leaves the published rules alone).
    """
    normalized = normalize(kb.check_query(text))
    generation = kb.generation()
    vector = kb.query_cache.get(normalized) if normalized else None
    draft = draft if draft is not None and draft.type in RULE_TYPES else None
    results = []
    if draft is not None and normalized:
        fired = _draft_fires(kb, generation, draft, normalized, vector)
        if fired is not None:
            results.append(fired)
    for item in match_rules(generation, normalized, vector):
        if draft is not None and item.rule["id"] == draft.id:
            continue
        results.append({"id": item.rule["id"], "title": item.rule["title"], "type": item.rule["type"],
                        "how": item.how, "reason": item.reason, "score": round(item.score, 4), "draft": False})
    return results


def _draft_fires(kb: KnowledgeBase, generation: IndexGeneration, draft: Article, normalized: str,
                 vector: np.ndarray | None) -> dict | None:
    found = {"id": draft.id, "title": draft.title, "type": draft.type, "draft": True}
    for trigger in (normalize(t) for t in draft.triggers):
        if trigger and trigger in normalized:
            return {**found, "how": "trigger", "reason": f"提到「{trigger}」", "score": 1.0}
    if vector is None or len(normalized) < SEMANTIC_MIN_CHARS:
        return None
    positives = training_texts(draft)
    if not positives:
        return None
    positive_vectors = _embed(kb, positives)
    weights, bias = train_rule_classifiers(positive_vectors, np.zeros(len(positives), dtype=np.int64), 1,
                                           _negatives(kb, generation, draft))
    probability = float(rule_probabilities(weights, bias, vector)[0])
    if probability < SEMANTIC_THRESHOLD:
        return None
    closest = positives[int(np.argmax(positive_vectors @ vector))]
    return {**found, "how": "semantic", "reason": f"与示例「{closest}」意思相近（{probability:.2f}）",
            "score": round(probability, 4)}


def training_texts(rule: Article) -> list[str]:
    """The rule's positive examples as the index build collects them (normalised, duplicates dropped)."""
    texts = (normalize(t) for t in [*rule.examples, rule.title, *rule.aliases, *rule.triggers])
    return list(dict.fromkeys(t for t in texts if t))


def _negatives(kb: KnowledgeBase, generation: IndexGeneration, draft: Article) -> np.ndarray:
    """The draft's counter-examples and the live examples of every other rule (the draft's old ones left out)."""
    others = [index for index, rule in enumerate(generation.rules) if rule["id"] != draft.id]
    keep = np.isin(generation.rule_example_owner, others)
    vectors = [generation.rule_example_vectors[keep]]
    counter = list(dict.fromkeys(t for t in (normalize(c) for c in draft.counter_examples) if t))
    if counter:
        vectors.append(_embed(kb, counter))
    return np.vstack(vectors).astype(np.float32)


def _embed(kb: KnowledgeBase, texts: list[str]) -> np.ndarray:
    """Query-side embeddings (rule examples are embedded like queries), through the engine's LRU cache."""
    return np.vstack([kb.query_cache.get(t) for t in texts]).astype(np.float32)
