"""Call records and answer feedback from the agent sidebar, validated before anything is stored.

The sidebar uploads what happened on a call when the agent ends it, and keeps retrying while the server is down, so
the same upload can arrive twice, even at the same moment from two tabs: a call is stored once per (agent, client id)
and a vote on an answer once per (agent, answer, query) within FEEDBACK_MERGE_SECONDS, each guarded by a unique
constraint rather than a look-up. Bad input is refused with the field at fault and nothing
half-stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import ArticleRecord, CallRecord, Feedback, utcnow

MAX_CALL_SECONDS = 24 * 3600
MAX_ITEMS = 500          # per list in one call record: far above a real call, small enough to keep a row modest
MAX_TEXT = 2000          # the suggest API's own query limit
MAX_SHORT = 300          # titles, headings, reasons
MAX_DISMISS_REASON = 200  # an agent's optional note on why a prompt did not apply
ID_MAX = 80
OPEN_ACTIONS = ("expand", "article", "copy")
# Votes by one agent on one answer for one query within this time are one vote, the last one counting: a retried
# upload is not counted twice, and an agent who changes their mind on a call changes the vote.
FEEDBACK_MERGE_SECONDS = 15 * 60


class CallDataError(ValueError):
    """What is wrong with an uploaded call record or feedback, naming the field (e.g. ``disclosures[2].ticked``)."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


@dataclass
class CallReport:
    client_id: str
    started_at: dt.datetime
    ended_at: dt.datetime
    duration_seconds: int
    wait_seconds: int
    data: dict


# --- small validators: each returns the clean value or raises CallDataError naming the field ------------------------

def _text(value, field: str, limit: int = MAX_SHORT, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CallDataError(field, "must be a string")
    if len(value) > limit:
        raise CallDataError(field, f"is {len(value)} characters; the limit is {limit}")
    if required and not value.strip():
        raise CallDataError(field, "must not be empty")
    return value


def _bool(value, field: str, default: bool | None = None) -> bool:
    if value is None and default is not None:
        return default
    if not isinstance(value, bool):
        raise CallDataError(field, "must be true or false")
    return value


def _seconds(value, field: str, required: bool = False) -> float | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CallDataError(field, "must be a number of seconds")
    if not 0 <= value <= MAX_CALL_SECONDS:
        raise CallDataError(field, f"must be between 0 and {MAX_CALL_SECONDS} seconds")
    return float(value)


def _timestamp(value, field: str) -> dt.datetime:
    """An ISO 8601 time as naive UTC (how the models store times); a time without zone is taken as UTC."""
    text = _text(value, field, 40, required=True)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CallDataError(field, f"{text!r} is not an ISO 8601 time, e.g. 2026-01-31T09:30:00Z") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def _items(value, field: str, parse, objects: bool = True) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CallDataError(field, "must be a list")
    if len(value) > MAX_ITEMS:
        raise CallDataError(field, f"has {len(value)} items; the limit is {MAX_ITEMS}")
    clean = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if objects and not isinstance(item, dict):
            raise CallDataError(where, "must be an object")
        clean.append(parse(item, where))
    return clean


def _answer_ref(item: dict, where: str) -> dict:
    return {"article_id": _text(item.get("article_id"), f"{where}.article_id", ID_MAX, required=True),
            "heading": _text(item.get("heading"), f"{where}.heading")}


def _shown(item: dict, where: str) -> dict:
    return {**_answer_ref(item, where), "title": _text(item.get("title"), f"{where}.title"),
            "query": _text(item.get("query"), f"{where}.query", MAX_TEXT)}


def _opened(item: dict, where: str) -> dict:
    action = item.get("action")
    if action not in OPEN_ACTIONS:
        raise CallDataError(f"{where}.action", f"must be one of {', '.join(OPEN_ACTIONS)}")
    return {**_answer_ref(item, where), "action": action, "at": _seconds(item.get("at"), f"{where}.at")}


def _feedback_item(item: dict, where: str) -> dict:
    return {**_answer_ref(item, where), "query": _text(item.get("query"), f"{where}.query", MAX_TEXT),
            "helpful": _bool(item.get("helpful"), f"{where}.helpful")}


def _rule(item: dict, where: str) -> dict:
    """What every fired prompt keeps: why it fired, the agent's text that raised it, and whether the agent dismissed
    it as not applicable (the content-health loop counts those per rule)."""
    return {"id": _text(item.get("id"), f"{where}.id", ID_MAX, required=True),
            "title": _text(item.get("title"), f"{where}.title"),
            "reason": _text(item.get("reason"), f"{where}.reason"),
            "how": _text(item.get("how"), f"{where}.how", 20),
            "fired_at": _seconds(item.get("fired_at"), f"{where}.fired_at"),
            "text": _text(item.get("text"), f"{where}.text", MAX_TEXT),
            **_dismissal(item, where)}


def _dismissal(item: dict, where: str) -> dict:
    dismissed = _bool(item.get("dismissed"), f"{where}.dismissed", default=False)
    reason = _text(item.get("dismiss_reason"), f"{where}.dismiss_reason", MAX_DISMISS_REASON)
    at = _seconds(item.get("dismissed_at"), f"{where}.dismissed_at")
    if not dismissed and (reason or at is not None):
        raise CallDataError(f"{where}.dismissed", "must be true when dismiss_reason or dismissed_at is given")
    return {"dismissed": dismissed, "dismiss_reason": reason.strip(), "dismissed_at": at}


TICKED_BY = ("", "hand", "speech")


def _disclosure(item: dict, where: str) -> dict:
    """``ticked_by`` says whether the agent ticked it by hand or the live transcript did (``speech``: the agent's
    utterance ``said_text`` at ``said_offset_ms`` matched the words to say with ``said_score``)."""
    ticked_by = item.get("ticked_by") or ""
    if ticked_by not in TICKED_BY:
        raise CallDataError(f"{where}.ticked_by", "must be \"hand\" or \"speech\"")
    said_score = item.get("said_score")
    if said_score is not None and (isinstance(said_score, bool) or not isinstance(said_score, (int, float))
                                   or not 0 <= said_score <= 1):
        raise CallDataError(f"{where}.said_score", "must be a number from 0 to 1")
    said_offset = item.get("said_offset_ms")
    if said_offset is not None and (isinstance(said_offset, bool) or not isinstance(said_offset, int)
                                    or not 0 <= said_offset <= MAX_CALL_SECONDS * 1000):
        raise CallDataError(f"{where}.said_offset_ms", "must be a whole number of milliseconds into the call")
    return {**_rule(item, where), "ticked": _bool(item.get("ticked"), f"{where}.ticked"),
            "ticked_at": _seconds(item.get("ticked_at"), f"{where}.ticked_at"), "ticked_by": ticked_by,
            "said_text": _text(item.get("said_text"), f"{where}.said_text", MAX_TEXT),
            "said_score": said_score, "said_offset_ms": said_offset}


def _escalation(item: dict, where: str) -> dict:
    return {**_rule(item, where), "handled": _bool(item.get("handled"), f"{where}.handled", default=False)}


def _unique_by_id(items: list[dict], field: str) -> list[dict]:
    seen = set()
    for index, item in enumerate(items):
        if item["id"] in seen:
            raise CallDataError(f"{field}[{index}].id", f"{item['id']!r} is listed twice")
        seen.add(item["id"])
    return items


# --- call records ---------------------------------------------------------------------------------------------------

def parse_call_report(payload) -> CallReport:
    """Validate the sidebar's end-of-call upload into a :class:`CallReport` (raises :class:`CallDataError`)."""
    if not isinstance(payload, dict):
        raise CallDataError("body", "must be a JSON object")
    client_id = _text(payload.get("client_id"), "client_id", 64, required=True)
    started_at = _timestamp(payload.get("started_at"), "started_at")
    ended_at = _timestamp(payload.get("ended_at"), "ended_at")
    if ended_at < started_at:
        raise CallDataError("ended_at", "is before started_at")
    duration = _seconds(payload.get("duration_seconds"), "duration_seconds", required=True)
    wait = _seconds(payload.get("wait_seconds"), "wait_seconds") or 0.0
    if wait > duration + 1:  # one second of slack: the two clocks are rounded separately
        raise CallDataError("wait_seconds", f"is {wait:.0f} s, longer than the call ({duration:.0f} s)")
    disclosures = _unique_by_id(_items(payload.get("disclosures"), "disclosures", _disclosure), "disclosures")
    escalations = _unique_by_id(_items(payload.get("escalations"), "escalations", _escalation), "escalations")
    data = {
        "client_id": client_id,
        "texts": _items(payload.get("texts"), "texts", lambda v, w: _text(v, w, MAX_TEXT), objects=False),
        "answers_shown": _items(payload.get("answers_shown"), "answers_shown", _shown),
        "answers_opened": _items(payload.get("answers_opened"), "answers_opened", _opened),
        "feedback": _items(payload.get("feedback"), "feedback", _feedback_item),
        "disclosures": disclosures,
        "disclosures_required": [d["id"] for d in disclosures],
        "disclosures_ticked": [d["id"] for d in disclosures if d["ticked"]],
        "escalations": escalations,
        "unticked_confirmed": _bool(payload.get("unticked_confirmed"), "unticked_confirmed", default=False),
        "live_call_ref": _text(payload.get("live_call_ref"), "live_call_ref", ID_MAX) or None,
    }
    return CallReport(client_id, started_at, ended_at, round(duration), round(wait), data)


def save_call(session: Session, agent: str, report: CallReport) -> tuple[CallRecord, bool]:
    """Store the call unless this agent already stored the same client id; returns (record, created).

    The unique constraint on (agent, client_id) decides, not a look-up first: two tabs or a retry racing each other
    both try to insert and the loser finds the winner's row. Use a session of its own (a duplicate rolls it back).
    """
    record = CallRecord(agent=agent, client_id=report.client_id, started_at=report.started_at,
                        ended_at=report.ended_at, duration_seconds=report.duration_seconds,
                        wait_seconds=report.wait_seconds, data=report.data)
    session.add(record)
    try:
        session.flush()
        return record, True
    except IntegrityError:
        session.rollback()
    existing = session.scalars(
        select(CallRecord).where(CallRecord.agent == agent, CallRecord.client_id == report.client_id)).one()
    return existing, False


# --- feedback -------------------------------------------------------------------------------------------------------

def save_feedback(session: Session, user: str, payload) -> tuple[Feedback, bool]:
    """One helpful / not-helpful vote on an answer; the article must exist (archived ones still count).

    Returns (row, created): a repeat of a recent vote by the same agent on the same answer and query updates it.
    The vote's open key is unique per agent, so two racing copies of one vote end as one row. Use a session of its
    own (a lost race rolls it back).
    """
    if not isinstance(payload, dict):
        raise CallDataError("body", "must be a JSON object")
    item = _feedback_item(payload, "feedback")
    if session.get(ArticleRecord, item["article_id"]) is None:
        raise CallDataError("article_id", f"no article {item['article_id']!r}")
    key = _vote_key(item)
    for _attempt in range(3):  # a lost race retries once or twice; a third loss means something else is wrong
        now = utcnow()
        open_vote = session.scalars(select(Feedback).where(Feedback.user == user, Feedback.open_key == key)).first()
        if open_vote is not None and open_vote.at >= now - dt.timedelta(seconds=FEEDBACK_MERGE_SECONDS):
            open_vote.helpful, open_vote.at = item["helpful"], now
            return open_vote, False
        if open_vote is not None:  # too old to be the same vote: it stays as it is, no longer open to merging
            open_vote.open_key = None
            session.flush()
        row = Feedback(user=user, article_id=item["article_id"], heading=item["heading"], query=item["query"],
                       helpful=item["helpful"], at=now, open_key=key)
        session.add(row)
        try:
            session.flush()
            return row, True
        except IntegrityError:  # a copy of this vote was stored meanwhile: merge with it
            session.rollback()
    raise RuntimeError(f"feedback by {user!r} on {item['article_id']!r} kept colliding; try again")


def _vote_key(item: dict) -> str:
    """Which answer to which question a vote is about, as a fixed-length key for the unique constraint."""
    raw = json.dumps([item["article_id"], item["heading"], item["query"]], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
