"""The rule classifiers' n-gram features: the characters, and the sounds an input-method slip keeps."""
import numpy as np

from kb.normalize import normalize
from kb.rule_features import ngram_features


def dense(text: str) -> dict[int, float]:
    indices, values = ngram_features(normalize(text))
    return dict(zip(indices.tolist(), values.tolist()))


def overlap(a: str, b: str) -> float:
    left, right = dense(a), dense(b)
    return sum(value * right.get(index, 0.0) for index, value in left.items())


def test_features_are_unit_length_and_ignore_punctuation():
    indices, values = ngram_features(normalize("这通电话有没有录音？"))
    assert len(indices) == len(values) > 0 and np.isclose(np.linalg.norm(values), 1.0)
    assert dense("这通电话有没有录音？") == dense("这通电话有没有录音")
    assert ngram_features("？！ ，")[0].size == 0


def test_a_homophone_slip_keeps_the_sound_features_of_the_word_meant():
    meant, slip, unrelated = "这个理财保本吗", "这个理财保笨吗", "这个理财保值吗"
    # the slip differs from what was meant by one character, as the unrelated wording does; only the slip sounds
    # the same, so it shares more features with the word meant
    assert overlap(meant, slip) > overlap(meant, unrelated)
