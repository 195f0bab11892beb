"""The training blueprint over HTTP: roles on every route, the trainer → agent flow, clear 4xx for bad input."""
import datetime as dt
import re

import pytest
from sqlalchemy import select

from kb.training.models import Attempt, Quiz, TrainingQuestion
from tests.helpers import Client


@pytest.fixture
def training_app(kb_copy, app_factory):
    return app_factory(kb_copy)


def _form(client: Client, path: str, data: dict, **kwargs):
    return client.http.post(path, data={**data, "csrf_token": client.token}, **kwargs)


def _db(app):
    return app.extensions["kb.db"]


def _approved_quiz(app, trainer: Client, feedback="each", families=("fact", "order", "script"), time_limit="") -> int:
    """Generate for two articles over HTTP, approve everything, build and publish a quiz assigned to agent1."""
    response = _form(trainer, "/training/generate", {"article": ["complaint-handling", "script-apology"]})
    assert response.status_code == 302 and "/training/questions" in response.headers["Location"]
    with _db(app).session() as s:
        rows = list(s.scalars(select(TrainingQuestion).order_by(TrainingQuestion.id)))
    assert rows
    assert _form(trainer, "/training/questions/review",
                 {"action": "approve", "ids": [q.id for q in rows]}).status_code == 302
    picked = []
    for family in families:
        picked += [q.id for q in rows if q.family == family][:2]
    response = _form(trainer, "/training/quizzes/new", {"title": "入职测验", "pass_mark": "60", "time_limit": time_limit,
                                                        "feedback": feedback, "question": picked})
    assert response.status_code == 302, response.get_data(as_text=True)
    quiz_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert _form(trainer, f"/training/quizzes/{quiz_id}/publish", {"agent": ["agent1"]}).status_code == 302
    return quiz_id


def _correct_form(snap: dict) -> dict:
    if snap["mode"] == "order":
        return {f"pos-{i}": str(snap["answer"].index(o) + 1) for i, o in enumerate(snap["options"])}
    if snap["mode"] == "fill":
        return {"text": snap["answer"]}
    return {"choice": str(snap["options"].index(snap["answer"]))}


def test_roles_are_enforced_on_every_route(training_app):
    agent, trainer, editor = (Client(training_app, u) for u in ("agent1", "trainer1", "editor1"))
    trainer_only = ["/training/questions", "/training/quizzes/new", "/training/quizzes/1", "/training/results",
                    "/training/results.csv", "/training/questions/1/edit", "/training/quizzes/1/edit"]
    for path in trainer_only:
        assert agent.get(path).status_code == 403, path
        assert editor.get(path).status_code == 403, path
    for path in ("/training/generate", "/training/questions/review", "/training/quizzes/1/publish",
                 "/training/quizzes/1/assign"):
        assert _form(agent, path, {}).status_code == 403, path
    for path in ("/training/my/1/start", "/training/attempts/1/answer"):
        assert _form(trainer, path, {}).status_code == 403, path
        assert _form(editor, path, {}).status_code == 403, path
    assert trainer.get("/training/attempts/1/feedback/1").status_code == 403
    assert editor.get("/training/").status_code == 403
    assert editor.get("/training/attempts/1").status_code == 403
    anonymous = Client(training_app)
    response = anonymous.get("/training/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "培训工作台" in trainer.get("/training/").get_data(as_text=True)
    assert "我的培训测验" in agent.get("/training/").get_data(as_text=True)


def test_trainer_builds_quiz_agent_takes_it_with_feedback_after_each_answer(training_app):
    trainer, agent = Client(training_app, "trainer1"), Client(training_app, "agent1")
    quiz_id = _approved_quiz(training_app, trainer)
    home = agent.get("/training/").get_data(as_text=True)
    assert "入职测验" in home and "开始测验" in home
    response = _form(agent, f"/training/my/{quiz_id}/start", {})
    attempt_path = response.headers["Location"]
    attempt_id = int(attempt_path.rsplit("/", 1)[-1])
    with _db(training_app).session() as s:
        items = [(i.id, i.snapshot) for i in s.get(Quiz, quiz_id).items]
    for n, (item_id, snap) in enumerate(items):
        page = agent.get(attempt_path).get_data(as_text=True)
        assert f"第 {n + 1} / {len(items)} 题" in page
        form = _correct_form(snap) if n else {"choice": "0"} if snap["mode"] == "choice" else {"text": "999"}
        if n == 0 and snap["mode"] == "order":
            form = {f"pos-{i}": str(len(snap["options"]) - i) for i in range(len(snap["options"]))}
        response = _form(agent, f"/training/attempts/{attempt_id}/answer", {"item": item_id, **form})
        assert response.status_code == 302 and "/feedback/" in response.headers["Location"]
        feedback = agent.get(response.headers["Location"]).get_data(as_text=True)
        assert "出处" in feedback and snap["article_title"] in feedback
        assert re.search(r'href="(/agent/article/[a-z0-9-]+(\?h=[^"]+)?|/search\?q=[^"]+)"', feedback)
    result = agent.get(attempt_path).get_data(as_text=True)
    assert "逐题回顾" in result
    with _db(training_app).session() as s:
        attempt = s.get(Attempt, attempt_id)
        assert attempt.finished_at is not None and attempt.total == len(items)
        first_right = items[0][1]["options"].index(items[0][1]["answer"]) == 0 if items[0][1]["mode"] == "choice" \
            else False
        assert attempt.correct == len(items) - 1 + int(first_right)
    results = trainer.get(f"/training/results?quiz={quiz_id}").get_data(as_text=True)
    assert "<svg" in results and "agent one" in results and "style=" not in results
    csv = trainer.get(f"/training/results.csv?quiz={quiz_id}&view=questions")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert len(csv.get_data(as_text=True).strip().splitlines()) == len(items) + 1
    assert trainer.get(f"/training/attempts/{attempt_id}").status_code == 200  # trainer drill-down


def test_feedback_at_the_end_hides_answers_until_finished(training_app):
    trainer, agent = Client(training_app, "trainer1"), Client(training_app, "agent1")
    quiz_id = _approved_quiz(training_app, trainer, feedback="end", families=("fact",))
    attempt_path = _form(agent, f"/training/my/{quiz_id}/start", {}).headers["Location"]
    attempt_id = int(attempt_path.rsplit("/", 1)[-1])
    with _db(training_app).session() as s:
        items = [(i.id, i.snapshot) for i in s.get(Quiz, quiz_id).items]
    answer_path = f"/training/attempts/{attempt_id}/answer"
    response = _form(agent, answer_path, {"item": items[0][0], **_correct_form(items[0][1])})
    assert response.headers["Location"].endswith(attempt_path)
    assert agent.get(f"/training/attempts/{attempt_id}/feedback/1").status_code == 403
    # Another agent cannot look at or answer this attempt, nor start a quiz not assigned to them.
    with _db(training_app).session() as s:
        from kb.users import create_user
        create_user(s, "agent2", "agent", "correct-horse-battery")
    other = Client(training_app, "agent2")
    assert other.get(attempt_path).status_code == 403
    assert _form(other, answer_path, {"item": items[1][0], "choice": "0"}).status_code == 403
    assert _form(other, f"/training/my/{quiz_id}/start", {}).status_code == 403
    for item_id, snap in items[1:]:
        _form(agent, f"/training/attempts/{attempt_id}/answer", {"item": item_id, **_correct_form(snap)})
    assert agent.get(f"/training/attempts/{attempt_id}/feedback/1").status_code == 200
    assert "100" in agent.get(attempt_path).get_data(as_text=True)


def test_bad_input_gets_a_clear_4xx_and_keeps_what_was_typed(training_app):
    trainer, agent = Client(training_app, "trainer1"), Client(training_app, "agent1")
    response = _form(trainer, "/training/generate", {})
    assert response.status_code == 302
    assert "请至少选择" in trainer.get("/training/").get_data(as_text=True)
    response = _form(trainer, "/training/generate", {"article": "no-such-article"})
    assert "没有这些已发布的文章" in trainer.get(response.headers["Location"]).get_data(as_text=True)
    page = _form(trainer, "/training/quizzes/new", {"title": "我的测验草稿", "pass_mark": "150", "feedback": "each"})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "及格线" in text and 'value="我的测验草稿"' in text and 'value="150"' in text
    assert _form(trainer, "/training/quizzes/new", {"title": "x", "pass_mark": "80", "feedback": "each",
                                                    "question": "abc"}).status_code == 400
    assert _form(trainer, "/training/quizzes/new", {"title": "x", "pass_mark": "80", "feedback": "each",
                                                    "question": "999999"}).status_code == 400
    assert _form(trainer, "/training/questions/review", {"action": "explode"}).status_code == 400
    assert trainer.get("/training/questions?status=bogus").status_code == 400
    assert trainer.get("/training/results.csv?view=bogus").status_code == 400
    assert trainer.get("/training/results?quiz=abc").status_code == 400
    assert trainer.get("/training/quizzes/999999").status_code == 404
    assert trainer.http.post("/training/generate", data={"article": "complaint-handling"}).status_code == 400  # CSRF
    quiz_id = _approved_quiz(training_app, trainer, families=("fact",))
    attempt_path = _form(agent, f"/training/my/{quiz_id}/start", {}).headers["Location"]
    attempt_id = int(attempt_path.rsplit("/", 1)[-1])
    with _db(training_app).session() as s:
        item_id = s.get(Quiz, quiz_id).items[0].id
    empty = _form(agent, f"/training/attempts/{attempt_id}/answer", {"item": item_id})
    assert empty.status_code == 400 and ("请选择一个答案" in empty.get_data(as_text=True)
                                         or "请填写答案" in empty.get_data(as_text=True))
    assert _form(agent, f"/training/attempts/{attempt_id}/answer", {"item": "x"}).status_code == 400
    with _db(training_app).session() as s:
        question_id = s.get(Quiz, quiz_id).items[0].question_id
    edit = _form(trainer, f"/training/questions/{question_id}/edit", {"prompt": "", "approve": "0"})
    assert edit.status_code == 400 and "题干不能为空" in edit.get_data(as_text=True)


def test_stale_questions_are_flagged_in_the_workspace(training_app):
    trainer = Client(training_app, "trainer1")
    _approved_quiz(training_app, trainer, families=("fact",))
    import dataclasses

    from kb.store import publish, published_articles
    with _db(training_app).session() as s:
        article = next(a for _, a in published_articles(s) if a.id == "complaint-handling")
        publish(s, dataclasses.replace(article, body=article.body + "\n\n补充说明。"), "editor1", "edit")
    home = trainer.get("/training/").get_data(as_text=True)
    assert "其来源文章已发布了新版本" in home
    stale = trainer.get("/training/questions?status=stale").get_data(as_text=True)
    assert "需复核" in stale and "重新批准" in stale
    new_quiz = trainer.get("/training/quizzes/new").get_data(as_text=True)
    assert "因来源文章更新而待复核" in new_quiz


def test_source_link_opens_the_section_or_falls_back_to_search(training_app):
    from flask import Flask, url_for

    from webapp.training import source_link
    with training_app.test_request_context():
        assert source_link("complaint-handling", "投诉受理与处理时限", "受理投诉的步骤") == \
            "/agent/article/complaint-handling?h=%E5%8F%97%E7%90%86%E6%8A%95%E8%AF%89%E7%9A%84%E6%AD%A5%E9%AA%A4"
        assert source_link("escalation-long-wait", "客户等待超过 10 分钟转主管", "升级步骤") == \
            "/agent/article/escalation-long-wait"
    bare = Flask(__name__)  # an app without the agent article page
    bare.add_url_rule("/search", "search.page", lambda: "")
    with bare.test_request_context():
        assert source_link("complaint-handling", "投诉受理与处理时限", "受理投诉的步骤") == \
            url_for("search.page", q="投诉受理与处理时限")


def test_time_limit_is_enforced_by_the_server_clock(training_app):
    clock = [dt.datetime(2026, 3, 2, 9, 0)]
    training_app.config["TRAINING_CLOCK"] = lambda: clock[0]
    trainer, agent = Client(training_app, "trainer1"), Client(training_app, "agent1")
    quiz_id = _approved_quiz(training_app, trainer, families=("fact",), time_limit="2")
    attempt_path = _form(agent, f"/training/my/{quiz_id}/start", {}).headers["Location"]
    page = agent.get(attempt_path).get_data(as_text=True)
    assert 'data-seconds="120"' in page and "剩余 2 分 0 秒" in page
    clock[0] += dt.timedelta(minutes=2, seconds=1)
    result = agent.get(attempt_path).get_data(as_text=True)
    assert "未通过" in result and "未作答（时间已到）" in result and "按答错计" in result
    with _db(training_app).session() as s:
        item_id = s.get(Quiz, quiz_id).items[0].id
    late = _form(agent, f"/training/attempts/{int(attempt_path.rsplit('/', 1)[-1])}/answer",
                 {"item": item_id, "choice": "0"})
    assert late.status_code == 302
    assert "已经结束" in agent.get(late.headers["Location"]).get_data(as_text=True)
