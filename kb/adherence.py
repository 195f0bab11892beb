"""Did the agent say a required disclosure? Matching an agent's (or the speech recogniser's) line to a rule's `say`.

Agents paraphrase the `say` text, spread it over two sentences, shorten it, say it colloquially; a recogniser's
transcript has no punctuation and homophone slips. A near-miss must not tick: the opposite (「这个是保本的」), the
topic without the obligation (「理财收益挺好的」), a question to the customer, a negation. So a line says a
disclosure when, in its statements (questions dropped),
- its meaning is close to the `say` text, one of its clauses or one of the rule's `said_examples` (e5 similarity of
  single sentences and of two adjacent sentences), and
- it states the rule's key facts (`said_facts`: each fact a set of alternative phrases, matched like trigger
  phrases: with words in between and by sound, not right after a negation), and
- it says none of the rule's contradictions (`said_not`: 「保本」「稳赚」 … unless negated: 「不保本」 is fine).
The weights and the threshold were chosen on the tuning split of bench/adherence_eval (``python bench/adherence.py
--split tuning --sweep``), never on the test split the figures come from.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .normalize import normalize
from .triggers import Trigger, negated, syllables_of

# Cosine similarities of e5 crowd into 0.75-0.95; this range is stretched onto [0, 1].
SIM_FLOOR, SIM_CEIL = 0.80, 0.95
# How much the meaning counts against the key facts (when the rule names facts).
SIM_WEIGHT = 0.5
# A disclosure is said at or above this score.
SAID_THRESHOLD = 0.5
# Sentences: split at sentence ends (and at line breaks); clauses of the `say` text at any punctuation.
_CLAUSE_END = re.compile(r"[，,。！？!?；;：:\n]+")
_QUESTION_END = re.compile(r"(?:[?？]|[吗么嘛呢][\s，,。.!！~～]*)$")
MIN_CLAUSE_CHARS = 4


@dataclass
class SaidDisclosure:
    rule_id: str
    score: float   # in [0, 1]; at or above SAID_THRESHOLD it counts as said
    text: str      # the part of the utterance that said it


_SENTENCE = re.compile(r"([^。！？!?；;\n]+)([。！？!?；;\n]*)")


def is_question(sentence: str, end: str = "") -> bool:
    """A question to the customer (「您做过风险测评吗」) asks about the obligation rather than fulfilling it."""
    return bool(_QUESTION_END.search(sentence + end[:1]))


def statements(normalized: str) -> list[str]:
    """The utterance's sentences that are not questions (the punctuation that ended each one decides too); a
    transcript without punctuation is one sentence."""
    out = []
    for match in _SENTENCE.finditer(normalized):
        sentence = match.group(1).strip(" ，,、")
        if sentence and not is_question(sentence, match.group(2)):
            out.append(sentence)
    return out


def windows(parts: list[str]) -> list[str]:
    """Each statement and each two adjacent statements joined: agents split a disclosure over two sentences."""
    out = list(parts)
    out += [f"{a}，{b}" for a, b in zip(parts, parts[1:])]
    return out


def references(rule: dict) -> list[str]:
    """What a rule's disclosure sounds like: the `say` text, its clauses and the rule's `said_examples`."""
    say = normalize(rule.get("say") or "")
    clauses = [c for c in (c.strip() for c in _CLAUSE_END.split(say)) if len(c) >= MIN_CLAUSE_CHARS]
    refs = [say, *clauses, *(normalize(t) for t in rule.get("said_examples") or [])]
    return [r for r in dict.fromkeys(refs) if r]


@dataclass(frozen=True)
class Fact:
    """One key fact of a disclosure: any of its phrases, stated (not negated)."""
    phrases: tuple[Trigger, ...]

    def stated(self, text: str) -> bool:
        syllables = syllables_of(text)
        for trigger in self.phrases:
            found = trigger.find(text, syllables)
            if found is not None and not _negated_fact(text, found[0], trigger.phrase):
                return True
        return False


def _negated_fact(text: str, start: int, phrase: str) -> bool:
    """A fact is cancelled by a negation right before it (「不需要测评」), except when the phrase is itself a
    negation and the text only repeats it (「不保本」 inside 「不保本」)."""
    return negated(text, start)


def facts_of(rule: dict) -> list[Fact]:
    """The rule's `said_facts`: each entry a phrase or several alternatives separated by 「|」."""
    facts = []
    for entry in rule.get("said_facts") or []:
        phrases = tuple(Trigger(normalize(p)) for p in str(entry).split("|") if p.strip())
        if phrases:
            facts.append(Fact(phrases))
    return facts


def contradicts(rule: dict, text: str) -> bool:
    """The text says the opposite of the disclosure (「保本」 not negated, 「稳赚」)."""
    syllables = syllables_of(text)
    for phrase in rule.get("said_not") or []:
        trigger = Trigger(normalize(phrase))
        found = trigger.find(text, syllables)
        if found is not None and not negated(text, found[0]):
            return True
    return False


class _ReferenceVectors:
    """Embeddings of the rules' reference texts, per model (few: a dozen per rule), computed once."""

    def __init__(self):
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, encoder, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if (encoder.model_id, t) not in self._vectors]
        if missing:
            vectors = encoder.encode_queries(missing)
            with self._lock:
                for text, vector in zip(missing, vectors):
                    self._vectors[(encoder.model_id, text)] = vector
        return np.stack([self._vectors[(encoder.model_id, t)] for t in texts])


_REFERENCES = _ReferenceVectors()


def _stretch(similarity: float) -> float:
    return float(min(1.0, max(0.0, (similarity - SIM_FLOOR) / (SIM_CEIL - SIM_FLOOR))))


def score_rule(kb, rule: dict, parts: list[str], part_vectors: np.ndarray) -> tuple[float, str]:
    """The rule's score for these statements and the part of the utterance that earned it."""
    if not parts:
        return 0.0, ""
    refs = references(rule)
    sims = part_vectors @ _REFERENCES.get(kb.encoder, refs).T
    best = sims.max(axis=1)
    facts = facts_of(rule)
    best_score, best_text = 0.0, ""
    for index, text in enumerate(parts):
        if contradicts(rule, text):
            continue
        meaning = _stretch(float(best[index]))
        if facts:
            coverage = sum(f.stated(text) for f in facts) / len(facts)
            score = SIM_WEIGHT * meaning + (1 - SIM_WEIGHT) * coverage
        else:
            score = meaning
        if score > best_score:
            best_score, best_text = score, text
    return round(best_score, 4), best_text


def score_said(kb, utterance: str, rule_ids: Iterable[str]) -> list[SaidDisclosure]:
    """Every disclosure among ``rule_ids`` with its score (said or not), best first."""
    wanted = set(rule_ids)
    rules = [r for r in kb.generation().rules if r["id"] in wanted and r["type"] == "disclosure"]
    normalized = normalize(kb.check_query(utterance))
    parts = windows(statements(normalized))
    if not rules or not parts:
        return []
    vectors = np.stack([kb.query_cache.get(p) for p in parts])
    scored = [SaidDisclosure(rule["id"], *score_rule(kb, rule, parts, vectors)) for rule in rules]
    return sorted(scored, key=lambda s: (-s.score, s.rule_id))


def match_said(kb, utterance: str, rule_ids: Iterable[str]) -> list[SaidDisclosure]:
    """The disclosures among ``rule_ids`` that the agent's ``utterance`` says, best first, each with its score.

    ``kb`` is a :class:`kb.engine.KnowledgeBase`; ``rule_ids`` are the disclosures required so far in the call (an
    unknown id or an escalation id is ignored).
    """
    return [s for s in score_said(kb, utterance, rule_ids) if s.score >= SAID_THRESHOLD]
