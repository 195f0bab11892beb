"""Live call mode in Debian Chromium: the wealth-product sale replayed through the live API appears in the agent's
sidebar (transcript, answers, disclosures) and the agent's own words tick the non-guaranteed disclosure."""
import json
import re
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kb.db import Database
from kb.live import said_disclosures
from kb.models import CallRecord
from kb.replay import replay_file
from kb.tokens import create_token
from tests.helpers import ROOT, browser_login, screenshot, wait_until

WEALTH = "disclosure-wealth-not-guaranteed"
SUITABILITY = "disclosure-risk-suitability"
RECORDING = ROOT / "demo" / "calls" / "wealth-sale.jsonl"


@pytest.fixture
def live_server(kb, kb_copy, app_factory, start_server):
    """A live server on a private KB copy whose streams renew every 2 s (so the test crosses several renewals)."""
    kb.suggest("预热")
    said_disclosures(kb, "理财不保本")  # the adherence matcher embeds its references once, here
    server = start_server(app_factory(kb_copy, ENGINE=kb, LIVE_STREAM_SECONDS=2, LIVE_POLL_SECONDS=0.02))
    server.db = Database(kb_copy.database_url)
    with server.db.session() as s:
        _, server.token = create_token(s, "asr")
    return server


def replay(server, path, call_ref, end):
    """Replay in the background at 8× speed, as the telephony would post it while the agent watches."""
    errors = []

    def run():
        try:
            with open("/dev/null", "w") as quiet:
                replay_file(path, server.url, server.token, speed=8, call_ref=call_ref, end=end, out=quiet)
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_replayed_wealth_sale_drives_the_sidebar_and_the_agents_words_tick_the_disclosure(page, live_server,
                                                                                            tmp_path):
    page.set_viewport_size({"width": 420, "height": 1000})
    browser_login(page, live_server.url, "agent1")
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_have_attribute("data-live", "open")

    lines = RECORDING.read_text(encoding="utf-8").splitlines()
    said_at = next(i for i, line in enumerate(lines) if "不保本" in json.loads(line)["text"])
    first_part, rest = tmp_path / "first.jsonl", tmp_path / "rest.jsonl"
    first_part.write_text("\n".join(lines[:said_at + 1]) + "\n", encoding="utf-8")
    rest.write_text("\n".join(lines[said_at + 1:]) + "\n", encoding="utf-8")

    thread, errors = replay(live_server, first_part, "wealth-1", end=False)
    transcript = page.locator("#live-list")
    customer = transcript.locator(".live-line.customer")
    agent = transcript.locator(".live-line.agent")
    expect(customer.filter(has_text="这个理财保本吗")).to_have_count(1, timeout=30000)  # 5 s into the replay
    expect(agent.filter(has_text="这款理财不是存款，不保本")).to_have_count(1, timeout=30000)
    thread.join(60)
    assert not errors, errors
    expect(page.locator("#call-state")).to_have_attribute("data-state", "active")  # the live call is the call
    expect(transcript.locator(".live-line.partial")).to_have_count(0)  # the partial was replaced by its final
    expect(customer.first).to_contain_text("我有二十万定期快到期了，想买点理财，你们有什么推荐的吗？")

    # the last customer question brought its answers, as typing it would
    expect(page.locator("#answers .ans").first).to_have_attribute("data-article-id", "wealth-management-products")
    wealth = page.locator(f"#disc-list .disc[data-id={WEALTH}]")
    expect(wealth.locator(".disc-title")).to_have_text("理财产品非保本及过往业绩提示")
    expect(page.locator(f"#disc-list .disc[data-id={SUITABILITY}]")).to_be_visible()  # from the agent's words
    # the agent said it in their own words: ticked by itself, showing the utterance and the score
    expect(wealth).to_have_class(re.compile(r"\bticked\b"))
    expect(wealth.locator(".said")).to_contain_text("这款理财不是存款，不保本")
    expect(wealth.locator(".said")).to_contain_text("匹配度 ")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "agent-sidebar-live")

    # the agent can still untick by hand, and a tick by hand stays theirs
    wealth.locator(".disc-check").uncheck()
    expect(wealth).not_to_have_class(re.compile(r"\bticked\b"))
    wealth.locator(".disc-check").check()

    thread, errors = replay(live_server, rest, "wealth-1", end=True)
    expect(customer.filter(has_text="好的，谢谢。")).to_have_count(1, timeout=30000)
    thread.join(60)
    assert not errors, errors
    # the call ended on the telephony side: the sidebar asks to confirm anything unticked, then stores the call
    dialog = page.locator("#end-dialog")

    def ended():
        """The agent's record: it replaces the one the server kept when the telephony ended the call."""
        if dialog.is_visible():
            page.locator("#end-anyway").click()
        with live_server.db.session() as s:
            records = s.scalars(select(CallRecord)).all()
        agents = [r for r in records if r.data.get("recorded_by") != "integration"]
        return agents[0] if agents and len(records) == 1 else None

    record = wait_until(ended, what="the live call's record")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "idle")
    data = record.data
    finals = [json.loads(line) for line in lines if json.loads(line)["final"]]
    assert data["live_call_ref"] == "wealth-1"
    assert [t["text"] for t in data["live"]["transcript"]] == [u["text"] for u in finals]
    assert any(f["id"] == WEALTH and f["speaker"] == "customer" for f in data["live"]["fired"])
    assert any(s["rule_id"] == WEALTH and s["speaker"] == "agent" for s in data["live"]["said"])
    disclosure = next(d for d in data["disclosures"] if d["id"] == WEALTH)
    assert disclosure["ticked"] and disclosure["ticked_by"] == "hand"  # re-ticked by hand above
    assert any(a["article_id"] == "wealth-management-products" for a in data["answers_shown"])
