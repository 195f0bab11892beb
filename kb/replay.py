"""``python -m kb replay``: post a recorded call to the live API with its original timing, for demos and tests.

A recording is JSON lines, one utterance per line in the API's own shape (docs/interfaces.md), ordered by when the
recogniser would send them. Each is posted at ``offset_ms / speed`` after the start (``--speed 0``: no waiting); a
partial result is sent a little before its final one, as a recogniser would, at the offset of its segment. A
delivery that fails on the way (connection refused, 5xx, 429) is retried with back-off: the API is idempotent, so a
retry can never store a line twice. Progress goes to stderr, one line per utterance.
"""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

RETRIES = 5


class ReplayError(RuntimeError):
    pass


def load_recording(path: Path) -> list[dict]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"cannot read {path}: {exc}") from None
    lines = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ReplayError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("offset_ms"), int):
            raise ReplayError(f"{path}:{number}: expected an utterance object with a whole offset_ms")
        lines.append(item)
    if not lines:
        raise ReplayError(f"{path}: no utterances")
    return lines


def _post(url: str, token: str, body: dict | None) -> tuple[int, dict]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    delay = 0.5
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            payload = _error_body(exc)
            if exc.code < 500 and exc.code != 429 or attempt == RETRIES:
                return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            if attempt == RETRIES:
                raise ReplayError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
        time.sleep(delay)
        delay = min(delay * 2, 8)
    raise AssertionError("unreachable")


def _error_body(exc: urllib.error.HTTPError) -> dict:
    try:
        return json.loads(exc.read() or b"{}")
    except ValueError:
        return {"error": f"HTTP {exc.code}"}


def replay_file(path: Path, url: str, token: str, speed: float = 1.0, agent: str | None = None,
                call_ref: str | None = None, end: bool = True, out=None, sleep=time.sleep,
                clock=time.monotonic) -> str:
    """Post every utterance of the recording; returns a one-line summary. Raises ReplayError when the server refuses
    a line (the message says which and why) or cannot be reached."""
    out = out or sys.stderr
    if speed < 0:
        raise ReplayError("--speed must be 0 (no waiting) or more")
    lines = load_recording(path)
    base = url.rstrip("/")
    started, counts = clock(), {}
    for number, item in enumerate(lines, 1):
        body = dict(item)
        if agent:
            body["agent"] = agent
        if call_ref:
            body["call_ref"] = call_ref
        if speed:
            wait = started + body["offset_ms"] / 1000 / speed - clock()
            if wait > 0:
                sleep(wait)
        status, result = _post(f"{base}/api/live/utterances", token, body)
        if status >= 400:
            raise ReplayError(f"{path.name} line {number}: HTTP {status}: {result.get('error', result)}")
        outcome = result.get("status", "?")
        counts[outcome] = counts.get(outcome, 0) + 1
        kind = "final" if body.get("final") else "partial"
        print(f"[{_clock(body['offset_ms'])}] {number}/{len(lines)} {body.get('speaker', '?'):8} {kind:7} "
              f"{status} {outcome:9} {str(body.get('text', ''))[:40]}", file=out, flush=True)
    ref = call_ref or lines[-1].get("call_ref")
    if end and ref:
        status, result = _post(f"{base}/api/live/calls/{urllib.request.quote(str(ref), safe='')}/end", token, None)
        if status >= 400:
            raise ReplayError(f"ending call {ref}: HTTP {status}: {result.get('error', result)}")
        print(f"call {ref} ended", file=out, flush=True)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"replay: {len(lines)} utterances of {path.name} in {clock() - started:.1f} s ({summary})"


def _clock(offset_ms: int) -> str:
    seconds = offset_ms / 1000
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"
