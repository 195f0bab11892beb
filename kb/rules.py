"""Disclosure and escalation rules: content articles that fire on trigger phrases, on meaning, or on a timer.

A rule fires when the normalised text contains one of its trigger phrases, when the text's embedding is close enough
to one of its example utterances (so 「稳赚不赔吗」 fires the non-guaranteed disclosure without saying 保本), or when
the customer's wait or the call has passed the rule's timer. Every fired rule says why.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import IndexGeneration

# Raw cosine similarity separates paraphrases from unrelated questions poorly (e5 scores crowd into 0.85-0.95), so
# each rule has a small linear classifier over query embeddings, trained at index time on the rule's examples
# against the other rules' examples and a background of the knowledge base's own titles, headings and aliases.
# The probability at which a rule fires was chosen on tests/queries (rule queries vs. everyday agent queries).
SEMANTIC_THRESHOLD = 0.7
BACKGROUND_LIMIT = 4000
# Texts shorter than this (characters, after normalisation) are too fragmentary for semantic matching.
SEMANTIC_MIN_CHARS = 4


@dataclass
class FiredRule:
    rule: dict
    reason: str
    how: str  # "trigger" | "semantic" | "timer"
    score: float = 1.0

    def as_dict(self) -> dict:
        rule = self.rule
        data = {"id": rule["id"], "title": rule["title"], "reason": self.reason, "how": self.how,
                "score": round(self.score, 4)}
        if rule["type"] == "disclosure":
            data["text"] = rule["say"]
        else:
            data["steps"] = list(rule["steps"])
        return data


def rule_probabilities(weights: np.ndarray, bias: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(weights @ vector + bias)))


def train_rule_classifiers(example_vectors: np.ndarray, example_owner: np.ndarray, rule_count: int,
                           background_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest logistic regression per rule (liblinear: deterministic, ~0.1 s a rule). Returns weights, bias."""
    from sklearn.linear_model import LogisticRegression

    dim = example_vectors.shape[1] if len(example_vectors) else background_vectors.shape[1]
    weights = np.zeros((rule_count, dim), dtype=np.float32)
    bias = np.full(rule_count, -20.0, dtype=np.float32)  # a rule without examples never fires semantically
    features = np.vstack([example_vectors, background_vectors]) if len(background_vectors) else example_vectors
    labels = np.concatenate([example_owner, np.full(len(background_vectors), -1)])
    for index in range(rule_count):
        target = (labels == index).astype(int)
        if target.sum() == 0 or target.sum() == len(target):
            continue
        model = LogisticRegression(C=4.0, solver="liblinear", max_iter=1000, class_weight="balanced")
        model.fit(features, target)
        weights[index], bias[index] = model.coef_[0], model.intercept_[0]
    return weights, bias


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} 分钟" + (f" {secs} 秒" if secs else "") if minutes else f"{secs} 秒"


def match_rules(generation: IndexGeneration, normalized_text: str, query_vector: np.ndarray | None,
                clocks: dict[str, float] | None = None, threshold: float = SEMANTIC_THRESHOLD) -> list[FiredRule]:
    """All rules that fire for this text and these clocks, strongest reason first (trigger, timer, semantic)."""
    fired: dict[str, FiredRule] = {}
    for rule in generation.rules:
        for trigger in rule["triggers_normalized"]:
            if trigger and trigger in normalized_text:
                fired[rule["id"]] = FiredRule(rule, f"提到「{trigger}」", "trigger")
                break
    for rule in generation.rules:
        timer = rule.get("timer")
        if rule["id"] in fired or not timer or not clocks:
            continue
        elapsed = clocks.get(timer["clock"])
        if elapsed is not None and elapsed >= timer["after_seconds"]:
            what = "客户已等待" if timer["clock"] == "wait" else "通话已持续"
            fired[rule["id"]] = FiredRule(
                rule, f"{what} {_format_seconds(elapsed)}（阈值 {_format_seconds(timer['after_seconds'])}）", "timer")
    if query_vector is not None and generation.rules and len(normalized_text) >= SEMANTIC_MIN_CHARS:
        probabilities = rule_probabilities(generation.rule_weights, generation.rule_bias, query_vector)
        sims = generation.rule_example_vectors @ query_vector
        for index, rule in enumerate(generation.rules):
            probability = float(probabilities[index])
            if rule["id"] in fired or probability < threshold:
                continue
            mask = generation.rule_example_owner == index
            best = int(np.where(mask, sims, -np.inf).argmax())
            example = rule["training_texts"][int(mask[:best].sum())]
            fired[rule["id"]] = FiredRule(rule, f"与示例「{example}」意思相近（{probability:.2f}）", "semantic",
                                          probability)
    order = {"trigger": 0, "timer": 1, "semantic": 2}
    return sorted(fired.values(), key=lambda f: (order[f.how], -f.score, f.rule["id"]))
