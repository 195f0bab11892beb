"""Helpers the tests share: waiting on what the server stored or the page shows, never on a fixed time."""
from __future__ import annotations

import time


def wait_until(check, timeout: float = 30.0, what: str = "the condition", interval: float = 0.05):
    """Call ``check`` until it returns something truthy and return that; fail naming ``what`` after ``timeout`` s.

    The interval only paces the polling: the test proceeds as soon as the state it waits for is there.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
