"""Adherence on finished calls: the pure summary (kb/qa.py), the trainers' QA view and the one-click quiz from an
agent's misses (Flask test client on a private copy of the real KB)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from kb.models import CallRecord
from kb.qa import LATE, LATE_AFTER_SECONDS, MISSED, SAID, summarize_agents, summarize_call
from kb.training.models import Quiz, QuizAssignment, TrainingQuestion
from tests.helpers import Client, run_together

WEALTH = "disclosure-wealth-not-guaranteed"
SUITABILITY = "disclosure-risk-suitability"
RECORDING = "disclosure-call-recording"
COOLING = "disclosure-insurance-cooling-off"
COMPLAINT = "escalation-regulator-complaint"


def live_data(**changes) -> dict:
    """A live call's data as docs/interfaces.md describes it: the wealth disclosure said on time by the matcher,
    the suitability one said late by hand, the recording notice never said, one escalation raised and handled."""
    data = {
        "live": {"call_ref": "c-1", "transcript": [
            {"speaker": "customer", "text": "这个理财保本吗", "offset_ms": 5000},
            {"speaker": "agent", "text": "理财不是存款，不保证本金，收益也不确定。", "offset_ms": 9000}]},
        "required": [{"rule_id": WEALTH, "offset_ms": 5000}, {"rule_id": SUITABILITY, "offset_ms": 20000},
                     {"rule_id": RECORDING, "offset_ms": 0}, {"rule_id": COOLING, "offset_ms": 30000,
                                                              "dismissed": True}],
        "said": [{"rule_id": WEALTH, "utterance": "理财不是存款，不保证本金，收益也不确定。", "score": 0.93,
                  "offset_ms": 9000, "how": "auto"},
                 {"rule_id": SUITABILITY, "utterance": "", "score": None,
                  "offset_ms": 20000 + (LATE_AFTER_SECONDS + 5) * 1000, "how": "manual"},
                 {"rule_id": WEALTH, "utterance": "再提醒一次，理财不保本。", "score": 0.9, "offset_ms": 90000,
                  "how": "auto"}],
        "escalations": [{"id": COMPLAINT, "title": "监管投诉", "fired_at": 40.0, "handled": True,
                         "dismissed": False}],
    }
    data.update(changes)
    return data


def typed_data() -> dict:
    """Today's typed-call record (kb/calls.py): the checklist ticked by hand."""
    return {"disclosures": [
        {"id": WEALTH, "title": "理财", "fired_at": 10.0, "ticked": True, "ticked_at": 30.0, "dismissed": False},
        {"id": SUITABILITY, "title": "测评", "fired_at": 10.0, "ticked": True, "ticked_at": 200.0,
         "dismissed": False},
        {"id": RECORDING, "title": "录音", "fired_at": 0.0, "ticked": False, "ticked_at": None, "dismissed": False},
        {"id": COOLING, "title": "保险", "fired_at": 5.0, "ticked": False, "ticked_at": None, "dismissed": True}],
        "escalations": [{"id": COMPLAINT, "title": "监管投诉", "fired_at": 50.0, "handled": False,
                         "dismissed": False}]}


def test_a_live_call_is_read_as_said_late_and_missed():
    call = summarize_call(live_data())
    status = {d.rule_id: d.status for d in call.disclosures}
    assert status == {WEALTH: SAID, SUITABILITY: LATE, RECORDING: MISSED}   # the dismissed one is not required
    wealth = next(d for d in call.disclosures if d.rule_id == WEALTH)
    assert (wealth.said_at, wealth.how, wealth.score) == (9.0, "auto", 0.93)   # the first time it was said counts
    assert wealth.utterance.startswith("理财不是存款")
    assert (call.required, call.said, call.count(LATE), call.count(MISSED)) == (3, 2, 1, 1)
    assert call.rate == pytest.approx(1 / 3)
    assert call.escalations_handled == 1 and call.missed_rules() == [SUITABILITY, RECORDING]


def test_said_before_it_became_required_is_on_time_and_nothing_required_has_no_rate():
    early = live_data(said=[{"rule_id": RECORDING, "utterance": "本次通话全程录音", "score": 0.9, "offset_ms": 0,
                             "how": "auto"}], required=[{"rule_id": RECORDING, "offset_ms": 60000}])
    assert [d.status for d in summarize_call(early).disclosures] == [SAID]
    assert summarize_call({}).rate is None and summarize_call({"required": []}).required == 0


def test_a_typed_call_counts_its_ticks_as_said_by_hand():
    call = summarize_call(typed_data())
    assert [(d.rule_id, d.status, d.how) for d in call.disclosures] == [
        (WEALTH, SAID, "manual"), (SUITABILITY, LATE, "manual"), (RECORDING, MISSED, "")]
    assert call.escalations_handled == 0 and call.missed_rules() == [SUITABILITY, RECORDING, COMPLAINT]


def test_agents_are_ranked_weakest_first():
    perfect = summarize_call(live_data(required=[{"rule_id": WEALTH, "offset_ms": 5000}]))
    rows = summarize_agents([("agent2", perfect), ("agent1", summarize_call(typed_data())),
                             ("agent1", summarize_call(live_data())), ("agent3", summarize_call({}))])
    assert [r.agent for r in rows] == ["agent1", "agent2", "agent3"]
    agent1 = rows[0]
    assert (agent1.calls, agent1.required, agent1.said, agent1.late, agent1.missed) == (2, 6, 2, 2, 2)
    assert agent1.missed_rules[RECORDING] == 2 and agent1.missed_rules[COMPLAINT] == 1
    assert rows[1].rate == 1.0 and rows[2].rate is None


# --- the QA view ----------------------------------------------------------------------------------------------------

@pytest.fixture
def qa_app(kb_copy, app_factory):
    return app_factory(kb_copy)


def _db(app):
    return app.extensions["kb.db"]


def _typed_call_over_http(agent: Client) -> None:
    """agent1 ends a typed call: the wealth disclosure ticked, the recording notice not."""
    call = {"client_id": "qa-typed-1", "started_at": "2026-03-02T01:00:00Z", "ended_at": "2026-03-02T01:05:00Z",
            "duration_seconds": 300, "wait_seconds": 10, "texts": ["这个理财保本吗"],
            "disclosures": [{"id": WEALTH, "title": "理财产品非保本及过往业绩提示", "reason": "提到「保本」",
                             "how": "trigger", "fired_at": 12, "text": "这个理财保本吗", "ticked": True,
                             "ticked_at": 20},
                            {"id": RECORDING, "title": "通话录音告知", "reason": "提到「录音」", "how": "trigger",
                             "fired_at": 40, "text": "有录音吗", "ticked": False}],
            "escalations": [{"id": COMPLAINT, "title": "监管投诉", "reason": "提到「银保监会」", "how": "trigger",
                             "fired_at": 60, "text": "我要去银保监会投诉", "handled": False}]}
    response = agent.post_json("/agent/api/calls", call)
    assert response.status_code == 201, response.get_data(as_text=True)


def _live_call(app, agent: str, client_id: str, data: dict, started: dt.datetime = dt.datetime(2026, 3, 3, 2, 0)) -> int:
    """A live call's record as the live transcript API stores it."""
    with _db(app).session() as s:
        record = CallRecord(agent=agent, client_id=client_id, started_at=started,
                            ended_at=started + dt.timedelta(minutes=4), duration_seconds=240, wait_seconds=0,
                            data=data)
        s.add(record)
        s.flush()
        return record.id


def _form(client: Client, path: str, data: dict | None = None):
    return client.http.post(path, data={**(data or {}), "csrf_token": client.token})


def test_only_trainers_see_the_qa_view(qa_app):
    for username in ("agent1", "editor1"):
        client = Client(qa_app, username)
        assert client.get("/training/qa/").status_code == 403
        assert client.get("/training/qa/agents/agent1").status_code == 403
        assert _form(client, "/training/qa/agents/agent1/quiz").status_code == 403
    assert Client(qa_app, "trainer1").get("/training/qa/agents/nobody").status_code == 404
    assert Client(qa_app, "trainer1").get("/training/qa/calls/999").status_code == 404


def test_the_qa_view_lists_calls_and_agents_by_adherence(qa_app):
    _typed_call_over_http(Client(qa_app, "agent1"))
    live_id = _live_call(qa_app, "agent1", "live-1", live_data())
    trainer = Client(qa_app, "trainer1")
    page = trainer.get("/training/qa/").get_data(as_text=True)
    row = re.search(r'<tr data-agent="agent1">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    # calls, required, said on time, late, missed, escalations handled/raised
    assert [c.strip() for c in cells[1:7]] == ["2", "5", "2", "1", "2", "1/2"]
    assert "通话录音告知 ×2" in page
    call_page = trainer.get(f"/training/qa/calls/{live_id}").get_data(as_text=True)
    assert 'data-rule="disclosure-wealth-not-guaranteed" data-status="said"' in call_page
    assert 'data-rule="disclosure-risk-suitability" data-status="late"' in call_page
    assert "理财不是存款，不保证本金，收益也不确定。" in call_page and "0.93" in call_page and "自动识别" in call_page
    assert "这个理财保本吗" in call_page   # the transcript


def test_one_click_builds_a_quiz_from_the_agents_misses_and_assigns_it(qa_app):
    _typed_call_over_http(Client(qa_app, "agent1"))
    _live_call(qa_app, "agent1", "live-1", live_data())
    trainer = Client(qa_app, "trainer1")
    agent_page = trainer.get("/training/qa/agents/agent1").get_data(as_text=True)
    assert f'data-rule="{RECORDING}"' in agent_page and 'id="qa-build-quiz"' in agent_page
    response = _form(trainer, "/training/qa/agents/agent1/quiz")
    assert response.status_code == 302 and "/training/quizzes/" in response.headers["Location"]
    quiz_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    with _db(qa_app).session() as s:
        quiz = s.get(Quiz, quiz_id)
        assert quiz.status == "published" and "agent1" in quiz.title
        sources = {item.snapshot["article_id"] for item in quiz.items}
        assert [a.username for a in s.scalars(select(QuizAssignment).where(QuizAssignment.quiz_id == quiz_id))] \
            == ["agent1"]
    assert sources and sources <= {RECORDING, SUITABILITY, COMPLAINT}   # missed, late, unhandled: never WEALTH
    assert RECORDING in sources
    assert "通话补课" in Client(qa_app, "agent1").get("/training/").get_data(as_text=True)


def test_racing_and_repeated_clicks_build_one_remedial_quiz_until_new_calls_miss_more(qa_app):
    _live_call(qa_app, "agent1", "live-1", live_data())
    trainers = [Client(qa_app, "trainer1") for _ in range(3)]
    locations = set(run_together(lambda trainer: _form(trainer, "/training/qa/agents/agent1/quiz")
                                 .headers["Location"], trainers))
    locations.add(_form(trainers[0], "/training/qa/agents/agent1/quiz").headers["Location"])   # a retry later
    assert len(locations) == 1 and "/training/quizzes/" in locations.pop()
    with _db(qa_app).session() as s:
        assert len(s.scalars(select(Quiz)).all()) == 1
        assert len(s.scalars(select(QuizAssignment).where(QuizAssignment.username == "agent1")).all()) == 1
    _live_call(qa_app, "agent1", "live-2", live_data(), started=dt.datetime(2026, 3, 4, 2, 0))   # newer misses
    assert _form(trainers[0], "/training/qa/agents/agent1/quiz").status_code == 302
    with _db(qa_app).session() as s:
        assert len(s.scalars(select(Quiz)).all()) == 2


def test_no_misses_means_no_quiz_and_a_clear_message(qa_app):
    _live_call(qa_app, "agent1", "live-ok", live_data(required=[{"rule_id": WEALTH, "offset_ms": 5000}],
                                                       escalations=[]))
    trainer = Client(qa_app, "trainer1")
    response = _form(trainer, "/training/qa/agents/agent1/quiz")
    assert response.status_code == 302 and response.headers["Location"].endswith("/training/qa/agents/agent1")
    assert "无需补课" in trainer.get("/training/qa/agents/agent1").get_data(as_text=True)
    with _db(qa_app).session() as s:
        assert s.scalars(select(Quiz)).first() is None
        assert s.scalars(select(TrainingQuestion)).first() is None
