"""The compliance-prompt loop at the HTTP level: dismissals in call records, content health's dismissal report and its
one-click counter-examples, the 「试一试」 endpoint, and the rule fields of the edit form."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import select

from indexer.rule_tryout import try_rules
from kb.models import ArticleRecord, ArticleVersion, CallRecord
from kb.store import version_article
from tests.helpers import Client
from tests.test_agent_sidebar import CALL

REGULATOR = "escalation-regulator-complaint"
WEALTH = "disclosure-wealth-not-guaranteed"
RESULT_KEYS = {"id", "title", "type", "how", "reason", "score", "draft"}


@pytest.fixture
def copy_app(kb, kb_copy, app_factory):
    return app_factory(kb_copy, ENGINE=kb)


def rule_version(app, rule_id=REGULATOR):
    with app.extensions["kb.db"].session() as s:
        record = s.get(ArticleRecord, rule_id)
        return version_article(record.current), record.version


def fired(rule_id: str, text: str, dismissed: bool, reason: str = "") -> dict:
    return {"id": rule_id, "title": rule_id, "reason": "x", "how": "trigger", "fired_at": 5, "text": text,
            "dismissed": dismissed, "dismiss_reason": reason, "dismissed_at": 9 if dismissed else None}


def upload(agent: Client, number: int, escalations=(), disclosures=(), days_ago: int = 0):
    ended = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)
    call = {**CALL, "client_id": f"loop-{number}", "escalations": list(escalations),
            "disclosures": [{**d, "ticked": False, "ticked_at": None} for d in disclosures],
            "started_at": (ended - dt.timedelta(seconds=400)).isoformat(), "ended_at": ended.isoformat()}
    response = agent.post_json("/agent/api/calls", call)
    assert response.status_code == 201, response.get_json()


# --- call records ---------------------------------------------------------------------------------------------------

def test_call_record_keeps_what_raised_each_prompt_and_its_dismissal(copy_app):
    agent = Client(copy_app, "agent1")
    upload(agent, 1, escalations=[fired(REGULATOR, "我要去银保监会投诉你们", True, "客户没有这个意思")],
           disclosures=[fired(WEALTH, "这个理财保本吗", False)])
    with copy_app.extensions["kb.db"].session() as s:
        data = s.scalars(select(CallRecord)).one().data
    assert data["escalations"][0] == {
        "id": REGULATOR, "title": REGULATOR, "reason": "x", "how": "trigger", "fired_at": 5.0,
        "text": "我要去银保监会投诉你们", "dismissed": True, "dismiss_reason": "客户没有这个意思", "dismissed_at": 9.0,
        "handled": False}
    assert (data["disclosures"][0]["dismissed"], data["disclosures"][0]["dismissed_at"]) == (False, None)
    assert data["disclosures"][0]["text"] == "这个理财保本吗"


@pytest.mark.parametrize("item, field", [
    ({"id": "e", "dismissed": "yes"}, "escalations[0].dismissed"),
    ({"id": "e", "dismissed": 1}, "escalations[0].dismissed"),
    ({"id": "e", "text": 5}, "escalations[0].text"),
    ({"id": "e", "text": "投" * 2001}, "escalations[0].text"),
    ({"id": "e", "dismissed": True, "dismiss_reason": ["客户没有这个意思"]}, "escalations[0].dismiss_reason"),
    ({"id": "e", "dismissed": True, "dismiss_reason": "因" * 201}, "escalations[0].dismiss_reason"),
    ({"id": "e", "dismissed": True, "dismissed_at": -1}, "escalations[0].dismissed_at"),
    ({"id": "e", "dismissed": True, "dismissed_at": "10"}, "escalations[0].dismissed_at"),
    ({"id": "e", "dismissed": False, "dismiss_reason": "已处理过"}, "escalations[0].dismissed"),
])
def test_bad_dismissal_fields_get_a_400_naming_the_field(copy_app, item, field):
    agent = Client(copy_app, "agent1")
    response = agent.post_json("/agent/api/calls", {**CALL, "escalations": [item]})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(field + ":"), response.get_json()
    disclosure = agent.post_json("/agent/api/calls", {**CALL, "disclosures": [{**item, "ticked": False}]})
    assert disclosure.status_code == 400
    assert disclosure.get_json()["error"].startswith(field.replace("escalations", "disclosures") + ":")
    with copy_app.extensions["kb.db"].session() as s:
        assert s.scalars(select(CallRecord)).first() is None


# --- content health -------------------------------------------------------------------------------------------------

def test_health_ranks_rules_by_dismissal_rate_and_adds_counter_examples(copy_app):
    agent, editor = Client(copy_app, "agent1"), Client(copy_app, "editor1")
    upload(agent, 1, escalations=[fired(REGULATOR, "我要去银保监会投诉你们", True, "客户没有这个意思")],
           disclosures=[fired(WEALTH, "这个理财<img src=x onerror=alert(1)>", True, "已处理过")])
    upload(agent, 2, escalations=[fired(REGULATOR, "我要去銀保監會投訴你們", True, "已处理过")],  # same text, traditional
           disclosures=[fired(WEALTH, "这个理财保本吗", False)])
    upload(agent, 3, escalations=[fired(REGULATOR, "<b>客户说起诉你们</b>", False)],
           disclosures=[fired(WEALTH, "保本吗", False)])
    upload(agent, 4, disclosures=[fired(WEALTH, "保本型的有吗", True)], days_ago=40)  # outside the default window
    dismissals = lambda query="": editor.get("/editor/health" + query).get_data(as_text=True) \
        .split('id="dismissals"')[1].split("</section>")[0]
    rows = lambda section: re.findall(r'<tr data-rule="([^"]+)">.*?<td class="num bad">(\d+)</td><td class="num">'
                                      r'(\d+)</td><td class="num">(\d+)%</td>', section, re.S)
    section = dismissals()
    assert rows(section) == [(REGULATOR, "2", "3", "67"), (WEALTH, "1", "3", "33")]   # highest rate first
    assert rows(dismissals("?days=60")) == [(REGULATOR, "2", "3", "67"), (WEALTH, "2", "4", "50")]
    regulator = section.split(f'data-rule="{REGULATOR}"')[1].split("</tr>")[0]
    assert regulator.count('class="dismissal-text"') == 1 and "×2" in regulator     # one wording, two scripts
    assert "客户没有这个意思；已处理过" in regulator and "&lt;b&gt;" not in regulator  # undismissed text not listed
    assert "近 30 天" in section and "保本型的有吗" not in section
    assert "这个理财&lt;img src=x onerror=alert(1)&gt;" in section and "<img" not in section  # typed text stays text

    text = re.search(r'name="text" value="([^"]+)"', regulator).group(1)
    form = {"text": text, "expected_version": 1, "csrf_token": editor.token}
    before = rule_version(copy_app)[0].counter_examples
    assert editor.http.post(f"/editor/articles/{REGULATOR}/counter-examples", data=form).status_code == 302
    rule, version = rule_version(copy_app)
    assert version == 2 and rule.counter_examples == before + ["我要去银保监会投诉你们"]
    assert "已加为反例" in editor.get("/editor/health").get_data(as_text=True).split('id="dismissals"')[1]
    again = editor.http.post(f"/editor/articles/{REGULATOR}/counter-examples", data={**form, "expected_version": 2})
    assert again.status_code == 302 and rule_version(copy_app)[1] == 2                  # already there: no version
    stale = editor.http.post(f"/editor/articles/{REGULATOR}/counter-examples",
                             data={**form, "text": "客户说起诉你们", "expected_version": 1})
    assert stale.status_code == 409 and "v2" in stale.get_data(as_text=True)
    assert rule_version(copy_app)[1] == 2


def test_counter_example_form_refuses_bad_input(copy_app):
    editor = Client(copy_app, "editor1")
    post = lambda article_id, **data: editor.http.post(f"/editor/articles/{article_id}/counter-examples",
                                                       data={"expected_version": 1, "csrf_token": editor.token,
                                                             **data})
    assert post(REGULATOR, text="  ").status_code == 400
    assert post(REGULATOR, text="投" * 2001).status_code == 400
    assert post(REGULATOR, text="有\u202e控制字符").status_code == 400
    assert post(REGULATOR, text="x", expected_version="v1").status_code == 400
    assert post("lost-card-freeze", text="卡丢了").status_code == 400            # not a rule
    assert post("no-such-rule", text="x").status_code == 404
    no_csrf = editor.http.post(f"/editor/articles/{REGULATOR}/counter-examples", data={"text": "x",
                                                                                       "expected_version": 1})
    assert no_csrf.status_code == 400
    agent = Client(copy_app, "agent1")
    assert agent.http.post(f"/editor/articles/{REGULATOR}/counter-examples",
                           data={"text": "x", "expected_version": 1, "csrf_token": agent.token}).status_code == 403
    assert rule_version(copy_app)[1] == 1


# --- 试一试 ---------------------------------------------------------------------------------------------------------

def test_try_rules_puts_the_draft_in_place_of_the_published_rule(kb):
    with_trigger = "那我打12315问问"  # a hotline the published rule does not know (nor this wording, by meaning)
    published = {r["id"] for r in try_rules(kb, with_trigger, None)}
    assert REGULATOR not in published
    from kb.db import Database
    with Database(kb.settings.database_url).session() as s:
        rule = version_article(s.get(ArticleRecord, REGULATOR).current)
    draft = dataclasses.replace(rule, triggers=[*rule.triggers, "12315"])
    [hit] = [r for r in try_rules(kb, with_trigger, draft) if r["id"] == REGULATOR]
    assert set(hit) == RESULT_KEYS
    assert (hit["draft"], hit["how"], hit["reason"], hit["score"]) == (True, "trigger", "提到「12315」", 1.0)
    # the draft replaces the published rule: without 银保监会 among its triggers, the old trigger no longer fires
    no_trigger = dataclasses.replace(rule, triggers=["12315"])
    hits = [r for r in try_rules(kb, "我要去银保监会", no_trigger) if r["id"] == REGULATOR]
    assert all(r["draft"] and r["how"] != "trigger" for r in hits)
    assert [r["draft"] for r in try_rules(kb, "我要去银保监会", None) if r["id"] == REGULATOR] == [False]


def test_try_rules_endpoint(copy_app):
    editor = Client(copy_app, "editor1")
    fields = {"id": "new-consumer-association", "title": "消协投诉", "type": "escalation", "triggers": "消费者协会",
              "examples": "我去消协告你们", "steps": ""}  # not publishable yet (no steps): still worth trying
    response = editor.post_json("/editor/try-rules", {"text": "我要去消费者协会", "fields": fields})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["draft"] == "new-consumer-association"
    assert body["results"][0] == {"id": "new-consumer-association", "title": "消协投诉", "type": "escalation",
                                       "how": "trigger", "reason": "提到「消费者协会」", "score": 1.0, "draft": True}
    answer_form = editor.post_json("/editor/try-rules", {"text": "我要去银保监会", "fields": {"type": "procedure"}})
    assert [(r["id"], r["draft"]) for r in answer_form.get_json()["results"]] == [(REGULATOR, False)]

    assert editor.post_json("/editor/try-rules", {"text": "  ", "fields": fields}).status_code == 400
    assert editor.post_json("/editor/try-rules", {"fields": fields}).status_code == 400
    assert editor.post_json("/editor/try-rules", {"text": "x", "fields": ["a"]}).status_code == 400
    assert editor.post_json("/editor/try-rules", {"text": "投" * 2001, "fields": fields}).status_code == 413
    no_csrf = editor.http.post("/editor/try-rules", json={"text": "x", "fields": fields})
    assert no_csrf.status_code == 400 and "CSRF" in no_csrf.get_json()["error"]
    for user in ("agent1", "trainer1"):
        assert Client(copy_app, user).post_json("/editor/try-rules", {"text": "x"}).status_code == 403


# --- the edit form's rule fields ------------------------------------------------------------------------------------

def test_requires_must_name_published_rules(copy_app):
    editor = Client(copy_app, "editor1")
    form = {"id": "x-y", "title": "标题", "type": "procedure", "body": "## 步骤\n1. 第一步"}
    preview = lambda requires: editor.post_json("/editor/preview", {**form, "requires": requires}).get_json()["errors"]
    assert preview(f"{WEALTH}\n{REGULATOR}") == {}
    assert "“no-such-rule” 不是已发布的须告知或升级规则" in preview(f"{WEALTH}\nno-such-rule")["requires"]
    assert "lost-card-freeze" in preview("lost-card-freeze")["requires"]           # an answer, not a rule
    assert "不是有效的文章 ID" in preview("Bad Id")["requires"]

    page = editor.get("/editor/articles/lost-card-freeze/edit").get_data(as_text=True)
    token = editor.token
    response = editor.http.post("/editor/articles/lost-card-freeze/edit", data={
        **fields_of(copy_app, "lost-card-freeze"), "requires": "no-such-rule", "action": "publish",
        "expected_version": 1, "draft_revision": 0, "csrf_token": token})
    assert response.status_code == 422
    assert re.search(r'data-error-for="requires"[^>]*>“no-such-rule” 不是已发布', response.get_data(as_text=True))
    assert 'name="requires"' in page
    ok = editor.http.post("/editor/articles/lost-card-freeze/edit", data={
        **fields_of(copy_app, "lost-card-freeze"), "requires": WEALTH, "action": "publish", "expected_version": 1,
        "draft_revision": 0, "csrf_token": token})
    assert ok.status_code == 302
    assert rule_version(copy_app, "lost-card-freeze")[0].requires == [WEALTH]


def test_counter_examples_are_edited_one_per_line(copy_app):
    editor = Client(copy_app, "editor1")
    page = editor.get(f"/editor/articles/{REGULATOR}/edit").get_data(as_text=True)
    assert 'name="counter_examples"' in page and 'class="tryout' in page
    response = editor.http.post(f"/editor/articles/{REGULATOR}/edit", data={
        **fields_of(copy_app, REGULATOR), "counter_examples": "我朋友去银保监会上班了\n银保监会的电话是多少",
        "action": "publish", "expected_version": 1, "draft_revision": 0, "csrf_token": editor.token})
    assert response.status_code == 302
    rule, version = rule_version(copy_app)
    assert version == 2 and rule.counter_examples == ["我朋友去银保监会上班了", "银保监会的电话是多少"]
    with copy_app.extensions["kb.db"].session() as s:
        assert s.scalars(select(ArticleVersion).where(ArticleVersion.article_id == REGULATOR,
                                                      ArticleVersion.number == 2)).one().author == "editor1"


def fields_of(app, article_id: str) -> dict:
    from kb.drafts import fields_from_article
    return fields_from_article(rule_version(app, article_id)[0])
