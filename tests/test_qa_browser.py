"""The QA view in a real browser: trainer1 finds the weakest agent, opens a call, and one click gives agent1 a quiz
on the disclosures they missed; agent1 sees it among their quizzes."""
from kb.training.models import Quiz
from tests.helpers import Client, browser_login, screenshot, wait_until
from tests.test_qa import _live_call, _typed_call_over_http, live_data


def test_trainer_reviews_calls_and_assigns_a_quiz_from_misses(browser, page, kb_copy, app_factory, start_server):
    app = app_factory(kb_copy)
    server = start_server(app)
    db = app.extensions["kb.db"]
    _typed_call_over_http(Client(app, "agent1"))
    live_id = _live_call(app, "agent1", "live-browser", live_data())

    browser_login(page, server.url, "trainer1")
    page.goto(f"{server.url}/training/")
    page.click("a:has-text('通话质检')")
    agent_row = page.locator("tr[data-agent=agent1]")
    assert "通话录音告知" in agent_row.inner_text()
    page.click(f"tr[data-call='{live_id}'] a:has-text('详情')")
    said = page.locator("tr[data-rule=disclosure-wealth-not-guaranteed]")
    assert "已告知" in said.inner_text() and "自动识别" in said.inner_text() and "0.93" in said.inner_text()
    assert "漏告知" in page.locator("tr[data-rule=disclosure-call-recording]").inner_text()
    screenshot(page, "qa-call")

    page.click("h1 a:has-text('agent1')")
    page.click("#qa-build-quiz")
    assert "补课测验" in page.locator(".flash").inner_text()
    screenshot(page, "qa-quiz")

    def quiz_for_agent1():
        with db.session() as s:
            return any("agent1" in {a.username for a in q.assignments} for q in s.query(Quiz).all())
    wait_until(quiz_for_agent1, what="the remedial quiz assigned to agent1")

    page.context.clear_cookies()
    browser_login(page, server.url, "agent1")
    page.goto(f"{server.url}/training/")
    assert "通话补课" in page.locator("main").inner_text()
