"""What the tests share: paths and settings, a logged-in client, browser helpers, and waiting on state.

Tests wait on what the server stored or the page shows (:func:`wait_until`), never on a fixed time.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from kb.config import Settings
from kb.encoders import Encoder

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
TEST_CACHE = ROOT / "var" / "test-embed-cache.sqlite"
PASSWORD = "correct-horse-battery"
# How long a test waits for an index build to finish before failing: a build after a publish retrains the rule
# classifiers, which takes minutes on a loaded 2-core machine. Only a bound for failure: tests go on when it is done.
BUILD_TIMEOUT = 600


def make_settings(data_dir: Path, **overrides) -> Settings:
    TEST_CACHE.parent.mkdir(parents=True, exist_ok=True)
    database_url = overrides.pop("database_url", f"sqlite:///{data_dir / 'kb.sqlite'}")
    return Settings.from_env(data_dir=str(data_dir), database_url=database_url,
                             embed_cache_path=str(overrides.pop("embed_cache_path", TEST_CACHE)), **overrides)


def run_together(work: Callable, items: Sequence, timeout: float = 120) -> list:
    """``work(item)`` for every item on a thread of its own, all released at once by a barrier: the races that the
    database's unique constraints and locks must decide. Returns the results in item order; a thread's exception is
    raised here."""
    items = list(items)
    barrier = threading.Barrier(len(items))

    def released(item):
        barrier.wait(timeout)
        return work(item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(released, items, timeout=timeout))


def pristine(kb_settings: Settings) -> Path:
    return kb_settings.data_dir.parent / "pristine-kb"


class Client:
    """A Flask test client that logs in through the real form and sends the CSRF token like the pages do."""

    def __init__(self, app, username: str | None = None):
        self.app = app
        self.http = app.test_client()
        self.token = ""
        if username:
            self.login(username)

    def refresh_token(self, path: str = "/login") -> None:
        match = re.search(r'name="csrf-token" content="([^"]+)"', self.http.get(path).get_data(as_text=True))
        self.token = match.group(1)

    def login(self, username: str, password: str = PASSWORD):
        self.refresh_token()
        response = self.http.post("/login", data={"username": username, "password": password,
                                                  "csrf_token": self.token})
        self.refresh_token()
        return response

    def post_json(self, path: str, data, **kwargs):
        return self.http.post(path, json=data, headers={"X-CSRF-Token": self.token}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.http.get(path, **kwargs)


# --- real browser (Debian chromium via Playwright) -----------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = ROOT / "var" / "screenshots"


def browser_login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


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


class CountingEncoder(Encoder):
    """The real model, counting every text it is asked to embed."""

    def __init__(self, real: Encoder):
        self.real, self.model_id, self.dim = real, real.model_id, real.dim
        self.texts = 0

    def encode_queries(self, texts):
        self.texts += len(texts)
        return self.real.encode_queries(texts)

    def encode_passages(self, texts):
        self.texts += len(texts)
        return self.real.encode_passages(texts)
