"""Training in a real browser: trainer1 generates, approves, assembles, publishes and assigns; agent1 takes the quiz."""
import datetime as dt

from kb.training import attempts, quizzes
from kb.training.models import Quiz
from kb.users import create_user
from tests.helpers import PASSWORD, browser_login, screenshot


def _answer_in_page(page, snap, right: bool) -> None:
    options = snap["options"]
    if snap["mode"] == "order":
        order = snap["answer"] if right else list(reversed(snap["answer"]))
        for i, option in enumerate(options):
            page.select_option(f"select[name=pos-{i}]", str(order.index(option) + 1))
    elif snap["mode"] == "fill":
        page.fill("input[name=text]", snap["answer"] if right else "999")
    else:
        index = options.index(snap["answer"]) if right else (options.index(snap["answer"]) + 1) % len(options)
        page.check(f".choices input[value='{index}']")
    page.click("button:has-text('提交答案')")


def _other_agents_take(db, quiz_id: int) -> None:
    """Two more agents answer through the library, so the charts compare more than one person."""
    now = dt.datetime(2026, 3, 2, 10, 0)
    with db.session() as s:
        quiz = s.get(Quiz, quiz_id)
        for username, display, wrong in (("agent2", "王小红", {0, 2, 3}), ("agent3", "李明", {1})):
            create_user(s, username, "agent", PASSWORD, display_name=display)
            quizzes.assign(s, quiz, [username], "trainer1")
            attempt = attempts.start(s, quiz, username, now)
            for n, item in enumerate(quiz.items):
                snap = item.snapshot
                if n in wrong:
                    form = {"text": "0", "choice": str((snap["options"] + [""]).index(snap["answer"]) - 1)
                            if snap["mode"] == "choice" else "0"}
                    if snap["mode"] == "order":
                        form = {f"pos-{i}": str(len(snap["options"]) - i) for i in range(len(snap["options"]))}
                elif snap["mode"] == "order":
                    form = {f"pos-{i}": str(snap["answer"].index(o) + 1) for i, o in enumerate(snap["options"])}
                else:
                    form = {"text": snap["answer"], "choice": str(snap["options"].index(snap["answer"]))
                            if snap["mode"] == "choice" else ""}
                attempts.answer(s, attempt, item.id, form, now)


def test_trainer_publishes_agent_takes_results_show_score(browser, page, kb_copy, app_factory, start_server):
    app = app_factory(kb_copy)
    server = start_server(app)
    db = app.extensions["kb.db"]

    # trainer1: generate from two articles, approve all, assemble a quiz, publish it to agent1
    browser_login(page, server.url, "trainer1")
    page.goto(f"{server.url}/training/")
    page.check("input[name=article][value=complaint-handling]")
    page.check("input[name=article][value=script-apology]")
    page.click("button:has-text('生成题目')")
    assert "生成了" in page.locator(".flash").inner_text()
    screenshot(page, "training-review")
    page.check("input[data-select-all=ids]")
    page.click("button:has-text('批准所选')")
    assert "已批准" in page.locator(".flash").first.inner_text()
    page.goto(f"{server.url}/training/quizzes/new")
    page.fill("input[name=title]", "投诉处理入职测验")
    page.fill("input[name=pass_mark]", "60")
    page.check("input[name=feedback][value=each]")
    for family, count in (("fact", 2), ("order", 1), ("next_step", 1), ("script", 2)):
        boxes = page.locator(f"label.pick-row:has(.family-{family}) input")
        for i in range(count):
            boxes.nth(i).check()
    screenshot(page, "training-quiz-form")
    page.click("button:has-text('保存测验草稿')")
    page.check("input[name=agent][value=agent1]")
    page.click("button:has-text('发布测验')")
    assert "已发布" in page.locator(".flash").inner_text()
    quiz_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])

    # agent1: take it, one answer wrong, feedback after each answer with a link to the source
    agent = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    agent.set_default_timeout(15000)
    apage = agent.new_page()
    browser_login(apage, server.url, "agent1")
    apage.goto(f"{server.url}/training/")
    assert "投诉处理入职测验" in apage.inner_text(".quiz-cards")
    apage.click("button:has-text('开始测验')")
    with db.session() as s:
        snaps = [item.snapshot for item in s.get(Quiz, quiz_id).items]
    assert len(snaps) == 6
    for n, snap in enumerate(snaps):
        assert f"第 {n + 1} / 6 题" in apage.inner_text(".progress-line")
        if snap["mode"] == "order":
            screenshot(apage, "training-take")
        _answer_in_page(apage, snap, right=n != 1)
        verdict = apage.inner_text(".feedback .verdict")
        assert ("正确" in verdict) == (n != 1)
        if n == 1:
            screenshot(apage, "training-feedback")
        link = apage.locator(".feedback a.source").get_attribute("href")
        assert link.startswith("/agent/article/") or link.startswith("/search?q=")
        if n == 1:  # the source link opens the article the question came from
            apage.click(".feedback a.source")
            assert snap["article_title"] in apage.inner_text("main")
            apage.go_back()
        apage.click("a:has-text('下一题'), a:has-text('查看成绩')")
    assert apage.inner_text(".scorecard .score strong") == "83"
    assert "通过" in apage.inner_text(".scorecard .outcome")
    screenshot(apage, "training-agent-result")
    agent.close()

    # trainer1: the results show agent1's score, as charts and a table
    _other_agents_take(db, quiz_id)
    page.goto(f"{server.url}/training/")
    screenshot(page, "training-home")
    page.goto(f"{server.url}/training/quizzes/{quiz_id}")
    screenshot(page, "training-quiz")
    page.goto(f"{server.url}/training/results?quiz={quiz_id}")
    table = page.inner_text("#agents table")
    assert "agent1" in table and "83%" in table
    assert page.locator("#agents svg.chart rect.bar").count() == 3
    assert page.locator("#articles svg.chart rect.bar").count() == 2
    screenshot(page, "training")
