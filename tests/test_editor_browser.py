"""The editor workspace in Chromium: edit with live preview, publish, searchable without a restart, a conflicting save
refused with nothing lost, rollback."""
from __future__ import annotations

from playwright.sync_api import expect

from kb.models import ArticleRecord
from kb.store import version_article
from kb.users import create_user
from tests.helpers import PASSWORD, Client, browser_login, screenshot, wait_until

ARTICLE = "lost-card-freeze"
STEP = "3. 立即办理临时挂失，挂失后该卡不能再交易。"


def current(app):
    with app.extensions["kb.db"].session() as s:
        record = s.get(ArticleRecord, ARTICLE)
        return version_article(record.current), record.version, record.current.author


def suggest_finds(agent: Client, phrase: str, timeout: float = 20.0) -> bool:
    """Wait until /api/suggest, asked as an agent, has the phrase in the top answer's text."""
    def found():
        answers = agent.post_json("/api/suggest", {"text": phrase}).get_json()["answers"]
        return bool(answers) and answers[0]["article_id"] == ARTICLE and phrase in answers[0]["text"]
    return wait_until(found, timeout, f"the agents' search to find {phrase!r}")


def test_edit_preview_publish_search_conflict_rollback(browser, page, kb_copy, app_factory, start_server):
    app = app_factory(kb_copy)
    with app.extensions["kb.db"].session() as s:
        create_user(s, "editor2", "editor", PASSWORD, display_name="editor two")
    server = start_server(app)
    agent = Client(app, "agent1")
    original, _, _ = current(app)

    # Edit: the preview follows the typing (server-rendered with the agents' renderer).
    browser_login(page, server.url, "editor1")
    page.goto(f"{server.url}/editor/articles/{ARTICLE}/edit")
    phrase = "紫藤夜间挂失专线"
    body = page.locator("textarea[name=body]")
    assert STEP in body.input_value()
    body.fill(body.input_value().replace(STEP, f"3. 立即办理临时挂失，挂失后该卡不能再交易；夜间可拨打{phrase}。"))
    expect(page.locator("#preview")).to_contain_text(phrase)
    expect(page.locator(".preview-state")).to_have_text("已更新")
    page.set_viewport_size({"width": 1280, "height": 1500})   # the whole form and preview in one view, no scrolling
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "editor")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Publish: the editor sees the indexing state turn to searchable, and agents find the phrase, no restart.
    page.fill("input[name=message]", "加上夜间挂失专线")
    page.click("button[value=publish]")
    expect(page.locator(".flash")).to_contain_text("已发布版本 2")
    expect(page.locator(".index-status")).to_contain_text("已可搜索", timeout=20000)
    assert suggest_finds(agent, phrase), "published text not found through /api/suggest within 20 s"

    # Two editors start from version 2; the second to publish is refused and keeps their text.
    other = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        rival = other.new_page()
        browser_login(rival, server.url, "editor2")
        rival.goto(f"{server.url}/editor/articles/{ARTICLE}/edit")
        page.goto(f"{server.url}/editor/articles/{ARTICLE}/edit")
        rival_body = rival.locator("textarea[name=body]")
        rival_body.fill(rival_body.input_value() + "\n\n## 挂失后还能用手机银行吗\n可以查询，不能转账。")
        rival.click("button[value=publish]")
        expect(rival.locator(".flash")).to_contain_text("已发布版本 3")
    finally:
        other.close()
    mine = page.locator("textarea[name=body]")
    my_text = mine.input_value() + "\n\n## 挂失要收费吗\n临时挂失不收费。"
    mine.fill(my_text)
    page.click("button[value=publish]")
    expect(page.locator(".ed-conflict")).to_contain_text("发布被拒绝")
    expect(page.locator(".ed-conflict")).to_contain_text("editor2")
    expect(page.locator(".ed-conflict tr.diff-insert").first).to_be_visible()
    assert page.locator("textarea[name=body]").input_value() == my_text.strip()       # nothing lost
    article, version, author = current(app)
    assert (version, author) == (3, "editor2") and "挂失要收费吗" not in article.body
    page.set_viewport_size({"width": 1280, "height": 1900})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "editor-conflict")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Rollback to version 1: its text is published again as version 4.
    page.goto(f"{server.url}/editor/articles/{ARTICLE}/history")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[form=rollback-1]")
    expect(page.locator(".flash")).to_contain_text("版本 1 的内容已发布为版本 4")
    expect(page.locator(".ed-article-body")).not_to_contain_text(phrase)
    article, version, _ = current(app)
    assert version == 4 and article.body == original.body and article.content_hash() == original.content_hash()
    expect(page.locator(".index-status")).to_contain_text("已可搜索", timeout=20000)
    answers = agent.post_json("/api/suggest", {"text": phrase}).get_json()["answers"]
    assert all(phrase not in a["text"] for a in answers)
