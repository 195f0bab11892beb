"""Hostile and broken input on every endpoint that takes text: a clear 4xx or a normal answer, never a 500, and a
refused request writes nothing.

Endpoints: /api/suggest, the editor's preview and save, the sidebar's call record and feedback, training answers.
"""
from __future__ import annotations

import html
import json

import pytest
from sqlalchemy import func, select

from kb.drafts import fields_from_article
from kb.models import ArticleDraft, ArticleRecord, ArticleVersion, CallRecord, Feedback, SuggestLog
from kb.store import version_article
from kb.training import questions as bank
from kb.training import quizzes
from kb.training.models import AttemptAnswer, Quiz, TrainingQuestion
from tests.helpers import Client

ARTICLE = "lost-card-freeze"
MB = 1024 * 1024
NESTED = "[" * 100_000 + "]" * 100_000
#: Texts agents (or a broken client) may send; every one must get a normal answer.
ODD_TEXTS = ["", " ", "\t\n\u3000 ", "\x00\x01\x1b[31m\x7f", "😀🏦💳" * 20, "卡丢了 card lost カード 카드 كارت",
             "\u202etxet\u202c", "\ud7ff\ue000\uffff", "a\u0300\u0301\u0302" * 30, "<script>alert(1)</script>",
             "' OR 1=1 --", "挂" * 2000, "ｸﾚｼﾞｯﾄ　ＡＢＣ１２３", "信用卡遺失怎麼辦"]
#: Bodies that are not a usable JSON object.
BAD_BODIES = [b"", b" ", b"null", b"[]", b'"text"', b"42", b"{", b'{"text": "a"', b"\xff\xfe\x00", b'{"text": "\xc3\x28"}',
              NESTED.encode(), b'{"text": ' + NESTED.encode() + b"}", b'{"text": NaN}']


def count(app, model) -> int:
    with app.extensions["kb.db"].session() as s:
        return s.scalar(select(func.count()).select_from(model))


def post_raw(client: Client, path: str, body: bytes, content_type="application/json"):
    return client.http.post(path, data=body, content_type=content_type, headers={"X-CSRF-Token": client.token})


def assert_clear_4xx(response, *codes):
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if codes:
        assert response.status_code in codes, response.status_code
    if response.is_json:
        assert response.get_json()["error"]
    else:
        assert "出错了" in response.get_data(as_text=True) or response.status_code in (409, 422)


@pytest.fixture
def private(kb_copy, app_factory):
    return app_factory(kb_copy)


# --- /api/suggest ---------------------------------------------------------------------------------------------------

def test_suggest_answers_every_odd_text(client_for):
    client = client_for("agent1")
    for text in ODD_TEXTS:
        response = client.post_json("/api/suggest", {"text": text, "log": False})
        assert response.status_code in (200, 413), (text[:20], response.status_code)
        data = response.get_json()
        assert set(data) == {"answers", "disclosures", "escalations"} if response.status_code == 200 else data["error"]


def test_suggest_refuses_broken_bodies_with_a_clear_4xx(private):
    client = Client(private, "agent1")
    before = count(private, SuggestLog)
    for body in BAD_BODIES:
        assert_clear_4xx(post_raw(client, "/api/suggest", body), 400, 413, 415)
    big = post_raw(client, "/api/suggest", json.dumps({"text": "挂" * MB}).encode())
    assert_clear_4xx(big, 413)
    one_mb = post_raw(client, "/api/suggest", b'{"text": "' + b"a" * MB + b'"}')
    assert_clear_4xx(one_mb, 413)
    assert_clear_4xx(post_raw(client, "/api/suggest", b'{"text": "x"}', "text/plain"), 415)
    assert_clear_4xx(post_raw(client, "/api/suggest", b"text=x", "application/x-www-form-urlencoded"), 415)
    for data in ({"text": 1}, {"text": None}, {"text": ["a"]}, {"text": {"a": 1}}, {"text": True},
                 {"text": "a", "k": "5"}, {"text": "a", "k": 1.5}, {"text": "a", "k": True}, {"text": "a", "k": 0},
                 {"text": "a", "k": 10 ** 30}, {"text": "a", "wait_seconds": "x"}, {"text": "a", "wait_seconds": -1},
                 {"text": "a", "call_seconds": [1]}, {"text": "a", "call_seconds": 1e309}):
        assert_clear_4xx(client.post_json("/api/suggest", data), 400)
    assert count(private, SuggestLog) == before  # nothing refused was logged


# --- editor: preview and save ---------------------------------------------------------------------------------------

def edit_form(app) -> dict:
    with app.extensions["kb.db"].session() as s:
        record = s.get(ArticleRecord, ARTICLE)
        return {**fields_from_article(version_article(record.current)), "expected_version": record.version,
                "draft_revision": 0}


def test_preview_takes_anything_and_says_what_is_wrong(client_for):
    client = client_for("editor1")
    big = client.post_json("/editor/preview", {"id": "big", "title": "大", "type": "procedure", "body": "x" * 600_000})
    assert big.status_code == 200 and big.get_json()["errors"]["body"]
    for text in ODD_TEXTS:
        response = client.post_json("/editor/preview", {"id": text[:100], "title": text, "type": "procedure",
                                                        "body": text, "tags": text, "timer_seconds": text})
        assert response.status_code == 200, (text[:20], response.status_code)
        assert "html" in response.get_json()
    odd_types = {"id": 1, "title": ["a"], "type": {"x": 1}, "body": None, "tags": 3.5, "timer_clock": "wait",
                 "timer_seconds": "²", "review_by": True}
    response = client.post_json("/editor/preview", odd_types)
    assert response.status_code == 200 and response.get_json()["errors"]
    for body in BAD_BODIES:
        if body != b'{"text": NaN}':  # an object: a form with no known field, answered normally
            assert_clear_4xx(post_raw(client, "/editor/preview", body), 400, 413, 415)
    assert_clear_4xx(post_raw(client, "/editor/preview", b'{"body": "' + b"a" * (3 * MB) + b'"}'), 413)


def test_editor_save_refuses_bad_input_and_writes_nothing(private):
    client = Client(private, "editor1")
    path = f"/editor/articles/{ARTICLE}/edit"
    before = (count(private, ArticleVersion), count(private, ArticleDraft))
    form = edit_form(private)
    cases = [
        {"body": ""}, {"body": " \n\t "}, {"title": ""}, {"title": "标" * 500}, {"type": "nonsense"},
        {"body": "x" * 600_000}, {"review_by": "2027-02-30"}, {"expected_version": "abc"},
        {"expected_version": "-1"}, {"draft_revision": "1e5"}, {"expected_version": "9" * 40},
        {"type": "escalation", "steps": "", "triggers": "", "examples": "", "timer_clock": "wait",
         "timer_seconds": "²"},
    ]
    for change in cases:
        response = client.http.post(path, data={**form, **change, "action": "publish", "csrf_token": client.token})
        assert 400 <= response.status_code < 500, (change, response.status_code)
        assert_clear_4xx(response, 400, 409, 413, 422)
    assert_clear_4xx(client.http.post(path, data={**form, "action": "", "csrf_token": client.token}), 400)
    huge = client.http.post(path, data={**form, "body": "x" * (3 * MB), "action": "draft",
                                        "csrf_token": client.token})
    assert_clear_4xx(huge, 413)
    assert (count(private, ArticleVersion), count(private, ArticleDraft)) == before
    raw = (f"csrf_token={client.token}&action=draft&expected_version=1&draft_revision=0&title=%FF%FE&type="
           f"procedure&body=%C3%28").encode()
    broken = client.http.post(path, data=raw, content_type="application/x-www-form-urlencoded")
    assert_clear_4xx(broken, 400)
    assert "'title' is not valid UTF-8" in html.unescape(broken.get_data(as_text=True))
    parts = {**form, "action": "draft", "csrf_token": client.token}
    multipart = b"".join(f'--b0\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                         + (b"\xc3\x28" if name == "body" else str(value).encode()) + b"\r\n"
                         for name, value in parts.items()) + b"--b0--\r\n"
    broken = client.http.post(path, data=multipart, content_type="multipart/form-data; boundary=b0")
    assert_clear_4xx(broken, 400)
    assert "'body' is not valid UTF-8" in html.unescape(broken.get_data(as_text=True))
    assert (count(private, ArticleVersion), count(private, ArticleDraft)) == before
    with private.extensions["kb.db"].session() as s:
        draft = s.get(ArticleDraft, ARTICLE)
        revision = draft.revision if draft else 0
    odd = client.http.post(path, data={**form, "title": "表情😀 mixed ｱｲｳ 繁體", "action": "draft",
                                       "draft_revision": revision, "body": form["body"] + "\n\n\x00\x1b控制字符 😀",
                                       "csrf_token": client.token})
    assert odd.status_code == 302  # an odd but harmless draft is kept as typed


# --- sidebar: call records and feedback -----------------------------------------------------------------------------

CALL = {"client_id": "hostile-1", "started_at": "2026-03-02T09:00:00Z", "ended_at": "2026-03-02T09:05:00Z",
        "duration_seconds": 300}


def test_call_records_and_feedback_refuse_bad_input_and_write_nothing(private):
    client = Client(private, "agent1")
    before = (count(private, CallRecord), count(private, Feedback))
    for path in ("/agent/api/calls", "/agent/api/feedback"):
        for body in BAD_BODIES:
            assert_clear_4xx(post_raw(client, path, body), 400, 413, 415)
        assert_clear_4xx(post_raw(client, path, b'{"texts": ["' + b"a" * MB + b'"]}'), 413)
    for change in ({"client_id": ""}, {"client_id": 5}, {"client_id": "x" * 1000}, {"started_at": "yesterday"},
                   {"ended_at": "2026-03-02T08:00:00Z"}, {"duration_seconds": "long"}, {"duration_seconds": -5},
                   {"duration_seconds": 1e309}, {"texts": "not a list"}, {"texts": [1, 2]}, {"texts": ["a"] * 100000},
                   {"disclosures": [{"id": None}]}, {"escalations": "x"}, {"answers_shown": [[[]]]},
                   {"unticked_confirmed": "yes"}, {"wait_seconds": 10 ** 6}):
        assert_clear_4xx(client.post_json("/agent/api/calls", {**CALL, **change}), 400, 413)
    for data in ({}, {"article_id": "no-such-article", "heading": "h", "query": "q", "helpful": True},
                 {"article_id": ARTICLE, "heading": "h", "query": "q", "helpful": "yes"},
                 {"article_id": ["x"], "heading": "h", "query": "q", "helpful": True},
                 {"article_id": ARTICLE, "heading": "h" * 10000, "query": "q", "helpful": True}):
        assert_clear_4xx(client.post_json("/agent/api/feedback", data), 400)
    assert (count(private, CallRecord), count(private, Feedback)) == before
    odd = {**CALL, "texts": ["😀卡丢了 card カード", "\x00\x1b", "  "]}
    assert client.post_json("/agent/api/calls", odd).status_code == 201
    vote = {"article_id": ARTICLE, "heading": "😀\x00", "query": "卡丢了 カード", "helpful": False}
    assert client.post_json("/agent/api/feedback", vote).status_code == 201


# --- training: answering a quiz -------------------------------------------------------------------------------------

def test_training_answers_refuse_bad_input_and_write_nothing(private):
    db = private.extensions["kb.db"]
    with db.session() as s:
        created = bank.generate(s, ["complaint-handling"], "trainer1").created
        for q in s.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(created))):
            bank.approve(s, q, "trainer1")
        quiz = quizzes.save_quiz(s, quizzes.parse_settings("测验", "60", "", "each"), created[:4], "trainer1")
        quizzes.publish(s, quiz, "trainer1")
        quizzes.assign(s, quiz, ["agent1"], "trainer1")
        quiz_id = quiz.id
    agent = Client(private, "agent1")
    attempt_path = agent.http.post(f"/training/my/{quiz_id}/start",
                                   data={"csrf_token": agent.token}).headers["Location"]
    answer_path = attempt_path + "/answer"
    with db.session() as s:
        item_id = s.get(Quiz, quiz_id).items[0].id
    for form in ({}, {"item": ""}, {"item": "abc"}, {"item": "9" * 30}, {"item": "-1"},
                 {"item": item_id, "choice": "abc"}, {"item": item_id, "choice": "-1"},
                 {"item": item_id, "choice": "9" * 30}, {"item": item_id, "text": "\x00 " * 10},
                 {"item": item_id, "pos-0": "x"}, {"item": item_id, "choice": "😀"}):
        response = agent.http.post(answer_path, data={**form, "csrf_token": agent.token})
        assert response.status_code in (302, 400, 403, 404), (form, response.status_code)
        assert response.status_code != 302 or "/attempts/" in response.headers["Location"]
    assert count(private, AttemptAnswer) == 0
    too_big = agent.http.post(answer_path, data={"item": item_id, "text": "a" * MB, "csrf_token": agent.token})
    assert_clear_4xx(too_big, 413)
    for path in ("/training/attempts/99999999999999999999999", "/training/quizzes/99999999999999999999999",
                 "/training/attempts/99999999999999999999999/feedback/1",
                 f"/editor/articles/{ARTICLE}/versions/99999999999999999999999"):
        assert agent.get(path).status_code in (403, 404), path
    admin = Client(private, "admin1")
    for path in ("/training/attempts/99999999999999999999999", "/training/quizzes/99999999999999999999999",
                 f"/editor/articles/{ARTICLE}/versions/99999999999999999999999"):
        assert_clear_4xx(admin.get(path), 404)
    for quiz in ("99999999999999999999999", "²", "-1"):
        assert_clear_4xx(admin.get(f"/training/results?quiz={quiz}"), 400)
    assert count(private, AttemptAnswer) == 0
