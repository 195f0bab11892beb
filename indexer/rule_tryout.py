"""「试一试」: which disclosure and escalation rules fire for one sentence, with an unpublished draft rule in place.

An editor changing a rule wants to see its effect before publishing. The published rules are matched as the live
engine matches them; the draft rule (replacing the published version of the same id, or added if it is new) is
matched by its trigger phrases the same way, and by meaning through a classifier trained on the spot exactly as the
index build trains every rule (indexer/rule_training.py): the draft's positives against its counter-examples, the
other rules' positives and the background the live generation was trained with. Training one rule takes well under
a second, which is fine for a button, not for the keystroke path.

The signature of :func:`try_rules` and the keys of its result dicts are what the editor page relies on.
"""
from __future__ import annotations

import io

import numpy as np

from kb.articles import RULE_TYPES, Article
from kb.engine import KnowledgeBase
from kb.index import IndexGeneration
from kb.normalize import normalize
from kb.rules import (
    SEMANTIC_MIN_CHARS,
    classifier_probabilities,
    match_rules,
    neighbour_votes,
)
from kb.triggers import match_triggers

from .rule_training import positive_texts, rule_record, train_rule_classifiers, training_rows


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
    for item in match_rules(generation, normalized, vector, settings=kb.rule_settings):
        if draft is not None and item.rule["id"] == draft.id:
            continue
        results.append({"id": item.rule["id"], "title": item.rule["title"], "type": item.rule["type"],
                        "how": item.how, "reason": item.reason, "score": round(item.score, 4), "draft": False})
    return results


def _draft_fires(kb: KnowledgeBase, generation: IndexGeneration, draft: Article, normalized: str,
                 vector: np.ndarray | None) -> dict | None:
    found = {"id": draft.id, "title": draft.title, "type": draft.type, "draft": True}
    match = match_triggers(tuple(normalize(t) for t in draft.triggers), normalized,
                           respect_negation=draft.type == "escalation")
    by_trigger = {**found, "how": "trigger", "reason": match.reason(), "score": 1.0} if match is not None else None
    record = rule_record(0, draft)
    positives = positive_texts(record)
    no_veto = by_trigger is not None and kb.rule_settings.trigger_counts(draft.type, 0.0)
    if no_veto or vector is None or len(normalized) < SEMANTIC_MIN_CHARS or not positives:
        return by_trigger
    model, positive_vectors = _train_draft(kb, generation, positives, record["counter_examples"], draft.id)
    probability = float(classifier_probabilities(model["weights"], model["ngram_weights"], model["bias"], vector,
                                                 normalized)[0])
    if by_trigger and kb.rule_settings.trigger_counts(draft.type, probability):  # as match_rules decides
        return by_trigger
    positive_sims = positive_vectors @ vector
    others = generation.rule_example_vectors[generation.rule_example_owner != _published_index(generation, draft.id)]
    votes = neighbour_votes(positive_sims, np.zeros(len(positives), dtype=np.int64),
                            np.concatenate([others @ vector, generation.rule_neighbour_vectors @ vector]), 1)[0]
    if not kb.rule_settings.semantic_fires(draft.type, probability, votes):
        return None
    closest = positives[int(np.argmax(positive_sims))]
    return {**found, "how": "semantic", "reason": f"与示例「{closest}」意思相近（{probability:.2f}）",
            "score": round(probability, 4)}


def _published_index(generation: IndexGeneration, rule_id: str) -> int:
    """The published version's row in the generation's rules (-2, which owns nothing, for a new rule)."""
    return next((index for index, rule in enumerate(generation.rules) if rule["id"] == rule_id), -2)


def _train_draft(kb: KnowledgeBase, generation: IndexGeneration, positives: list[str], counter_examples: list[str],
                 draft_id: str) -> tuple[dict, np.ndarray]:
    """The draft's classifier, trained on the same rows as the live generation's (the draft's old version out)."""
    counter = list(dict.fromkeys(t for t in (normalize(c) for c in counter_examples) if t))
    embedded = _embed(kb, positives + counter)
    positive_vectors, counter_vectors = embedded[:len(positives)], embedded[len(positives):]
    others = [index for index, rule in enumerate(generation.rules) if rule["id"] != draft_id]
    keep = np.isin(generation.rule_example_owner, others)
    other_texts = [t for index in others for t in generation.rules[index]["training_texts"]]
    background = generation.rule_background
    # the other rules' positives are ordinary negatives of the draft (owner -1), as in a build
    rows = training_rows(positives + other_texts, [0] * len(positives) + [-1] * len(other_texts),
                         np.vstack([positive_vectors, generation.rule_example_vectors[keep]]),
                         [(0, t) for t in counter], counter_vectors, list(background["texts"]),
                         background["vectors"], background["weights"])
    return train_rule_classifiers(*rows, 1), positive_vectors


def _embed(kb: KnowledgeBase, texts: list[str]) -> np.ndarray:
    """Embeddings through the build's cache: a draft's unchanged examples were embedded when it was published."""
    from .build import Embedder
    from .embed_cache import EmbeddingCache

    cache = EmbeddingCache(kb.settings.embed_cache_path)
    try:
        return Embedder(kb.encoder, cache, stream=io.StringIO()).embed(texts, "query", "draft rule")
    finally:
        cache.close()
