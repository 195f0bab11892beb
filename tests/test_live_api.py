"""The live call API: integration tokens, idempotent utterances (also racing copies), out-of-order delivery, bad
input, the JSON lines variant, the end of a call, and the call record that keeps the live transcript."""
import json

import pytest
from sqlalchemy import select

from kb.db import Database
from kb.live import said_disclosures
from kb.live_records import live_record
from kb.models import CallRecord, LiveEvent, LiveUtterance, SuggestLog
from kb.qa import summarize_call
from kb.tokens import create_token, revoke_token
from tests.helpers import Client, run_together

WEALTH = "disclosure-wealth-not-guaranteed"


@pytest.fixture
def live(kb, kb_copy, app_factory):
    """An app on a private KB copy with an integration token; ``post`` sends an utterance with it."""
    kb.suggest("预热")
    said_disclosures(kb, "理财不保本")  # the adherence matcher embeds its references once, here
    app = app_factory(kb_copy, ENGINE=kb)
    db = Database(kb_copy.database_url)
    with db.session() as s:
        _, token = create_token(s, "asr")
    http = app.test_client()

    class Live:
        pass

    env = Live()
    env.app, env.db, env.token, env.http = app, db, token, http
    env.auth = {"Authorization": f"Bearer {token}"}
    env.post = lambda body, **kw: http.post("/api/live/utterances", json=body, headers=env.auth, **kw)
    yield env
    db.engine.dispose()


def utt(text="卡丢了怎么办", speaker="customer", offset_ms=1000, final=True, call_ref="call-1", agent="agent1"):
    return {"call_ref": call_ref, "agent": agent, "speaker": speaker, "text": text, "offset_ms": offset_ms,
            "final": final}


def events(db, call_ref="call-1"):
    with db.session() as s:
        return [(e.kind, e.payload) for e in s.scalars(select(LiveEvent).where(LiveEvent.call_ref == call_ref)
                                                       .order_by(LiveEvent.id))]


def test_a_token_is_required_and_a_session_is_not_enough(live):
    assert live.http.post("/api/live/utterances", json=utt()).status_code == 401
    response = live.http.post("/api/live/utterances", json=utt(), headers={"Authorization": "Bearer kbi_nope"})
    assert response.status_code == 401 and "unknown or revoked" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    agent = Client(live.app, "agent1")  # a logged-in agent with the CSRF token is still not the integration
    response = agent.post_json("/api/live/utterances", utt())
    assert response.status_code == 401 and "Authorization: Bearer" in response.get_json()["error"]
    assert live.post(utt()).status_code == 201  # no CSRF token needed with the API token
    with live.db.session() as s:
        revoke_token(s, "asr")
    assert live.post(utt(offset_ms=2000)).status_code == 401
    with live.db.session() as s:
        assert s.scalar(select(LiveUtterance.id).where(LiveUtterance.offset_ms == 2000)) is None


def test_a_final_customer_utterance_is_stored_once_with_its_suggestions(live):
    first = live.post(utt())
    assert first.status_code == 201 and first.get_json()["status"] == "created"
    again = live.post(utt())
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert again.get_json()["utterance"] == first.get_json()["utterance"]
    (kind, payload), = events(live.db)
    assert kind == "utterance" and payload["utterance"]["final"] is True
    assert payload["suggestions"]["answers"][0]["article_id"] == "lost-card-freeze"  # the same suggest as typing
    assert "said" not in payload  # only the agent's own words are matched to disclosures


def test_a_final_customer_line_is_logged_once_like_a_typed_query(live):
    def logged():
        with live.db.session() as s:
            return s.execute(select(SuggestLog.user, SuggestLog.text, SuggestLog.top_article_id)
                             .order_by(SuggestLog.id)).all()

    before = logged()  # the copied KB may hold the session's typed queries
    for body in (utt(final=False, text="卡丢"), utt(), utt(), utt("我想开通手机银行", speaker="agent", offset_ms=3000)):
        assert live.post(body).status_code in (200, 201)
    live.app.extensions["kb.querylog"].flush()
    # the final customer line once: not its partial, not the repeated delivery, not the agent's words
    assert logged()[len(before):] == [("agent1", "卡丢了怎么办", "lost-card-freeze")]


def test_partials_update_the_line_and_only_the_final_counts(live):
    assert live.post(utt("卡丢", final=False)).status_code == 201
    assert live.post(utt("卡丢了怎", final=False)).get_json()["status"] == "updated"
    assert live.post(utt("卡丢了怎", final=False)).get_json()["status"] == "duplicate"
    assert live.post(utt("卡丢了怎么办", final=True)).get_json()["status"] == "finalised"
    late = live.post(utt("卡丢了", final=False))  # a partial arriving after its final result changes nothing
    assert late.status_code == 200 and late.get_json()["status"] == "ignored"
    assert late.get_json()["utterance"]["text"] == "卡丢了怎么办"
    conflict = live.post(utt("我的卡被吞了", final=True))
    assert conflict.status_code == 409 and "already final" in conflict.get_json()["error"]
    kinds = [(p["utterance"]["text"], p["utterance"]["final"], "suggestions" in p) for _, p in events(live.db)]
    assert kinds == [("卡丢", False, False), ("卡丢了怎", False, False), ("卡丢了怎么办", True, True)]


def test_racing_copies_of_one_delivery_store_one_row(live):
    copies = 8

    def deliver(_):
        response = live.post(utt("我要挂失", offset_ms=4200))
        return response.status_code, response.get_json()["utterance"]["id"]

    results = run_together(deliver, range(copies))
    assert sorted(code for code, _ in results) == [200] * (copies - 1) + [201]
    assert len({row_id for _, row_id in results}) == 1
    with live.db.session() as s:
        assert len(s.scalars(select(LiveUtterance)).all()) == 1
    assert len(events(live.db)) == 1


def test_out_of_order_delivery_is_kept_in_call_order(live):
    for offset, speaker, text in ((9000, "agent", "好的，我马上为您冻结。"), (2000, "customer", "我的卡丢了"),
                                  (5000, "agent", "请问您的卡号后四位是多少？"), (7000, "customer", "是6688")):
        assert live.post(utt(text, speaker=speaker, offset_ms=offset)).status_code == 201
    with live.db.session() as s:
        record = live_record(s, "call-1", "agent1")
    assert [line["offset_ms"] for line in record["transcript"]] == [2000, 5000, 7000, 9000]
    assert [line["speaker"] for line in record["transcript"]] == ["customer", "agent", "customer", "agent"]
    # the same offset for the other speaker is another utterance (people talk over each other)
    assert live.post(utt("喂？", speaker="agent", offset_ms=2000)).status_code == 201


@pytest.mark.parametrize("change,status,field", [
    ({"speaker": "caller"}, 400, "speaker"),
    ({"offset_ms": -5}, 400, "offset_ms"),
    ({"offset_ms": 1.5}, 400, "offset_ms"),
    ({"offset_ms": "100"}, 400, "offset_ms"),
    ({"final": "yes"}, 400, "final"),
    ({"text": 42}, 400, "text"),
    ({"text": "  "}, 400, "text"),
    ({"text": "长" * 2001}, 413, "text"),
    ({"call_ref": ""}, 400, "call_ref"),
    ({"call_ref": "x" * 81}, 400, "call_ref"),
    ({"agent": "nobody"}, 422, "agent"),
    ({"extra": 1}, 400, "extra"),
])
def test_bad_input_gets_a_clear_4xx_naming_the_field(live, change, status, field):
    response = live.post({**utt(), **change})
    assert response.status_code == status, response.get_json()
    assert response.get_json()["field"] == field and field in response.get_json()["error"]
    with live.db.session() as s:
        assert s.scalars(select(LiveUtterance)).all() == []


def test_missing_fields_broken_json_and_wrong_type(live):
    body = utt()
    del body["offset_ms"], body["final"]
    response = live.post(body)
    assert response.status_code == 400 and "offset_ms, final" in response.get_json()["error"]
    broken = live.http.post("/api/live/utterances", data=b'{"call_ref": "c", ', headers={
        **live.auth, "Content-Type": "application/json"})
    assert broken.status_code == 400 and "JSON" in broken.get_json()["error"]
    text = live.http.post("/api/live/utterances", data="hello", headers={**live.auth, "Content-Type": "text/plain"})
    assert text.status_code == 415
    assert live.post([utt()]).status_code == 400  # a list is not an utterance (JSON lines are for batches)


def test_a_call_belongs_to_one_agent_and_ends_once(live):
    assert live.post(utt()).status_code == 201
    other = live.post(utt(agent="editor1", offset_ms=3000))
    assert other.status_code == 409 and "bound to agent 'agent1'" in other.get_json()["error"]
    end = live.http.post("/api/live/calls/call-1/end", headers=live.auth)
    assert end.status_code == 200 and end.get_json()["ended"] is True
    assert live.http.post("/api/live/calls/call-1/end", headers=live.auth).get_json()["ended"] is False
    assert live.post(utt(offset_ms=5000)).status_code == 409
    assert live.http.post("/api/live/calls/nope/end", headers=live.auth).status_code == 404
    assert live.http.post("/api/live/calls/call-1/end").status_code == 401
    assert [kind for kind, _ in events(live.db)] == ["utterance", "end"]


def test_json_lines_answer_each_line_in_order(live):
    lines = [json.dumps(utt("我的卡丢了", offset_ms=1000), ensure_ascii=False),
             "",
             "{broken",
             json.dumps(utt("请问您是本人吗", speaker="agent", offset_ms=3000), ensure_ascii=False),
             json.dumps(utt("我的卡丢了", offset_ms=1000), ensure_ascii=False),
             json.dumps({**utt(), "speaker": "robot", "offset_ms": 4000})]
    response = live.http.post("/api/live/utterances", data="\n".join(lines).encode("utf-8"),
                              headers={**live.auth, "Content-Type": "application/x-ndjson"})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    results = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["line"] for r in results] == [1, 3, 4, 5, 6]
    assert [r.get("http_status", r["status"]) for r in results] == [201, 400, 201, 200, 400]
    assert [r["status"] for r in results if "http_status" in r] == ["created", "created", "duplicate"]
    assert "line 3 is not JSON" in results[1]["error"] and results[4]["field"] == "speaker"
    empty = live.http.post("/api/live/utterances", data=b"\n\n", headers={
        **live.auth, "Content-Type": "application/x-ndjson"})
    assert empty.status_code == 400


def test_the_call_record_keeps_the_live_transcript_suggestions_and_rules(live):
    live.post(utt("这个理财产品保本吗", offset_ms=3000))
    live.post(utt("这款理财不是存款，不保证本金，收益也不确定。", speaker="agent", offset_ms=8000))
    live.post(utt("我要去银保监会投诉你们", offset_ms=15000))
    agent = Client(live.app, "agent1")
    upload = {"client_id": "live-c1", "started_at": "2026-03-02T01:00:00Z", "ended_at": "2026-03-02T01:00:20Z",
              "duration_seconds": 20, "live_call_ref": "call-1",
              "disclosures": [{"id": WEALTH, "title": "理财产品非保本", "reason": "提到「保本」", "how": "trigger",
                               "fired_at": 3, "ticked": True, "ticked_at": 8, "ticked_by": "speech",
                               "said_text": "这款理财不是存款，不保证本金，收益也不确定。", "said_score": 0.91,
                               "said_offset_ms": 8000}]}
    response = agent.post_json("/agent/api/calls", upload)
    assert response.status_code == 201, response.get_json()
    with live.db.session() as s:
        data = s.scalars(select(CallRecord)).one().data
    assert data["live_call_ref"] == "call-1"
    assert [(t["speaker"], t["offset_ms"]) for t in data["live"]["transcript"]] == [
        ("customer", 3000), ("agent", 8000), ("customer", 15000)]
    assert data["live"]["suggested"][0]["answers"][0]["article_id"] == "wealth-management-products"
    fired = {(f["id"], f["offset_ms"]) for f in data["live"]["fired"]}
    assert (WEALTH, 3000) in fired and ("escalation-regulator-complaint", 15000) in fired
    assert data["disclosures"][0]["ticked_by"] == "speech" and data["disclosures"][0]["said_offset_ms"] == 8000
    # what the QA view reads (kb.qa): required at the offset the transcript fired it, said by the agent's words
    assert data["required"] == [{"rule_id": WEALTH, "offset_ms": 3000, "title": "理财产品非保本",
                                 "dismissed": False}]
    assert data["said"] == [{"rule_id": WEALTH, "utterance": "这款理财不是存款，不保证本金，收益也不确定。",
                             "score": 0.91, "offset_ms": 8000, "how": "auto"}]
    assert summarize_call(data).disclosures[0].status == "said"
    assert data["live"]["ended_at"] is not None  # the agent finished it: a reloaded sidebar does not resume it
    assert agent.post_json("/agent/api/calls", upload).status_code == 200  # a retried upload finds the record
    wrong = agent.post_json("/agent/api/calls", {**upload, "client_id": "live-c2", "live_call_ref": "nope"})
    assert wrong.status_code == 400 and "live_call_ref" in wrong.get_json()["error"]


def _call_records(db):
    with db.session() as s:
        return [(r.agent, r.client_id, r.data) for r in s.scalars(select(CallRecord).order_by(CallRecord.id))]


def test_a_call_the_agent_never_recorded_is_kept_from_its_transcript_for_qa(live):
    ref = "asr-" + "x" * 76  # the longest call ref: the record's client id still fits its column
    live.post(utt("这个理财产品保本吗", offset_ms=3000, call_ref=ref))
    live.post(utt("这款理财不是存款，不保证本金，收益也不确定。", speaker="agent", offset_ms=8000, call_ref=ref))
    live.post(utt("我要去银保监会投诉你们", offset_ms=15000, call_ref=ref))
    assert live.http.post(f"/api/live/calls/{ref}/end", headers=live.auth).get_json()["ended"] is True
    assert live.http.post(f"/api/live/calls/{ref}/end", headers=live.auth).get_json()["ended"] is False
    [(agent, client_id, data)] = _call_records(live.db)
    assert agent == "agent1" and data["recorded_by"] == "integration" and data["live_call_ref"] == ref
    assert len(client_id) <= 64 and [t["offset_ms"] for t in data["live"]["transcript"]] == [3000, 8000, 15000]
    adherence = summarize_call(data)
    [wealth] = [d for d in adherence.disclosures if d.rule_id == WEALTH]
    assert (wealth.status, wealth.how, wealth.said_at, wealth.required_at) == ("said", "auto", 8.0, 3.0)
    assert wealth.utterance == "这款理财不是存款，不保证本金，收益也不确定。"
    raised = {e.rule_id: e for e in adherence.escalations}
    assert raised["escalation-regulator-complaint"].raised_at == 15.0
    assert not raised["escalation-regulator-complaint"].handled  # nobody saw it: the QA view must not call it handled
    trainer = Client(live.app, "trainer1")
    overview = trainer.get("/training/qa/").get_data(as_text=True)
    assert "agent1" in overview
    with live.db.session() as s:
        record_id = s.scalars(select(CallRecord.id)).one()
    page = trainer.get(f"/training/qa/calls/{record_id}").get_data(as_text=True)
    assert "本记录由系统根据转写生成" in page and "这款理财不是存款" in page


def test_the_agents_own_record_replaces_the_one_kept_from_the_transcript(live):
    live.post(utt("这个理财产品保本吗", offset_ms=3000))
    live.http.post("/api/live/calls/call-1/end", headers=live.auth)
    assert [d.get("recorded_by") for _, _, d in _call_records(live.db)] == ["integration"]
    agent = Client(live.app, "agent1")
    upload = {"client_id": "live-c1", "started_at": "2026-03-02T01:00:00Z", "ended_at": "2026-03-02T01:00:20Z",
              "duration_seconds": 20, "live_call_ref": "call-1",
              "disclosures": [{"id": WEALTH, "title": "理财产品非保本", "fired_at": 3, "ticked": True,
                               "ticked_at": 10, "ticked_by": "hand"}]}
    assert agent.post_json("/agent/api/calls", upload).status_code == 201
    assert agent.post_json("/agent/api/calls", upload).status_code == 200
    [(_, client_id, data)] = _call_records(live.db)
    assert client_id == "live-c1" and "recorded_by" not in data
    assert data["said"][0]["how"] == "manual"


def test_an_agent_who_finished_the_call_first_keeps_the_only_record(live):
    live.post(utt("这个理财产品保本吗", offset_ms=3000))
    agent = Client(live.app, "agent1")
    upload = {"client_id": "live-c1", "started_at": "2026-03-02T01:00:00Z", "ended_at": "2026-03-02T01:00:20Z",
              "duration_seconds": 20, "live_call_ref": "call-1"}
    assert agent.post_json("/agent/api/calls", upload).status_code == 201
    assert live.http.post("/api/live/calls/call-1/end", headers=live.auth).get_json()["ended"] is False
    assert [client_id for _, client_id, _ in _call_records(live.db)] == ["live-c1"]
