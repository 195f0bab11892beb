"""Did the agent say a required disclosure? Matching an agent's (or the speech recogniser's) line to a rule's `say`.

Agents paraphrase the `say` text, spread it over two sentences, shorten it, say it colloquially; a recogniser's
transcript has no punctuation and homophone slips. A near-miss must not tick: the opposite (「这个是保本的」), the
topic without the obligation (「理财收益挺好的」), a question to the customer, a negation. So a line says a
disclosure when, in its statements (questions dropped),
- its meaning is close to the `say` text, one of its clauses or one of the rule's `said_examples` (e5 similarity of
  single sentences and of two or three adjacent sentences), and
- it states the rule's key facts (`said_facts`: each fact a set of alternative phrases, matched like trigger
  phrases: with words in between and by sound, not right after a negation; 「不要…密码」 spans a phrase between its
  parts, 「#」 stands for a number), every one marked required (「+」: the loss after the cooling-off period, not
  only the refund within it), and
- the whole line says none of the rule's `said_not` phrases: the opposite (「保本」「稳赚」 … unless negated: 「不保本」
  is fine, and so is 「请不要在电话里告诉我密码」, a prohibition earlier in the clause) or another product's words
  (「基金」 for the wealth-product disclosure, 「理财」 for the fund-risk one), wherever they stand: a line that names
  the wealth product in its first sentence is about it in its second too.
The weights and the threshold were chosen on the tuning split of bench/adherence_eval (``python bench/adherence.py
--split tuning --sweep``), never on the blind split the figures come from.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np

from .normalize import normalize
from .triggers import Trigger, TriggerMatch, compile_triggers, syllables_of

# Cosine similarities of e5 crowd into 0.75-0.95; this range is stretched onto [0, 1].
SIM_FLOOR, SIM_CEIL = 0.75, 0.95
# How much the meaning counts against the key facts (when the rule names facts). Chosen on the tuning split by
# bench/adherence.py --sweep once the rules' said_facts covered how agents state each fact (0.6 before): e5 puts a
# line on the topic alone as close to the `say` text as the disclosure, so the key facts carry most of the score.
SIM_WEIGHT = 0.3
# A disclosure is said at or above this score. Chosen on the tuning split by --sweep with SIM_WEIGHT (0.7 before):
# a window needs all of a rule's key facts, or two of three with a meaning close to the rule's references (tuning
# precision 1.000, recall 0.994; tuning+test 0.993, 0.996).
SAID_THRESHOLD = 0.75
# See MatchParams.rival_margin. Chosen on the tuning split by --sweep (the widest margin of the tied grid points):
# 1.0, a window that says two disclosures is credited to both (0.0 before, chosen after 7573bbd when the key facts
# were narrower; with the wider said_facts the widest margin is among the tied points on tuning).
RIVAL_MARGIN = 1.0
# See MatchParams.min_coverage. The sweep's choice with the weights above: 0.0 (with SIM_WEIGHT 0.3 and the
# threshold 0.75, a window stating half of a rule's facts or less cannot reach the threshold anyway).
MIN_COVERAGE = 0.0
# Sentences: split at sentence ends (and at line breaks); clauses of the `say` text at any punctuation.
_CLAUSE_END = re.compile(r"[，,。！？!?；;：:\n]+")
_QUESTION_END = re.compile(r"(?:[?？]|[吗么嘛呢][\s，,。.!！~～]*)$")
MIN_CLAUSE_CHARS = 4
# The longest run of adjacent statements read as one window (see windows()).
WINDOW_STATEMENTS = 3


@dataclass
class SaidDisclosure:
    rule_id: str
    score: float   # in [0, 1]; at or above SAID_THRESHOLD it counts as said
    text: str      # the part of the utterance that said it


_SENTENCE = re.compile(r"([^。！？!?；;\n]+)([。！？!?；;\n]*)")


def is_question(sentence: str, end: str = "") -> bool:
    """A question to the customer (「您做过风险测评吗」) asks about the obligation rather than fulfilling it."""
    return bool(_QUESTION_END.search(sentence + end[:1]))


# An agent skipping a topic names it first and declines after it (「测评的事今天就不说了」「收费回头再说」): the clause
# says the topic without the obligation. Only verbs of the agent explaining: 「不用说」 is also how agents tell the
# customer not to say a password, so it is not here.
_SKIPPED = re.compile(r"(?:不|没)(?:再|多)?(?:说|讲|提|念|展开|介绍|解释|细说|啰嗦|做|搞)(?:了|啦)|"
                      r"(?:回头|以后|下次|改天|之后|晚点|等会儿?|待会儿?)[^，,。]{0,6}?再(?:跟您|和您|给您)?(?:说|讲|聊|细说)|"
                      r"先不(?:说|讲|提)|(?:就|先)省了")
_CLAUSE = re.compile(r"[，,、]")


def statements(normalized: str) -> list[str]:
    """The utterance's sentences that are not questions (the punctuation that ended each one decides too), without
    the clauses that skip a topic; a transcript without punctuation is one sentence."""
    out = []
    for match in _SENTENCE.finditer(normalized):
        sentence = match.group(1).strip(" ，,、")
        if not sentence or is_question(sentence, match.group(2)):
            continue
        if _SKIPPED.search(sentence):
            sentence = "，".join(c for c in (c.strip() for c in _CLAUSE.split(sentence)) if c and not _SKIPPED.search(c))
        if sentence:
            out.append(sentence)
    return out


def windows(parts: list[str]) -> list[str]:
    """Each statement and each run of two or three adjacent statements joined: agents split a disclosure over two
    sentences, sometimes with a filler between (「本次通话全程录音。稍等我调一下资料。请不要说出密码」)."""
    out = list(parts)
    for width in range(2, WINDOW_STATEMENTS + 1):
        out += ["，".join(parts[i:i + width]) for i in range(len(parts) - width + 1)]
    return out


def window_vectors(statement_vectors: np.ndarray) -> np.ndarray:
    """The vectors of :func:`windows`' windows from the statements' own: a joined run is the normalised mean of its
    statements, so a line of n statements costs n embeddings, not 3n - 3 (the live hot path)."""
    out = [statement_vectors]
    for width in range(2, WINDOW_STATEMENTS + 1):
        count = len(statement_vectors) - width + 1
        if count <= 0:
            break
        runs = sum(statement_vectors[i:i + count] for i in range(width))
        out.append(runs / np.maximum(np.linalg.norm(runs, axis=1, keepdims=True), 1e-12))
    return np.vstack(out)


def references(rule: dict) -> list[str]:
    """What a rule's disclosure sounds like: the `say` text, its clauses and the rule's `said_examples`."""
    say = normalize(rule.get("say") or "")
    clauses = [c for c in (c.strip() for c in _CLAUSE_END.split(say)) if len(c) >= MIN_CLAUSE_CHARS]
    refs = [say, *clauses, *(normalize(t) for t in rule.get("said_examples") or [])]
    return [r for r in dict.fromkeys(refs) if r]


# A negation right before a phrase, up to two characters between (「不用做测评」「不一定能保本」「非保本」).
_NEGATION = re.compile(r"(?:没有|没|不是|不会|不要|不用|不能|不需要|无需|不必|不一定|并非|非|无|未|别|不)"
                       r"[^，,。；;！？!?\s]{0,2}$")
_NEGATION_CHARS = re.compile(r"[不没非未别无]")


# A bound on a quantity is not a negation: 「扣不超过十块钱」 states the ten yuan.
_BOUND = re.compile(r"(?:不超过|不高于|不低于|不少于|不多于|不大于|不小于|不到|不足)[^，,。；;！？!?\s]{0,2}$")


# Words with a negation character that negate nothing: 「不过这个仅供参考」 is a reference, not its opposite, and an
# A-not-A question (「是不是本人」) asks.
_NOT_NEGATIONS = re.compile(r"不过|不管|不论|不仅|不但|不久|不断|不少|无论|非常|未来|别人|别的|(.)[不没]\1")


def _masked(text: str) -> str:
    """``text`` with the words of _NOT_NEGATIONS blanked out (same length, so positions hold)."""
    return _NOT_NEGATIONS.sub(lambda m: "_" * len(m.group()), text)


def negated(text: str, start: int) -> bool:
    """True when the words right before ``start`` negate what follows. Wider than kb/triggers.py's (which guards
    customers' words): agents negate obligations with 不用/不需要/非 and a verb in between (「不用做测评」)."""
    before = _masked(text[max(0, start - 6):start])
    return bool(_NEGATION.search(before)) and not _BOUND.search(before)


# An agent forbids or declines a whole verb phrase: 「请不要在电话里告诉我您的密码」 is not asking for the password,
# 「我没办法给您保证收益」 is no promise, however far the negation stands from the opposite phrase within its clause.
_PROHIBITION = re.compile(r"(?:不要|别|勿|不用|不必|不能|千万不|无需|不需要|没办法|没法|无法|做不到)")


def prohibited(text: str, start: int) -> bool:
    """A prohibition earlier in the clause that holds ``start`` (for the `said_not` phrases)."""
    clause_start = max((text.rfind(p, 0, start) for p in "，,。；;！？!?、"), default=-1) + 1
    return bool(_PROHIBITION.search(text[clause_start:start]))


def _stated_at(trigger: Trigger | SpanPhrase, text: str, syllables) -> tuple[int, int, bool] | None:
    """Where ``text`` says the phrase (start, end) and whether that is negated: by a negation right before it, or
    by one slipped between its words (「跟存款不一样」 is a gapped 「跟存款一样」 and says the opposite)."""
    found = trigger.find(text, syllables)
    if found is None:
        return None
    start, match = found
    inserted = len(_NEGATION_CHARS.findall(_masked(match.found))) > len(_NEGATION_CHARS.findall(trigger.phrase))
    return start, start + len(match.found), inserted or negated(text, start)


def _says_any(triggers: tuple[Trigger | SpanPhrase, ...], text: str) -> bool:
    """Any of the phrases stated and not negated; a phrase inside a negated longer one is negated too (「测评」 in
    「不需要做风险测评」)."""
    syllables = syllables_of(text)
    spans = [s for s in (_stated_at(t, text, syllables) for t in triggers) if s is not None]
    negated_spans = [(a, b) for a, b, neg in spans if neg]
    return any(not neg and not any(na <= a and b <= nb for na, nb in negated_spans) for a, b, neg in spans)


@dataclass(frozen=True)
class Fact:
    """One key fact of a disclosure: any of its phrases, stated (not negated). A required fact (「+」 before it in
    `said_facts`) is a part of the obligation without which a line has not said it, however close its meaning: the
    loss after the insurance cooling-off period, not only the cheap refund within it."""
    phrases: tuple[Trigger | SpanPhrase, ...]
    required: bool = False

    def stated(self, text: str) -> bool:
        return _says_any(self.phrases, text)


REQUIRED = "+"  # a leading 「!」 would be a YAML tag in hand-written front matter


def facts_of(rule: dict) -> list[Fact]:
    """The rule's `said_facts`: each entry a phrase or several alternatives separated by 「|」, 「+」 before a
    required one."""
    return list(_facts(tuple(str(entry) for entry in rule.get("said_facts") or [])))


@lru_cache(maxsize=256)
def _facts(entries: tuple[str, ...]) -> tuple[Fact, ...]:
    facts = []
    for entry in (e.strip() for e in entries):
        required = entry.startswith(REQUIRED)
        phrases = _phrases(tuple(p for p in entry.removeprefix(REQUIRED).split("|") if p.strip()))
        if phrases:
            facts.append(Fact(phrases, required))
    return tuple(facts)


# 「不要…密码」 in a rule's phrases: its parts in this order, up to this many characters between, within a clause (not
# across punctuation). Agents put a whole phrase between the verb and its object (「不要在通话里说您的密码」), more
# than the three characters a trigger's gap allows, and the editor cannot list every such phrase.
SPAN_GAP = 12
_SPAN = "..."  # 「…」 after normalisation (NFKC)
# 「#」 in a phrase is a number, in digits or Chinese numerals (「#块」: 「二十块」「5块」): a fee stated with its amount.
_NUMBER = "#"
_NUMBER_PATTERN = "[0-9零〇一二两三四五六七八九十百千万点.]+"


class SpanPhrase:
    """A phrase with 「…」 or 「#」 in it: matched like a trigger (:meth:`Trigger.find`), its parts in order with a
    span of words between, 「#」 standing for a number. Not by sound: each part is short."""

    def __init__(self, phrase: str):
        self.phrase = phrase
        parts = [p for p in phrase.split(_SPAN) if p]
        self.pattern = re.compile(f"[^，,、。！？!?；;\\n]{{0,{SPAN_GAP}}}?".join(
            _NUMBER_PATTERN.join(re.escape(piece) for piece in part.split(_NUMBER)) for part in parts))

    def find(self, text: str, syllables) -> tuple[int, TriggerMatch] | None:
        found = self.pattern.search(text)
        if found is None:
            return None
        return found.start(), TriggerMatch(self.phrase, found.group(), "gapped")


def _is_span(phrase: str) -> bool:
    return _SPAN in phrase or _NUMBER in phrase


@lru_cache(maxsize=1024)
def _phrases(phrases: tuple[str, ...]) -> tuple[Trigger | SpanPhrase, ...]:
    normalized = tuple(normalize(p) for p in phrases)
    spans = tuple(SpanPhrase(p) for p in normalized if _is_span(p))
    return compile_triggers(tuple(p for p in normalized if p and not _is_span(p))) + spans


def contradicts(rule: dict, text: str) -> bool:
    """The line says the opposite of the disclosure (「保本」 not negated, 「稳赚」) or is about another product
    (「基金」 for the wealth-product disclosure): the rule's `said_not` phrases, unless prohibited in their clause."""
    syllables = syllables_of(text)
    for trigger in _phrases(tuple(rule.get("said_not") or [])):
        stated = _stated_at(trigger, text, syllables)
        if stated is not None and not stated[2] and not prohibited(text, stated[0]):
            return True
    return False


class _ReferenceVectors:
    """Embeddings of the rules' reference texts, per model (few: a dozen per rule), computed once.

    Computed by one thread at a time: when a rule is first required, every request thread that needs it would
    otherwise embed the same dozens of texts side by side (under load, seconds of CPU each)."""

    def __init__(self):
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, encoder, texts: list[str]) -> np.ndarray:
        if any((encoder.model_id, t) not in self._vectors for t in texts):
            with self._lock:
                missing = [t for t in dict.fromkeys(texts) if (encoder.model_id, t) not in self._vectors]
                if missing:
                    for text, vector in zip(missing, encoder.encode_queries(missing)):
                        self._vectors[(encoder.model_id, text)] = vector
        return np.stack([self._vectors[(encoder.model_id, t)] for t in texts])


_REFERENCES = _ReferenceVectors()


def warm_references(kb) -> None:
    """Embed every disclosure's references now (at start-up) rather than on the first agent line that needs them."""
    texts = [t for rule in kb.generation().rules if rule["type"] == "disclosure" for t in references(rule)]
    if texts:
        _REFERENCES.get(kb.encoder, texts)


@dataclass(frozen=True)
class MatchParams:
    """How meaning and key facts combine into a score, and the score that counts as said."""
    sim_floor: float = SIM_FLOOR
    sim_ceil: float = SIM_CEIL
    sim_weight: float = SIM_WEIGHT
    threshold: float = SAID_THRESHOLD
    # A window that says two disclosures equally well is credited to both; one whose meaning is this much further
    # from a rule than from a rival that also passes is credited to the rival only (fund risk vs wealth product).
    rival_margin: float = RIVAL_MARGIN
    # Below this share of the rule's key facts a window says nothing, however close its meaning: e5 puts a line on
    # the topic alone (「犹豫期一般是十五天」) as close to the `say` text as the disclosure itself.
    min_coverage: float = MIN_COVERAGE

    def score(self, similarity: float, coverage: float | None) -> float:
        meaning = min(1.0, max(0.0, (similarity - self.sim_floor) / (self.sim_ceil - self.sim_floor)))
        if coverage is None:
            return meaning
        if coverage < self.min_coverage:
            return 0.0
        return self.sim_weight * meaning + (1 - self.sim_weight) * coverage


@dataclass
class Evidence:
    """What one window of the utterance says about one rule: the raw material of its score."""
    rule_id: str
    window: int            # index into the utterance's windows
    text: str
    similarity: float      # best cosine to the rule's references
    coverage: float | None  # share of the rule's key facts stated (None: the rule names no facts)
    contradicted: bool      # the line says the opposite (「保本」) or names another product
    incomplete: bool = False  # a required fact is not stated in this window

    @property
    def ruled_out(self) -> bool:
        return self.contradicted or self.incomplete


def evidence(kb, utterance: str, rule_ids: Iterable[str]) -> list[Evidence]:
    """Every (rule, window) pair's evidence for the disclosures among ``rule_ids`` (disclosures only)."""
    wanted = set(rule_ids)
    rules = [r for r in kb.generation().rules if r["id"] in wanted and r["type"] == "disclosure"]
    normalized = normalize(kb.check_query(utterance))
    said = statements(normalized)
    if not rules or not said:
        return []
    parts = windows(said)
    vectors = window_vectors(kb.query_cache.get_many(said))
    found = []
    for rule in rules:
        best = (vectors @ _REFERENCES.get(kb.encoder, references(rule)).T).max(axis=1)
        facts = facts_of(rule)
        whole_contradicts = contradicts(rule, "，".join(said))
        for index, text in enumerate(parts):
            stated = [f.stated(text) for f in facts]
            coverage = sum(stated) / len(facts) if facts else None
            incomplete = any(f.required and not said_it for f, said_it in zip(facts, stated))
            found.append(Evidence(rule["id"], index, text, float(best[index]), coverage, whole_contradicts,
                                  incomplete))
    return found


def decide(found: list[Evidence], params: MatchParams = MatchParams()) -> list[SaidDisclosure]:
    """Each rule's best score over the windows, rivals resolved; every rule in ``found`` appears, best first."""
    passing: dict[int, list[Evidence]] = {}
    for item in found:
        if not item.ruled_out and params.score(item.similarity, item.coverage) >= params.threshold:
            passing.setdefault(item.window, []).append(item)
    best: dict[str, SaidDisclosure] = {}
    for item in found:
        score = 0.0 if item.ruled_out else params.score(item.similarity, item.coverage)
        rivals = passing.get(item.window, [])
        if score >= params.threshold and any(r.similarity - item.similarity > params.rival_margin for r in rivals):
            score = min(score, params.threshold - 1e-4)
        current = best.get(item.rule_id)
        if current is None or score > current.score:
            best[item.rule_id] = SaidDisclosure(item.rule_id, round(score, 4), item.text)
    return sorted(best.values(), key=lambda s: (-s.score, s.rule_id))


def score_said(kb, utterance: str, rule_ids: Iterable[str]) -> list[SaidDisclosure]:
    """Every disclosure among ``rule_ids`` with its score (said or not), best first."""
    return decide(evidence(kb, utterance, rule_ids))


def match_said(kb, utterance: str, rule_ids: Iterable[str]) -> list[SaidDisclosure]:
    """The disclosures among ``rule_ids`` that the agent's ``utterance`` says, best first, each with its score.

    ``kb`` is a :class:`kb.engine.KnowledgeBase`; ``rule_ids`` are the disclosures required so far in the call (an
    unknown id or an escalation id is ignored).
    """
    return [s for s in score_said(kb, utterance, rule_ids) if s.score >= SAID_THRESHOLD]
