"""The plain search page in a real browser: login, search, results with rules."""
from tests.helpers import browser_login, screenshot


def test_search_page_in_chromium(page, live_server):
    browser_login(page, live_server.url, "agent1")
    page.goto(f"{live_server.url}/search?q=这个理财保本吗")
    assert page.locator(".rule.disclosure h3").first.inner_text().startswith("须告知")
    assert page.locator(".answer").count() >= 1
    screenshot(page, "search-page")
