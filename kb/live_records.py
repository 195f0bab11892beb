"""What a call record keeps of a live call, and the record the server keeps when the agent uploads none.

The agent's sidebar normally uploads the call record when the agent finishes the call (webapp/agent.py); the server
adds the live call as it stored it (:func:`attach_live`): the transcript, what each final utterance suggested, which
rules fired and which disclosures the agent's words said. If the sidebar was never open (or the agent never finished
the call), trainers' QA view would not see the call at all. So when the integration ends a call that the agent has
not finished, the server keeps a record made only from what it stored (:func:`keep_integration_record`), marked
``recorded_by: "integration"``: fired disclosures ticked by the agent's words or missed, escalations raised and not
handled (nobody saw them). The agent's own upload of the call later replaces it (:func:`discard_integration_record`):
one call, one record.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .calls import CallReport, parse_call_report
from .models import CallRecord, LiveCall, LiveEvent, LiveUtterance

INTEGRATION = "integration"


def integration_client_id(call_ref: str) -> str:
    """The client id of the server's record of a live call (call refs may be longer than the column)."""
    return "live:" + hashlib.sha256(call_ref.encode("utf-8")).hexdigest()[:40]


def _seconds(offset_ms: int) -> float:
    return round(offset_ms / 1000, 3)


def _iso(moment) -> str:
    return moment.isoformat() + "Z"


def _final_utterance_events(session: Session, call_ref: str):
    """(utterance, event payload) of each final utterance's event, in the order they were stored."""
    events = session.scalars(select(LiveEvent).where(LiveEvent.call_ref == call_ref, LiveEvent.kind == "utterance")
                             .order_by(LiveEvent.id))
    for event in events:
        u = event.payload.get("utterance", {})
        if u.get("final"):
            yield u, event.payload


def live_record(session: Session, call_ref: str, agent: str) -> dict | None:
    """What the call record keeps of a live call: the transcript, what each final utterance suggested, which rules it
    fired and which disclosures the agent said, each with its offset in the call. None if the call is not this
    agent's."""
    call = session.get(LiveCall, call_ref)
    if call is None or call.agent != agent:
        return None
    rows = session.scalars(select(LiveUtterance).where(LiveUtterance.call_ref == call_ref,
                                                       LiveUtterance.final.is_(True))
                           .order_by(LiveUtterance.offset_ms, LiveUtterance.id))
    transcript = [{"speaker": r.speaker, "text": r.text, "offset_ms": r.offset_ms, "at": _seconds(r.offset_ms),
                   "received_at": _iso(r.received_at)} for r in rows]
    suggested, fired, said = [], [], []
    for u, payload in _final_utterance_events(session, call_ref):
        result = payload.get("suggestions")
        where = {"speaker": u["speaker"], "offset_ms": u["offset_ms"], "at": _seconds(u["offset_ms"]),
                 "utterance": u["text"]}
        if result and u["speaker"] == "customer":
            suggested.append({**where, "answers": [
                {"article_id": a["article_id"], "heading": a["heading"], "title": a["title"], "score": a["score"]}
                for a in result.get("answers", [])]})
        for kind in ("disclosures", "escalations"):
            for rule in (result or {}).get(kind, []):
                fired.append({**where, "id": rule["id"], "type": kind[:-1], "how": rule["how"],
                              "reason": rule["reason"], "score": rule["score"]})
        for item in payload.get("said", []):
            said.append({**where, "rule_id": item["rule_id"], "score": item["score"]})
    return {"call_ref": call_ref, "started_at": _iso(call.started_at),
            "ended_at": _iso(call.ended_at) if call.ended_at else None,
            "transcript": transcript, "suggested": suggested, "fired": fired, "said": said}


def checklist_for_record(data: dict, record: dict) -> tuple[list[dict], list[dict]]:
    """``required`` and ``said`` of a live call record (docs/interfaces.md, "Call record data"): each disclosure of
    the agent's checklist once, at the offset where the transcript first fired it (else when the sidebar raised it),
    and one entry per tick: ``auto`` with the agent's utterance and score when the words ticked it, else ``manual``
    at the time the agent ticked it."""
    fired_at = {}
    for item in record.get("fired", []):
        if item["type"] == "disclosure":
            fired_at.setdefault(item["id"], item["offset_ms"])
    required, said = [], []
    for d in data.get("disclosures", []):
        offset = fired_at.get(d["id"])
        if offset is None and d.get("fired_at") is not None:
            offset = round(d["fired_at"] * 1000)
        required.append({"rule_id": d["id"], "offset_ms": offset, "title": d.get("title", ""),
                         "dismissed": bool(d.get("dismissed"))})
        if not d.get("ticked"):
            continue
        if d.get("ticked_by") == "speech" and d.get("said_offset_ms") is not None:
            said.append({"rule_id": d["id"], "utterance": d.get("said_text", ""), "score": d.get("said_score"),
                         "offset_ms": d["said_offset_ms"], "how": "auto"})
        else:
            at = d.get("ticked_at")
            said.append({"rule_id": d["id"], "utterance": "", "score": None,
                         "offset_ms": round(at * 1000) if at is not None else None, "how": "manual"})
    return required, said


def attach_live(session: Session, report: CallReport, agent: str) -> None:
    """Add the live call named by ``report`` (its ``live_call_ref``) as the server stored it, and the checklist
    read against it; raises LookupError when that call is not this agent's."""
    ref = report.data["live_call_ref"]
    record = live_record(session, ref, agent)
    if record is None:
        raise LookupError(f"no live call {ref!r} of agent {agent!r}")
    report.data["live"] = record
    report.data["required"], report.data["said"] = checklist_for_record(report.data, record)


def _checklist_from_events(session: Session, call_ref: str) -> tuple[list[dict], list[dict]]:
    """The sidebar's checklist as the transcript alone fills it: each rule at the utterance that first fired it, a
    disclosure ticked by the first agent utterance that said it."""
    disclosures: dict[str, dict] = {}
    escalations: dict[str, dict] = {}
    for u, payload in _final_utterance_events(session, call_ref):
        result = payload.get("suggestions") or {}
        for kind, fired in (("disclosures", disclosures), ("escalations", escalations)):
            for rule in result.get(kind, []):
                fired.setdefault(rule["id"], {"id": rule["id"], "title": rule.get("title", ""),
                                              "reason": rule.get("reason", ""), "how": rule.get("how", ""),
                                              "fired_at": _seconds(u["offset_ms"]), "text": u["text"], "ticked": False})
        for item in payload.get("said", []):
            entry = disclosures.get(item["rule_id"])
            if entry is not None and not entry.get("ticked"):
                entry.update(ticked=True, ticked_at=_seconds(u["offset_ms"]), ticked_by="speech",
                             said_text=u["text"], said_score=item["score"], said_offset_ms=u["offset_ms"])
    return list(disclosures.values()), list(escalations.values())


def keep_integration_record(session: Session, call: LiveCall) -> None:
    """Store the server's record of a live call the integration just ended (``kb.live.end_call``'s ``on_end``, in
    the same transaction). An agent who uploaded their record first has ended the call themselves, so this does not
    run for it."""
    disclosures, escalations = _checklist_from_events(session, call.call_ref)
    ended = call.ended_at or call.started_at
    report = parse_call_report({
        "client_id": integration_client_id(call.call_ref), "started_at": _iso(call.started_at),
        "ended_at": _iso(ended), "duration_seconds": max(0.0, (ended - call.started_at).total_seconds()),
        "disclosures": disclosures, "escalations": escalations, "live_call_ref": call.call_ref})
    attach_live(session, report, call.agent)
    report.data["recorded_by"] = INTEGRATION
    session.add(CallRecord(agent=call.agent, client_id=report.client_id, started_at=report.started_at,
                           ended_at=report.ended_at, duration_seconds=report.duration_seconds,
                           wait_seconds=report.wait_seconds, data=report.data))


def discard_integration_record(session: Session, agent: str, call_ref: str) -> None:
    """The agent uploaded their record of the call: the server's own record of it goes (a no-op when none)."""
    session.execute(delete(CallRecord).where(CallRecord.agent == agent,
                                             CallRecord.client_id == integration_client_id(call_ref)))
