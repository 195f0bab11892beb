"""Agent sidebar at the HTTP level: the page, whole-article pages, feedback and call records (with bad input)."""
import datetime as dt
import re

import pytest
from sqlalchemy import select

from kb.articles import parse_article
from kb.calls import FEEDBACK_MERGE_SECONDS
from kb.db import Database
from kb.models import ArticleRecord, CallRecord, Feedback
from kb.store import publish
from tests.helpers import Client, run_together

CALL = {
    "client_id": "c0ffee01",
    "started_at": "2026-03-02T01:00:00.000Z",
    "ended_at": "2026-03-02T01:06:40.000Z",
    "duration_seconds": 400,
    "wait_seconds": 35,
    "texts": ["这个理财保本吗", "我要去银保监会投诉你们"],
    "answers_shown": [{"query": "这个理财保本吗", "article_id": "wealth-management-products",
                       "heading": "理财产品保本吗，收益有保证吗", "title": "理财产品"}],
    "answers_opened": [{"article_id": "wealth-management-products", "heading": "理财产品保本吗，收益有保证吗",
                        "action": "expand", "at": 12}],
    "feedback": [{"article_id": "wealth-management-products", "heading": "理财产品保本吗，收益有保证吗",
                  "query": "这个理财保本吗", "helpful": True}],
    "disclosures": [
        {"id": "disclosure-wealth-not-guaranteed", "title": "理财产品非保本", "reason": "提到「保本」",
         "how": "trigger", "fired_at": 3, "ticked": True, "ticked_at": 40},
        {"id": "disclosure-insurance-cooling-off", "title": "保险犹豫期", "reason": "意思相近", "how": "semantic",
         "fired_at": 3, "ticked": False, "ticked_at": None},
    ],
    "escalations": [{"id": "escalation-regulator-complaint", "title": "监管投诉", "reason": "提到「银保监会」",
                     "how": "trigger", "fired_at": 60, "handled": True}],
    "unticked_confirmed": True,
}


@pytest.fixture
def private(kb_copy, app_factory):
    """An app on a private KB copy (these tests write), an agent client and the copy's database."""
    app = app_factory(kb_copy)
    return Client(app, "agent1"), Database(kb_copy.database_url)


def test_sidebar_page_serves_agent_roles_without_inline_code(client_for):
    for user in ("agent1", "editor1", "trainer1", "admin1"):
        assert client_for(user).get("/agent").status_code == 200, user
    html = client_for("agent1").get("/agent").get_data(as_text=True)
    assert 'id="query"' in html and "js/sidebar/main.js" in html and "css/sidebar.css" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script breaks the CSP"
    assert not re.search(r"\sstyle=|\son[a-z]+=", html), "inline style or handler breaks the CSP"
    assert "Alt+C" in html and "Alt+W" in html  # shortcuts are shown in the UI


def test_sidebar_needs_login(client_for):
    response = client_for().get("/agent")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_article_page_renders_published_article(client_for):
    client = client_for("agent1")
    page = client.get("/agent/article/lost-card-freeze").get_data(as_text=True)
    assert "银行卡挂失与冻结" in page and "<h2>" in page and "data-article-page" in page
    disclosure = client.get("/agent/article/disclosure-wealth-not-guaranteed").get_data(as_text=True)
    assert "须告知的话" in disclosure and "不保证本金" in disclosure
    escalation = client.get("/agent/article/escalation-regulator-complaint").get_data(as_text=True)
    assert "升级步骤" in escalation and "<ol>" in escalation
    missing = client.get("/agent/article/no-such-article")
    assert missing.status_code == 404 and "no-such-article" in missing.get_data(as_text=True)


def test_article_page_is_sanitised_and_hides_archived(private):
    client, db = private
    text = ("---\nid: hostile-article\ntitle: 含有脚本的文章\ntype: procedure\ntags: [测试]\n---\n"
            "## 步骤\n<script>alert(1)</script>\n[点我](javascript:alert(2))\n\n<img src=x onerror=alert(3)>\n")
    with db.session() as s:
        publish(s, parse_article(text), author="editor1")
    page = client.get("/agent/article/hostile-article").get_data(as_text=True)
    assert "含有脚本的文章" in page
    assert "<script>alert" not in page and "javascript:" not in page and "onerror" not in page
    with db.session() as s:
        s.get(ArticleRecord, "hostile-article").archived = True
    assert client.get("/agent/article/hostile-article").status_code == 404


def test_feedback_is_stored(private):
    client, db = private
    response = client.post_json("/agent/api/feedback", {"article_id": "lost-card-freeze", "heading": "挂失后怎么补卡",
                                                        "query": "卡丢了怎么办", "helpful": False})
    assert response.status_code == 201
    with db.session() as s:
        row = s.get(Feedback, response.get_json()["id"])
        assert (row.user, row.article_id, row.heading, row.query, row.helpful) == \
            ("agent1", "lost-card-freeze", "挂失后怎么补卡", "卡丢了怎么办", False)


def test_a_retried_or_changed_vote_is_one_vote_and_a_later_call_counts_again(private):
    client, db = private
    vote = {"article_id": "lost-card-freeze", "heading": "挂失后怎么补卡", "query": "卡丢了怎么办", "helpful": False}
    first = client.post_json("/agent/api/feedback", vote)
    retried = client.post_json("/agent/api/feedback", vote)  # the response was lost; the sidebar sends it again
    changed = client.post_json("/agent/api/feedback", {**vote, "helpful": True})
    assert (first.status_code, retried.status_code, changed.status_code) == (201, 200, 200)
    assert first.get_json()["id"] == retried.get_json()["id"] == changed.get_json()["id"]
    with db.session() as s:
        rows = list(s.scalars(select(Feedback)))
        assert [(r.helpful, r.query) for r in rows] == [(True, "卡丢了怎么办")]
        rows[0].at -= dt.timedelta(seconds=FEEDBACK_MERGE_SECONDS + 1)  # the same question on a later call
    assert client.post_json("/agent/api/feedback", vote).status_code == 201
    assert client.post_json("/agent/api/feedback", {**vote, "query": "卡丢了"}).status_code == 201
    with db.session() as s:
        assert sorted(r.helpful for r in s.scalars(select(Feedback))) == [False, False, True]


@pytest.mark.parametrize("body, status, message", [
    ({"heading": "x", "helpful": True}, 400, "article_id"),
    ({"article_id": "lost-card-freeze", "helpful": "yes"}, 400, "helpful"),
    ({"article_id": "no-such-article", "helpful": True}, 400, "no article"),
    ({"article_id": "lost-card-freeze", "helpful": True, "query": "挂" * 2001}, 400, "query"),
    (["not", "an", "object"], 400, "object"),
])
def test_feedback_bad_input_gets_clear_400(private, body, status, message):
    client, db = private
    response = client.post_json("/agent/api/feedback", body)
    assert response.status_code == status and message in response.get_json()["error"]
    with db.session() as s:
        assert s.scalars(select(Feedback)).first() is None


def test_feedback_and_calls_need_login_and_csrf(private):
    client, _ = private
    anonymous = Client(client.app)
    anonymous.refresh_token()
    assert anonymous.post_json("/agent/api/feedback", {}).status_code == 401
    assert anonymous.post_json("/agent/api/calls", CALL).status_code == 401
    no_token = client.http.post("/agent/api/calls", json=CALL)
    assert no_token.status_code == 400 and "CSRF" in no_token.get_json()["error"]


def test_call_record_is_stored_once_with_its_disclosures(private):
    client, db = private
    first = client.post_json("/agent/api/calls", CALL)
    assert first.status_code == 201 and first.get_json()["created"] is True
    retry = client.post_json("/agent/api/calls", CALL)  # the sidebar retries when the answer was lost
    assert retry.status_code == 200 and retry.get_json() == {"id": first.get_json()["id"], "created": False}
    with db.session() as s:
        records = s.scalars(select(CallRecord)).all()
        assert len(records) == 1
        record = records[0]
        assert (record.agent, record.duration_seconds, record.wait_seconds) == ("agent1", 400, 35)
        assert record.started_at.isoformat() == "2026-03-02T01:00:00" and record.ended_at.minute == 6
        data = record.data
    assert data["texts"] == CALL["texts"]
    assert data["disclosures_required"] == ["disclosure-wealth-not-guaranteed", "disclosure-insurance-cooling-off"]
    assert data["disclosures_ticked"] == ["disclosure-wealth-not-guaranteed"]
    assert data["escalations"][0]["id"] == "escalation-regulator-complaint" and data["unticked_confirmed"] is True
    assert data["answers_opened"][0]["action"] == "expand" and data["feedback"][0]["helpful"] is True


def test_racing_uploads_of_one_call_store_one_record(private):
    """Two tabs (two logged-in clients of one agent) upload the same call at once, then a replay of the request
    arrives: the unique constraint leaves one record, one upload gets 201 and every other one 200 with its id."""
    client, db = private
    tabs = [client, Client(client.app, "agent1")]
    for attempt in range(10):
        call = {**CALL, "client_id": f"race-{attempt}"}
        responses = run_together(lambda tab: tabs[tab].post_json("/agent/api/calls", call), range(2))
        responses.append(client.post_json("/agent/api/calls", call))  # a retry after a lost response
        assert sorted(r.status_code for r in responses) == [200, 200, 201]
        assert len({r.get_json()["id"] for r in responses}) == 1
    with db.session() as s:
        stored = [r.client_id for r in s.scalars(select(CallRecord))]
    assert sorted(stored) == [f"race-{attempt}" for attempt in range(10)]


def test_racing_copies_of_one_vote_store_one_row(private):
    client, db = private
    vote = {"article_id": "lost-card-freeze", "heading": "挂失后怎么补卡", "query": "卡丢了怎么办", "helpful": True}
    for attempt in range(10):
        responses = run_together(lambda _: client.post_json("/agent/api/feedback", {**vote, "query": f"卡丢了 {attempt}"}),
                                 range(2))
        assert sorted(r.status_code for r in responses) == [200, 201]
    with db.session() as s:
        assert len(s.scalars(select(Feedback)).all()) == 10


@pytest.mark.parametrize("change, field", [
    ({"client_id": ""}, "client_id"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"ended_at": "2026-03-02T00:59:00Z"}, "ended_at"),
    ({"duration_seconds": -5}, "duration_seconds"),
    ({"duration_seconds": "400"}, "duration_seconds"),
    ({"wait_seconds": 9000}, "wait_seconds"),
    ({"texts": "这个理财保本吗"}, "texts"),
    ({"texts": [1]}, "texts[0]"),
    ({"answers_opened": [{"article_id": "x", "action": "delete"}]}, "answers_opened[0].action"),
    ({"disclosures": [{"id": "d", "ticked": "yes"}]}, "disclosures[0].ticked"),
    ({"disclosures": [{"id": "d", "ticked": True}, {"id": "d", "ticked": False}]}, "disclosures[1].id"),
    ({"escalations": [{"title": "no id"}]}, "escalations[0].id"),
    ({"feedback": [{"article_id": "x"} for _ in range(501)]}, "feedback"),
])
def test_call_record_bad_input_names_the_field(private, change, field):
    client, db = private
    response = client.post_json("/agent/api/calls", {**CALL, **change})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(field + ":"), response.get_json()
    with db.session() as s:
        assert s.scalars(select(CallRecord)).first() is None
