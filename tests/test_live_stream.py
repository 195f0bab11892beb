"""The sidebar's live stream (Server-Sent Events) on a real threaded server, the token command line and the replay
tool: resuming after the last event id loses no line, streams renew, the process's stream limit turns the surplus
away, and a recorded call replays with its timing."""
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from kb.db import Database
from kb.live import said_disclosures
from kb.models import LiveCall, LiveUtterance
from kb.replay import ReplayError, replay_file
from kb.tokens import authenticate_token, create_token
from tests.helpers import PASSWORD, ROOT

DEMO = ROOT / "demo" / "calls"


@pytest.fixture
def server(kb, kb_copy, app_factory, start_server):
    kb.suggest("预热")
    said_disclosures(kb, "理财不保本")  # the adherence matcher embeds its references once: not inside a test's wait
    app = app_factory(kb_copy, ENGINE=kb, LIVE_STREAM_SECONDS=5, LIVE_MAX_STREAMS=3, LIVE_POLL_SECONDS=0.02)
    live = start_server(app)
    live.db = Database(kb_copy.database_url)
    with live.db.session() as s:
        _, live.token = create_token(s, "asr")
    live.settings = kb_copy
    return live


class AgentSession:
    """agent1 logged in through the real form (stdlib only: a cookie jar and urllib)."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = self.opener.open(f"{url}/login").read().decode("utf-8")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        self.opener.open(f"{url}/login", data=urlencode({"username": "agent1", "password": PASSWORD,
                                                         "csrf_token": token}).encode())

    def stream(self, query: str = "", headers: dict | None = None):
        return self.opener.open(urllib.request.Request(f"{self.url}/agent/live/stream{query}",
                                                       headers=headers or {}), timeout=30)


def post(server, text, offset_ms, speaker="customer", call_ref="call-s"):
    body = {"call_ref": call_ref, "agent": "agent1", "speaker": speaker, "text": text, "offset_ms": offset_ms,
            "final": True}
    request = urllib.request.Request(f"{server.url}/api/live/utterances", method="POST",
                                     data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers={"Authorization": f"Bearer {server.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())["event_id"]


def lines_of(response):
    while line := response.readline():
        yield line.decode("utf-8").rstrip("\n")


def read_events(response, count: int) -> list[dict]:
    """The first ``count`` events of an open stream as {id, event, data}; comments and retry lines skipped."""
    events, current = [], {}
    for line in lines_of(response):
        if line == "":
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(":")
            current[name] = json.loads(value) if name == "data" else value.strip()
    return events


def test_a_stream_resumes_after_the_last_event_id_and_misses_nothing(server):
    first = post(server, "我的卡丢了", 1000)
    second = post(server, "请问您的姓名是？", 4000, speaker="agent")
    session = AgentSession(server.url)
    # a fresh page: the live call in progress from its beginning
    with session.stream() as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(response, 2)
    assert [int(e["id"]) for e in events] == [first, second]
    assert events[0]["event"] == "utterance" and events[0]["data"]["utterance"]["text"] == "我的卡丢了"
    assert events[0]["data"]["suggestions"]["answers"][0]["article_id"] == "lost-card-freeze"
    # EventSource reconnects with the last id it saw: only what came after it, including what was posted meanwhile
    third = post(server, "我叫王丽", 9000)
    with session.stream(headers={"Last-Event-ID": str(first)}) as response:
        events = read_events(response, 2)
    assert [int(e["id"]) for e in events] == [second, third]
    # the page's own stored id (first connection, no header yet) works the same
    with session.stream(f"?after={second}") as response:
        fourth_posted = post(server, "好的，已经为您挂失。", 12000, speaker="agent")  # pushed while open
        events = read_events(response, 2)
    assert [int(e["id"]) for e in events] == [third, fourth_posted]


def test_streams_end_after_their_lifetime_and_the_surplus_is_told_to_retry(server):
    session = AgentSession(server.url)
    with session.stream() as response:
        body = response.read().decode("utf-8")  # returns when the server ends the stream (5 s here)
    assert body.startswith("retry: 500")
    streams = [session.stream() for _ in range(3)]
    try:
        for stream in streams:  # each is open once its first line arrived
            assert stream.readline().decode("utf-8").startswith("retry: 500")
        with session.stream() as busy:
            text = busy.read().decode("utf-8")
        assert busy.status == 200 and text.startswith("retry: 3000") and ": busy" in text
    finally:
        for stream in streams:
            stream.close()
    anonymous = http.client.HTTPConnection(urlsplit(server.url).hostname, urlsplit(server.url).port, timeout=30)
    anonymous.request("GET", "/agent/live/stream")
    assert anonymous.getresponse().status == 302


def run_kb(settings, *args):
    env = dict(os.environ, KB_DATA_DIR=str(settings.data_dir), KB_DATABASE_URL=settings.database_url,
               KB_EMBED_CACHE=str(settings.embed_cache_path))
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_token_command_creates_shows_once_lists_and_revokes(kb_copy):
    created = run_kb(kb_copy, "token", "create", "telephony-1")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("kbi_") and len(token) > 40 and "shown only now" in created.stderr
    db = Database(kb_copy.database_url)
    with db.session() as s:
        row = authenticate_token(s, token)
        assert row.name == "telephony-1" and row.role == "integration"
        assert token not in row.token_hash  # only the hash is stored
    assert run_kb(kb_copy, "token", "create", "telephony-1").returncode == 2  # names are unique
    listed = run_kb(kb_copy, "token", "list")
    assert "telephony-1\tintegration\tactive" in listed.stdout and token not in listed.stdout
    assert run_kb(kb_copy, "token", "revoke", "telephony-1").returncode == 0
    with db.session() as s:
        assert authenticate_token(s, token) is None
    assert "revoked" in run_kb(kb_copy, "token", "list").stdout
    assert run_kb(kb_copy, "token", "revoke", "nobody").returncode == 2
    assert run_kb(kb_copy, "token", "create").returncode == 2  # a name is required


def test_replay_posts_a_recorded_call_and_ends_it(server):
    result = run_kb(server.settings, "replay", str(DEMO / "lost-card.jsonl"), "--url", server.url,
                    "--token", server.token, "--speed", "0", "--call-ref", "replay-1")
    assert result.returncode == 0, result.stderr
    lines = (DEMO / "lost-card.jsonl").read_text(encoding="utf-8").splitlines()
    assert f"{len(lines)}/{len(lines)}" in result.stderr and "call replay-1 ended" in result.stderr
    finals = [json.loads(line) for line in lines if json.loads(line)["final"]]
    with server.db.session() as s:
        stored = s.scalars(select(LiveUtterance).where(LiveUtterance.call_ref == "replay-1")
                           .order_by(LiveUtterance.offset_ms)).all()
        assert [u.text for u in stored] == [u["text"] for u in finals] and all(u.final for u in stored)
        assert s.get(LiveCall, "replay-1").ended_at is not None
    again = run_kb(server.settings, "replay", str(DEMO / "lost-card.jsonl"), "--url", server.url,
                   "--token", server.token, "--speed", "0", "--call-ref", "replay-1")
    assert again.returncode == 2 and "has ended" in again.stderr
    wrong = run_kb(server.settings, "replay", str(DEMO / "lost-card.jsonl"), "--url", server.url,
                   "--token", "kbi_wrong", "--speed", "0")
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr


def test_replay_keeps_the_recorded_timing_scaled_by_speed(server, tmp_path):
    """The clock is the edge mocked here: each post waits until its offset / speed after the start."""
    recording = tmp_path / "call.jsonl"
    recording.write_text("\n".join(json.dumps({"call_ref": "timed", "agent": "agent1", "speaker": "customer",
                                               "text": f"第{i}句话", "offset_ms": i * 2000, "final": True},
                                              ensure_ascii=False) for i in range(1, 4)), encoding="utf-8")
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(round(seconds, 3))
        now[0] += seconds

    summary = replay_file(recording, server.url, server.token, speed=4, sleep=sleep, clock=lambda: now[0],
                          out=open(os.devnull, "w"))
    assert waits == [0.5, 0.5, 0.5] and "3 created" in summary
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no offset"}\n', encoding="utf-8")
    with pytest.raises(ReplayError, match="offset_ms"):
        replay_file(bad, server.url, server.token)


def test_the_demo_calls_are_valid_utterances_in_call_order():
    from kb.live import parse_utterance
    for path in sorted(Path(DEMO).glob("*.jsonl")):
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len({i["call_ref"] for i in items}) == 1, path
        assert [i["offset_ms"] for i in items] == sorted(i["offset_ms"] for i in items), path
        for item in items:
            parse_utterance(item)
