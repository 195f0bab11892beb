"""Trigger phrases matched the way agents type: with words in between, with homophone typos, not when negated.

An exact substring match misses 「客户一直在骂人」 for the phrase 客户骂人 and 「银保坚会」 (a pinyin-input slip) for
银保监会. A trigger therefore also matches
- with a few characters inserted between its words (「客户一直在骂人」 for 客户 … 骂人), never across punctuation;
- by sound: the same toneless pinyin syllables (保笨 for 保本), for triggers of two or more Chinese characters (a
  two-character one only where the slip keeps one of its characters and stands as a word: not 公积金 for 基金);
and, for escalations, a match right after a negation (「我不会去银保监会投诉」, 「没有人威胁我」) does not count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import lazy_pinyin

from .normalize import tokenize_phrase, tokenize_phrase_raw

# At most this many characters may stand between two words of a trigger (「客户一直在骂人」: 一直在 = 3).
MAX_GAP = 3
# A negation this close before a match (in characters, pronouns and 会/要/去 between allowed) cancels it.
NEGATION = re.compile(r"(?:没有|没|不是|不会|不要|不用|并非|并没有|从没|从来没|未|别|不)[人说有会要想去再在用被让跟给向对我你他她]{0,3}$")
_BREAK = "，,。.？?！!；;、\n"
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class TriggerMatch:
    trigger: str   # the rule's phrase (normalised)
    found: str     # what the text says
    how: str       # "exact" | "gapped" | "sound"

    def reason(self) -> str:
        if self.how == "exact":
            return f"提到「{self.trigger}」"
        return f"提到「{self.found}」（近似「{self.trigger}」）"


class Trigger:
    """One normalised trigger phrase, compiled for the three kinds of match."""

    def __init__(self, phrase: str):
        self.phrase = phrase
        words = tokenize_phrase(phrase)
        gap = f"[^{re.escape(_BREAK)}]{{0,{MAX_GAP}}}"
        self.gapped = re.compile(gap.join(re.escape(w) for w in words)) if len(words) >= 2 else None
        han = _HAN.findall(phrase)
        self.sound = tuple(lazy_pinyin(phrase)) if len(han) >= 2 and len(han) == len(phrase) else None

    def find(self, text: str, syllables: tuple[str, ...]) -> tuple[int, TriggerMatch] | None:
        """The first place ``text`` says this trigger (start offset and match), or None."""
        start = text.find(self.phrase)
        if start >= 0:
            return start, TriggerMatch(self.phrase, self.phrase, "exact")
        if self.gapped is not None:
            found = self.gapped.search(text)
            if found:
                return found.start(), TriggerMatch(self.phrase, found.group(), "gapped")
        if self.sound is not None:
            size = len(self.sound)
            for offset in range(len(syllables) - size + 1):
                if syllables[offset:offset + size] == self.sound and self._plausible_slip(text, offset):
                    return offset, TriggerMatch(self.phrase, text[offset:offset + size], "sound")
        return None

    def _plausible_slip(self, text: str, offset: int) -> bool:
        """Two syllables sound alike by chance too often (公积金 holds 基金's sound, 激进 is ji jin as well): a
        two-character match must keep one character of the phrase and stand as words of its own in the text."""
        if len(self.phrase) > 2:
            return True
        found = text[offset:offset + len(self.phrase)]
        if not set(found) & set(self.phrase):
            return False
        return offset in word_starts(text) and offset + len(found) in word_starts(text)


def negated(text: str, start: int) -> bool:
    """True when the words right before ``start`` negate what follows (「不会去」「没有」)."""
    return bool(NEGATION.search(text[max(0, start - 6):start]))


@lru_cache(maxsize=4096)
def syllables_of(text: str) -> tuple[str, ...]:
    """One toneless pinyin syllable per character (other characters stand for themselves), offsets kept."""
    return tuple(lazy_pinyin(text, errors=lambda chars: list(chars)))


@lru_cache(maxsize=4096)
def word_starts(text: str) -> frozenset[int]:
    """Offsets where a word of ``text`` starts (and its end), by jieba's exact mode."""
    offsets, position = {0, len(text)}, 0
    for word in tokenize_phrase_raw(text):
        position += len(word)
        offsets.add(position)
    return frozenset(offsets)


@lru_cache(maxsize=2048)
def compile_triggers(phrases: tuple[str, ...]) -> tuple[Trigger, ...]:
    return tuple(Trigger(p) for p in phrases if p)


def match_triggers(phrases: tuple[str, ...], text: str, respect_negation: bool) -> TriggerMatch | None:
    """The first of ``phrases`` that ``text`` (normalised) says, exact matches before approximate ones."""
    syllables = syllables_of(text)
    best: TriggerMatch | None = None
    for trigger in compile_triggers(phrases):
        found = trigger.find(text, syllables)
        if found is None:
            continue
        start, match = found
        if respect_negation and negated(text, start):
            continue
        if match.how == "exact":
            return match
        best = best or match
    return best
