"""Live call transcripts: utterances from the telephony's speech recogniser, stored once and turned into events.

The integration posts each recognised utterance (``webapp/live.py``; the contract is in docs/interfaces.md). An
utterance is identified by (call, speaker, offset): a retry or a duplicated delivery finds the stored row (the unique
constraint decides, an IntegrityError sends the loser back to read it), a partial result (``final: false``) is
replaced by later partials and by its final result, and nothing replaces a final one. Only a final utterance counts:
it is analysed (the same ``suggest`` as typing; for the agent's own words also which disclosures they said) and the
analysis travels with its event.

Every change the sidebar must show is appended to ``live_events``, whose id is the SSE event id. Event inserts are
serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: its single writer), so ids become visible in
increasing order and a reader that has seen id N has seen every event before it: a stream resumes after the last id
it sent without losing a line. On PostgreSQL each event is also announced (``NOTIFY kb_live`` at commit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .adherence import match_said
from .db import Database
from .models import LiveCall, LiveEvent, LiveUtterance, User, utcnow

SPEAKERS = ("customer", "agent")
MAX_TEXT = 2000            # the suggest API's own limit
MAX_REF = 80
MAX_OFFSET_MS = 24 * 3600 * 1000
AGENT_ROLES = ("agent", "editor", "trainer", "admin")  # who can take a live call (webapp.auth.AGENT_ROLES + admin)
CHANNEL = "kb_live"
LOCK_ID = 0x6B62_6C76      # "kblv": serialises event inserts on PostgreSQL
FIELDS = ("call_ref", "agent", "speaker", "text", "offset_ms", "final")


class LiveInputError(ValueError):
    """What is wrong with one posted utterance; ``status`` is the HTTP status the API answers with."""

    def __init__(self, field: str, message: str, status: int = 400):
        self.field, self.message, self.status = field, message, status
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Utterance:
    call_ref: str
    agent: str
    speaker: str
    text: str
    offset_ms: int
    final: bool


@dataclass
class Stored:
    """The outcome of one delivery: ``status`` is created, finalised, updated, duplicate or ignored."""

    status: str
    utterance: dict
    event_id: int | None

    @property
    def created(self) -> bool:
        return self.status == "created"


def parse_utterance(payload) -> Utterance:
    """Validate one posted utterance (raises :class:`LiveInputError` naming the field)."""
    if not isinstance(payload, dict):
        raise LiveInputError("body", "must be a JSON object")
    missing = [name for name in FIELDS if name not in payload]
    if missing:
        raise LiveInputError(missing[0], f"is required (missing: {', '.join(missing)})")
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise LiveInputError(unknown[0], f"is not a field of an utterance (fields: {', '.join(FIELDS)})")
    refs = {}
    for name in ("call_ref", "agent"):
        value = payload[name]
        if not isinstance(value, str) or not value.strip():
            raise LiveInputError(name, "must be a non-empty string")
        if len(value) > MAX_REF:
            raise LiveInputError(name, f"is {len(value)} characters; the limit is {MAX_REF}")
        refs[name] = value.strip()
    speaker = payload["speaker"]
    if speaker not in SPEAKERS:
        raise LiveInputError("speaker", f"must be \"customer\" or \"agent\", not {speaker!r}"[:200])
    utterance_text = payload["text"]
    if not isinstance(utterance_text, str):
        raise LiveInputError("text", "must be a string")
    if len(utterance_text) > MAX_TEXT:
        raise LiveInputError("text", f"is {len(utterance_text)} characters; the limit is {MAX_TEXT}", 413)
    offset = payload["offset_ms"]
    if isinstance(offset, float) and math.isfinite(offset) and offset.is_integer():
        offset = int(offset)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise LiveInputError("offset_ms", "must be a whole number of milliseconds since the call started")
    if not 0 <= offset <= MAX_OFFSET_MS:
        raise LiveInputError("offset_ms", f"must be between 0 and {MAX_OFFSET_MS} (24 hours); got {offset}")
    final = payload["final"]
    if not isinstance(final, bool):
        raise LiveInputError("final", "must be true or false")
    if final and not utterance_text.strip():
        raise LiveInputError("text", "a final utterance must not be empty")
    return Utterance(refs["call_ref"], refs["agent"], speaker, utterance_text.strip(), offset, final)


def check_agent(session: Session, username: str) -> None:
    """The utterance's agent must be an active account that takes calls (else 422: the call cannot be shown)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise LiveInputError("agent", f"no active account {username!r}", 422)
    if user.role not in AGENT_ROLES:
        raise LiveInputError("agent", f"{username!r} is a {user.role} account, not one that takes calls", 422)


class _Retry(Exception):
    """A racing delivery changed the row between reading and writing: read again."""


def analyse(kb, u: Utterance, required: set[str] = frozenset(), k: int = 5) -> dict:
    """What a final utterance brings, computed as typing would: ``suggest`` on its words with the call's clock at
    the utterance (so timer rules fire too); for the agent's own words also which of the disclosures required so
    far in the call (``required``, and any this utterance fires) they said."""
    result = kb.suggest(u.text, k=k, call_seconds=u.offset_ms / 1000)
    out = {"suggestions": result}
    if u.speaker == "agent":
        out["said"] = said_disclosures(kb, u.text, set(required) | {d["id"] for d in result["disclosures"]})
    return out


def said_disclosures(kb, utterance: str, rule_ids: set[str] | None = None) -> list[dict]:
    """Which of ``rule_ids`` (default: every disclosure) the agent's utterance says, by ``kb.adherence.match_said``
    (the adherence matcher), with its score."""
    if rule_ids is None:
        rule_ids = {rule["id"] for rule in kb.generation().rules if rule["type"] == "disclosure"}
    if not rule_ids:
        return []
    return [{"rule_id": m.rule_id, "score": round(float(m.score), 4), "text": m.text}
            for m in match_said(kb, utterance, sorted(rule_ids))]


def required_disclosures(session: Session, call_ref: str) -> set[str]:
    """The disclosures this call's final utterances have fired so far: what the agent's words are matched against
    (the adherence matcher is measured on required disclosures, not on every rule)."""
    required = set()
    for payload in session.scalars(select(LiveEvent.payload).where(LiveEvent.call_ref == call_ref,
                                                                   LiveEvent.kind == "utterance")):
        for rule in (payload.get("suggestions") or {}).get("disclosures", []):
            required.add(rule["id"])
    return required


def utterance_dict(row: LiveUtterance) -> dict:
    return {"id": row.id, "call_ref": row.call_ref, "speaker": row.speaker, "text": row.text,
            "offset_ms": row.offset_ms, "final": row.final}


def store_utterance(db: Database, u: Utterance, analyse: Callable[[Utterance, set[str]], dict],
                    source: str = "") -> Stored:
    """Store one delivery and append the event the sidebar is pushed (if it changed anything).

    ``analyse(u, required)`` is called only for a final utterance not stored as final yet, before the write
    transaction (it runs ``suggest``, tens of milliseconds, which must not hold the write lock), with the
    disclosures the call has required so far; its dict goes into the event.
    """
    analysis = None
    if u.final and not _already_final(db, u):
        with db.session() as s:
            required = required_disclosures(s, u.call_ref) if u.speaker == "agent" else set()
        analysis = analyse(u, required)
    for _attempt in range(5):
        try:
            with db.session() as s:
                _serialise(s)
                check_agent(s, u.agent)
                _bind_call(s, u, source)
                return _write(s, u, analysis)
        except (IntegrityError, _Retry):
            continue  # a racing copy of this delivery (or this call's first one) won: the next round reads it
    raise RuntimeError(f"utterance {u.call_ref}/{u.speaker}/{u.offset_ms} kept colliding; try again")


def _already_final(db: Database, u: Utterance) -> bool:
    with db.session() as s:
        return bool(s.scalar(select(LiveUtterance.final).where(
            LiveUtterance.call_ref == u.call_ref, LiveUtterance.speaker == u.speaker,
            LiveUtterance.offset_ms == u.offset_ms)))


def _serialise(session: Session) -> None:
    """Event ids must commit in order (see the module docstring). SQLite has one writer; PostgreSQL takes a lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})


def _bind_call(session: Session, u: Utterance, source: str) -> LiveCall:
    call = session.get(LiveCall, u.call_ref)
    if call is None:
        call = LiveCall(call_ref=u.call_ref, agent=u.agent, source=source, started_at=utcnow())
        session.add(call)
        session.flush()  # a racing first utterance of the same call: IntegrityError, and the retry finds this row
        return call
    if call.agent != u.agent:
        raise LiveInputError("agent", f"call {u.call_ref!r} is bound to agent {call.agent!r}, not {u.agent!r}", 409)
    if call.ended_at is not None:
        raise LiveInputError("call_ref", f"call {u.call_ref!r} has ended; a new call needs a new call_ref", 409)
    return call


def _write(session: Session, u: Utterance, analysis: dict | None) -> Stored:
    row = session.scalar(select(LiveUtterance).where(
        LiveUtterance.call_ref == u.call_ref, LiveUtterance.speaker == u.speaker,
        LiveUtterance.offset_ms == u.offset_ms))
    if row is None:
        now = utcnow()
        row = LiveUtterance(call_ref=u.call_ref, speaker=u.speaker, offset_ms=u.offset_ms, text=u.text,
                            final=u.final, received_at=now, updated_at=now)
        session.add(row)
        session.flush()  # the unique constraint: a racing copy makes this an IntegrityError
        return Stored("created", utterance_dict(row), _utterance_event(session, u.agent, row, analysis))
    if row.final:
        if not u.final:
            return Stored("ignored", utterance_dict(row), None)  # a late partial never replaces its final result
        if row.text != u.text:
            raise LiveInputError("text", f"utterance {u.call_ref}/{u.speaker}/{u.offset_ms} is already final with "
                                         f"other words; a final utterance is never replaced", 409)
        return Stored("duplicate", utterance_dict(row), None)
    if not u.final and row.text == u.text:
        return Stored("duplicate", utterance_dict(row), None)
    if u.final and analysis is None:
        raise _Retry()  # it was final when we looked and is not now: cannot happen, but never store it unanalysed
    changed = session.execute(update(LiveUtterance).where(LiveUtterance.id == row.id, LiveUtterance.final.is_(False))
                              .values(text=u.text, final=u.final, updated_at=utcnow())).rowcount
    if not changed:
        raise _Retry()
    session.refresh(row)
    status = "finalised" if u.final else "updated"
    return Stored(status, utterance_dict(row), _utterance_event(session, u.agent, row, analysis))


def _utterance_event(session: Session, agent: str, row: LiveUtterance, analysis: dict | None) -> int:
    payload = {"call_ref": row.call_ref, "utterance": utterance_dict(row)}
    if row.final and analysis:
        payload.update(analysis)
    return append_event(session, agent, row.call_ref, "utterance", payload)


def append_event(session: Session, agent: str, call_ref: str, kind: str, payload: dict) -> int:
    event = LiveEvent(agent=agent, call_ref=call_ref, kind=kind, payload=payload, at=utcnow())
    session.add(event)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :agent)"), {"channel": CHANNEL, "agent": agent})
    return event.id


def end_call(db: Database, call_ref: str, agent: str | None = None,
             on_end: Callable[[Session, LiveCall], None] | None = None) -> tuple[LiveCall | None, bool]:
    """Mark the call ended (once) and tell the sidebar; returns (call or None if unknown or not ``agent``'s,
    whether it ended now). ``on_end(session, call)`` runs in the same transaction when this request ended it (the
    integration keeps a record of a call nobody else recorded: kb/live_records.py)."""
    with db.session() as s:
        _serialise(s)
        call = s.get(LiveCall, call_ref)
        if call is None or (agent is not None and call.agent != agent):
            return None, False
        ended = s.execute(update(LiveCall).where(LiveCall.call_ref == call_ref, LiveCall.ended_at.is_(None))
                          .values(ended_at=utcnow())).rowcount
        s.refresh(call)
        if ended:
            append_event(s, call.agent, call_ref, "end", {"call_ref": call_ref})
            if on_end is not None:
                on_end(s, call)
        return call, bool(ended)


# --- reading: the sidebar's stream ----------------------------------------------------------------------------------

def event_dict(event: LiveEvent) -> dict:
    return {"id": event.id, "kind": event.kind, "call_ref": event.call_ref, "data": event.payload}


def events_after(session: Session, agent: str, after_id: int, limit: int = 200) -> list[dict]:
    rows = session.scalars(select(LiveEvent).where(LiveEvent.agent == agent, LiveEvent.id > after_id)
                           .order_by(LiveEvent.id).limit(limit))
    return [event_dict(row) for row in rows]


def newest_event_id(session: Session) -> int:
    return session.scalar(select(func.max(LiveEvent.id))) or 0


def new_events(session: Session, after_id: int, limit: int = 500) -> list[tuple[int, str]]:
    """(id, agent) of every event after ``after_id``: what a process's hub wakes streams with."""
    return list(session.execute(select(LiveEvent.id, LiveEvent.agent).where(LiveEvent.id > after_id)
                                .order_by(LiveEvent.id).limit(limit)))


def resume_point(session: Session, agent: str) -> int:
    """Where a stream without a Last-Event-ID starts: the beginning of the agent's live call in progress (a fresh
    page shows its whole transcript so far), else now."""
    open_refs = select(LiveCall.call_ref).where(LiveCall.agent == agent, LiveCall.ended_at.is_(None))
    first = session.scalar(select(func.min(LiveEvent.id)).where(LiveEvent.agent == agent,
                                                                LiveEvent.call_ref.in_(open_refs)))
    if first is not None:
        return first - 1
    return session.scalar(select(func.max(LiveEvent.id)).where(LiveEvent.agent == agent)) or 0
