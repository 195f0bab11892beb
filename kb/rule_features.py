"""Character and sound n-gram features for the rule classifiers: the words themselves, beside the sentence embedding.

A sentence embedding blurs 年费 into 费用 into 价格 and says little about a fragment like 「退保损」; the characters
say it directly. Each text becomes hashed counts of its character 1-3-grams and of its toneless pinyin syllable
2-3-grams (so a pinyin-input slip such as 「保笨」 for 保本 still shares features with what it should have said),
l2-normalised, punctuation and spaces dropped. The same function serves training (indexer/rule_training.py) and
matching (kb/rules.py) with nothing to fit or store but the classifier's weights.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np

from .triggers import syllables_of

NGRAM_DIM = 1 << 16
NGRAM_SIZES = (1, 2, 3)
SOUND_SIZES = (2, 3)
# Bumped when the features change: a classifier trained on other features must be retrained, not reused.
FEATURES_VERSION = 2
_KEEP = re.compile(r"[0-9a-z\u3400-\u9fff]+")


def _slot(gram: str) -> int:
    return zlib.crc32(gram.encode("utf-8")) & (NGRAM_DIM - 1)


def ngram_features(normalized_text: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the hashed, l2-normalised n-gram counts of an already-normalised text."""
    counts: Counter[int] = Counter()
    for run in _KEEP.findall(normalized_text):
        for size in NGRAM_SIZES:
            for start in range(len(run) - size + 1):
                counts[_slot(run[start:start + size])] += 1
        sounds = syllables_of(run)
        for size in SOUND_SIZES:
            for start in range(len(sounds) - size + 1):
                counts[_slot("py:" + " ".join(sounds[start:start + size]))] += 1
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    return indices, values / np.linalg.norm(values)
