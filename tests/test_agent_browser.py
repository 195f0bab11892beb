"""The agent sidebar in Debian Chromium: a whole call typed as an agent would, timers, and a server outage."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kb.db import Database
from kb.models import CallRecord, Feedback
from tests.helpers import browser_login, screenshot, wait_until

WEALTH = "disclosure-wealth-not-guaranteed"
REGULATOR = "escalation-regulator-complaint"
# true when the page's persisted state holds no upload the server has not accepted
OUTBOX_EMPTY = """() => Object.keys(localStorage).filter(k => k.startsWith('kb-sidebar:'))
  .every(k => !(JSON.parse(localStorage.getItem(k)).outbox || []).length)"""


@pytest.fixture
def private_server(kb, kb_copy, app_factory, start_server):
    """A live server writing to a private KB copy (its database is checked), searching with the loaded model."""
    kb.suggest("卡丢了怎么办")  # load the model now, not inside the first typed request
    server = start_server(app_factory(kb_copy, ENGINE=kb))
    server.db = Database(kb_copy.database_url)
    return server


def open_sidebar(page, url):
    page.set_viewport_size({"width": 420, "height": 900})
    browser_login(page, url, "agent1")  # an agent's home is the sidebar
    expect(page.locator("#sidebar")).to_be_visible()


def ask(page, text):
    """Clear the input as an agent would (Esc collapses, Esc again clears) and type the customer's words."""
    page.locator("#query").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.keyboard.type(text)
    # the text counts as typed (logged, kept for the call record) once the agent pauses
    expect(page.locator("#history-list li").first).to_have_text(text)


def test_sidebar_call_from_first_question_to_stored_record(page, private_server):
    url = private_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    open_sidebar(page, url)
    assert page.evaluate("document.activeElement.id") == "query"

    ask(page, "卡丢了怎么办")
    first = page.locator("#answers .ans").first
    expect(first).to_have_attribute("data-article-id", "lost-card-freeze")
    expect(first.locator(".badge")).to_have_text("流程")
    expect(first.locator(".ans-snippet mark").first).to_be_visible()
    expect(page.locator("#call-state")).to_have_attribute("data-state", "active")  # typing started the call
    page.keyboard.press("ArrowDown")
    expect(page.locator("#answers .ans").nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(first.locator(".ans-body")).to_be_visible()
    expect(first.locator(".ans-body")).not_to_be_empty()
    page.keyboard.press("Alt+C")
    expect(page.locator("#notice")).to_contain_text("已复制")
    assert "挂失" in page.evaluate("navigator.clipboard.readText()")
    with page.context.expect_page() as opened:
        page.keyboard.press("Alt+O")  # the whole article, scrolled to this section
    article = opened.value
    expect(article.locator("h1")).to_contain_text("银行卡挂失与冻结")
    expect(article.locator(".article-body .target-head")).to_have_text(first.locator(".ans-heading").inner_text())
    article.close()
    first.locator(".act-yes").click()
    expect(first.locator(".act-yes")).to_have_attribute("aria-pressed", "true")

    ask(page, "这个理财保本吗")
    wealth = page.locator(f"#disc-list .disc[data-id={WEALTH}]")
    expect(wealth.locator(".disc-say")).to_contain_text("不保证本金")
    expect(wealth.locator(".why")).to_contain_text("保本")

    ask(page, "我要去银保监会投诉你们")
    escalation = page.locator(f"#esc-list .esc[data-id={REGULATOR}]")
    expect(escalation.locator(".esc-steps li")).to_have_count(5)
    expect(escalation.locator(".why")).to_contain_text("银保监会")
    expect(wealth).to_be_visible()  # the checklist is for the whole call, not the current text
    expect(page.locator("#answers .ans").first).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "agent-sidebar")

    # ending with an unticked disclosure asks first (an in-page dialog); go back, tick everything, end
    page.keyboard.press("Alt+X")
    expect(page.locator("#end-dialog")).to_be_visible()
    expect(page.locator("#end-list")).to_contain_text("理财产品非保本")
    page.locator("#end-back").click()
    expect(page.locator("#end-dialog")).to_be_hidden()
    required = page.locator("#disc-list .disc").count()
    page.keyboard.press("Alt+K")
    expect(page.locator("#disc-list .disc.ticked")).to_have_count(1)
    unticked = page.locator("#disc-list .disc:not(.ticked) .disc-check")
    while unticked.count():
        unticked.first.check()
    expect(page.locator("#disc-count")).to_have_text(f"{required}/{required} 已说明")
    page.keyboard.press("Alt+X")
    expect(page.locator("#notice")).to_contain_text("通话记录已保存")
    expect(page.locator("#end-dialog")).to_be_hidden()
    expect(page.locator("#call-state")).to_have_attribute("data-state", "idle")

    with private_server.db.session() as s:
        record = s.scalars(select(CallRecord)).one()
        feedback = s.scalars(select(Feedback)).one()
        assert record.agent == "agent1" and record.duration_seconds >= 0 and record.wait_seconds == 0
        data = record.data
        assert (feedback.article_id, feedback.helpful, feedback.query) == ("lost-card-freeze", True, "卡丢了怎么办")
    assert data["texts"] == ["卡丢了怎么办", "这个理财保本吗", "我要去银保监会投诉你们"]
    assert WEALTH in data["disclosures_required"] and data["disclosures_ticked"] == data["disclosures_required"]
    assert len(data["disclosures_required"]) == required and data["unticked_confirmed"] is False
    assert [e["id"] for e in data["escalations"]] == [REGULATOR]
    assert {"expand", "copy", "article"} <= {o["action"] for o in data["answers_opened"]}
    assert any(a["article_id"] == "lost-card-freeze" for a in data["answers_shown"])
    assert data["feedback"] == [{"article_id": "lost-card-freeze", "heading": feedback.heading,
                                 "query": "卡丢了怎么办", "helpful": True}]


def test_timers_raise_escalations_without_new_text(page, live_server):
    page.clock.install()
    open_sidebar(page, live_server.url)
    page.keyboard.press("Alt+S")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "active")
    page.clock.fast_forward("05:05")  # the 15 s poll sends call_seconds past the rule's 300 s
    long_call = page.locator("#esc-list .esc[data-id=escalation-long-call]")
    expect(long_call.locator(".why")).to_contain_text("通话已持续")
    expect(page.locator("#esc-list .esc[data-id=escalation-long-wait]")).to_have_count(0)

    page.keyboard.press("Alt+W")
    expect(page.locator("#wait-btn")).to_have_attribute("aria-pressed", "true")
    page.clock.fast_forward("10:05")
    long_wait = page.locator("#esc-list .esc[data-id=escalation-long-wait]")
    expect(long_wait.locator(".why")).to_contain_text("客户已等待")
    expect(long_wait.locator(".esc-steps li").first).to_be_visible()
    page.keyboard.press("Alt+W")
    expect(page.locator("#wait-btn")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#wait-time")).to_have_text("10:05")
    long_wait.locator(".esc-done").click()
    expect(long_wait).to_have_class(re.compile(r"\bhandled\b"))


def test_outage_shows_banner_keeps_the_call_and_recovers(page, private_server):
    url = private_server.url
    open_sidebar(page, url)
    page.route("**/api/suggest", lambda route: route.abort())
    page.keyboard.type("卡丢了怎么办")
    banner = page.locator("#banner")
    expect(banner).to_have_text("连接中断，正在重试…")
    page.unroute("**/api/suggest")
    expect(banner).to_be_hidden()  # the back-off retry finds the server again
    expect(page.locator("#answers .ans").first).to_have_attribute("data-article-id", "lost-card-freeze")

    # a call ended while the server answers 503 is kept and uploaded once it is back
    page.route("**/agent/api/calls",
               lambda route: route.fulfill(status=503, json={"error": "maintenance", "status": 503}))
    page.keyboard.press("Alt+X")
    expect(banner).to_be_visible()
    page.reload()  # not even a reload loses it: it waits in localStorage
    expect(banner).to_be_visible()
    page.unroute("**/agent/api/calls")
    expect(page.locator("#notice")).to_contain_text("通话记录已保存", timeout=30000)
    expect(banner).to_be_hidden()
    with private_server.db.session() as s:
        assert s.scalars(select(CallRecord)).one().data["texts"] == ["卡丢了怎么办"]


def test_nothing_found_is_said_plainly_and_typed_markup_stays_text(page, private_server):
    open_sidebar(page, private_server.url)
    typed = "<img src=q id=injected>火星移民"
    page.keyboard.type(typed)
    expect(page.locator("#empty-text")).to_have_text(f"没有找到与「{typed}」直接相关的内容，下面是最接近的文章：")
    expect(page.locator("#answers .ans").first).to_be_visible()  # the closest articles, marked as such
    href = page.locator("#broader").get_attribute("href")
    assert href == "/search?q=%3Cimg%20src%3Dq%20id%3Dinjected%3E%E7%81%AB%E6%98%9F%E7%A7%BB%E6%B0%91"
    assert page.locator("#injected").count() == 0


def test_a_settled_text_raises_its_disclosure_after_the_agent_moved_on(page, private_server):
    """The answer for 「这个理财保本吗」 is held back until the agent is already on the next question: its disclosure
    must still join the checklist, and its answers must not replace the newer ones."""
    open_sidebar(page, private_server.url)
    held = []

    def slow_wealth_answer(route):
        if "保本" not in (route.request.post_data or ""):
            route.continue_()
        elif route.request.post_data_json.get("log"):
            held.append(route)
        else:
            route.fulfill(json={"answers": [], "disclosures": [], "escalations": []})

    page.route("**/api/suggest", slow_wealth_answer)
    page.keyboard.type("这个理财保本吗")
    page.keyboard.press("Enter")  # counts as typed at once
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the settled request was never sent"
    ask(page, "卡丢了怎么办")
    first = page.locator("#answers .ans").first
    expect(first).to_have_attribute("data-article-id", "lost-card-freeze")
    held[0].continue_()
    expect(page.locator(f"#disc-list .disc[data-id={WEALTH}]")).to_be_visible()
    expect(first).to_have_attribute("data-article-id", "lost-card-freeze")
    expect(page.locator("#history-list li")).to_have_text(["卡丢了怎么办", "这个理财保本吗"])


def test_a_reload_keeps_the_call_in_progress(page, private_server):
    open_sidebar(page, private_server.url)
    ask(page, "这个理财保本吗")
    expect(page.locator(f"#disc-list .disc[data-id={WEALTH}]")).to_be_visible()
    page.reload()
    expect(page.locator("#call-state")).to_have_attribute("data-state", "active")
    expect(page.locator(f"#disc-list .disc[data-id={WEALTH}] .disc-say")).to_contain_text("不保证本金")
    expect(page.locator("#history-list li")).to_have_text(["这个理财保本吗"])
    assert page.evaluate("document.activeElement.id") == "query"


def test_two_sidebar_tabs_show_one_call_and_store_it_once(page, private_server):
    """An agent who opens the sidebar twice still has one call: both tabs show it, ending it in either tab ends it in
    both, and the record is stored once (the other tab neither resurrects the call nor drops the upload)."""
    open_sidebar(page, private_server.url)
    second = page.context.new_page()
    second.set_viewport_size({"width": 420, "height": 900})
    second.goto(private_server.url + "/agent")
    ask(page, "这个理财保本吗")
    expect(second.locator("#call-state")).to_have_attribute("data-state", "active")
    expect(second.locator(f"#disc-list .disc[data-id={WEALTH}]")).to_be_visible()
    expect(second.locator("#history-list li")).to_have_text(["这个理财保本吗"])
    ask(second, "卡丢了怎么办")
    expect(page.locator("#history-list li")).to_have_text(["卡丢了怎么办", "这个理财保本吗"])  # newest first
    checks = second.locator("#disc-list .disc-check")
    for index in range(checks.count()):  # ticked in the second tab, ticked in the first
        checks.nth(index).check()
        expect(page.locator("#disc-list .disc-check").nth(index)).to_be_checked()
    second.keyboard.press("Alt+X")
    expect(second.locator("#notice")).to_contain_text("通话记录已保存")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "idle")
    ask(page, "网点几点开门")  # typing in the first tab starts a new call, not the old one
    page.keyboard.press("Alt+X")
    expect(page.locator("#notice")).to_contain_text("通话记录已保存")

    def stored_calls():
        with private_server.db.session() as s:
            return [(c.client_id, c.data) for c in s.scalars(select(CallRecord).order_by(CallRecord.id))]

    wait_until(lambda: len(stored_calls()) >= 2, what="both calls to be stored")
    # both tabs flush their shared outbox: wait until neither tab holds an upload, then count what the server kept
    for tab in (page, second):
        wait_until(lambda: tab.evaluate(OUTBOX_EMPTY), what="the tab's uploads to be accepted")
    calls = stored_calls()
    assert [data["texts"] for _, data in calls] == [["这个理财保本吗", "卡丢了怎么办"], ["网点几点开门"]]
    assert len({client_id for client_id, _ in calls}) == 2
    assert WEALTH in calls[0][1]["disclosures_ticked"]
    assert calls[0][1]["disclosures_ticked"] == calls[0][1]["disclosures_required"]
    second.close()
