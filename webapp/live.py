"""The live call API: transcripts in from the telephony integration, events out to the agent's sidebar.

``POST /api/live/utterances`` (one JSON utterance, or JSON lines for batch replay) and ``POST /api/live/calls/<ref>/
end`` take an integration token (``Authorization: Bearer``; ``python -m kb token create``), never a browser session,
so they need no CSRF token. ``GET /agent/live/stream`` is the sidebar's Server-Sent Events stream of the live call
bound to the logged-in agent. The formats are in docs/interfaces.md.

A stream holds one of gunicorn's request threads while open, so it lasts at most ``LIVE_STREAM_SECONDS`` (then the
browser's EventSource reconnects by itself, sending the last event id: nothing is lost), and each process keeps at
most ``LIVE_MAX_STREAMS`` open: a stream over that gets an empty answer telling the browser to retry a little later,
so agents' suggestion requests always find a free thread (webapp/gunicorn.conf.py, docs/design.md).
"""
from __future__ import annotations

import json
import os
import time
from functools import wraps

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from kb import live
from kb.engine import QueryError
from kb.index import IndexMissing
from kb.live_records import keep_integration_record
from kb.models import ApiToken, utcnow
from kb.tokens import authenticate_token

from .api import json_body
from .auth import AGENT_ROLES, current_user, require_role
from .context import get_db, get_engine, get_querylog
from .live_push import LiveHub

bp = Blueprint("live", __name__)

MAX_LINES = 1000           # per JSON lines request
HEARTBEAT_SECONDS = 15     # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 500             # how soon the browser reconnects after a stream ends
BUSY_RETRY_MS = 3000       # ... and after being turned away because the process holds its maximum of streams
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-lines")


def require_token(*roles: str):
    """Allow requests that carry a live (not revoked) API token of one of ``roles``; 401 otherwise. The view is
    exempt from the CSRF check: it never looks at the session cookie."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                abort(_unauthorised("send an integration token: Authorization: Bearer <token> "
                                    "(python -m kb token create NAME)"))
            with get_db().session() as s:
                row = authenticate_token(s, token.strip())
                if row is None:
                    abort(_unauthorised("the token is unknown or revoked"))
                if row.role not in roles:
                    abort(403, description=f"a {row.role} token cannot do this")
                g.integration = row.name
                _note_use(s, row)
            return view(*args, **kwargs)

        wrapper.allowed_roles = roles
        wrapper.csrf_exempt = True
        return wrapper

    return decorator


def _unauthorised(message: str) -> Response:
    response = jsonify(error=message, status=401)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="kb-live"'
    return response


def _note_use(session, row: ApiToken) -> None:
    """``token list`` shows when a token was last used; written at most once a minute, not on every utterance."""
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now


def _deliver(payload) -> tuple[dict, int]:
    """Store one utterance; (JSON answer, HTTP status). Bad input, conflicts and outages become clear errors.

    A final customer utterance goes into the query log like a settled typed query (editors' content-gap report
    reads it), once: only by the delivery that stored it, not by a duplicate or a racing copy."""
    analysed = {}

    def analyse(u: live.Utterance, required: set[str]) -> dict:
        analysed["result"] = live.analyse(get_engine(), u, required)
        return analysed["result"]

    try:
        u = live.parse_utterance(payload)
        stored = live.store_utterance(get_db(), u, analyse, source=g.integration)
        if u.speaker == "customer" and stored.status in ("created", "finalised") and "result" in analysed:
            get_querylog().record(u.agent, u.text, analysed["result"]["suggestions"])
    except live.LiveInputError as exc:
        return {"error": str(exc), "field": exc.field, "status": exc.status}, exc.status
    except QueryError as exc:
        return {"error": str(exc), "status": 400}, 400
    except IndexMissing as exc:
        return {"error": str(exc), "status": 503}, 503
    status = 201 if stored.created else 200
    return {"status": stored.status, "utterance": stored.utterance, "event_id": stored.event_id}, status


@bp.post("/api/live/utterances")
@require_token("integration")
def utterances():
    """One utterance as a JSON object, or many as JSON lines (``Content-Type: application/x-ndjson``)."""
    if request.mimetype in NDJSON:
        return _utterance_lines()
    body, status = _deliver(json_body())
    return jsonify(body), status


def _utterance_lines() -> Response:
    """Each line is delivered on its own, in order; the answer has one JSON line per input line with its own
    ``status`` (so one bad line does not stop the rest; blank lines are skipped and not answered)."""
    raw = request.get_data(cache=True)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        abort(400, description=f"body is not valid UTF-8 (byte {exc.start})")
    lines = [(number, line) for number, line in enumerate(body.splitlines(), 1) if line.strip()]
    if not lines:
        abort(400, description="no utterances: send one JSON object per line")
    if len(lines) > MAX_LINES:
        abort(413, description=f"{len(lines)} lines; the limit is {MAX_LINES} per request")
    out = []
    for number, line in lines:
        try:
            payload = json.loads(line)
        except (ValueError, RecursionError) as exc:
            result, status = {"error": f"line {number} is not JSON: {exc}"}, 400
        else:
            result, status = _deliver(payload)
        out.append(json.dumps({"line": number, **result, "status": status} if status >= 400
                              else {"line": number, "http_status": status, **result}, ensure_ascii=False))
    return Response("\n".join(out) + "\n", mimetype="application/x-ndjson")


@bp.post("/api/live/calls/<call_ref>/end")
@require_token("integration")
def end_call(call_ref: str):
    """The call is over: the sidebar is told (it asks the agent to finish the call record), and the server keeps a
    record of the call until the agent uploads theirs (kb/live_records.py). Repeating it is fine."""
    call, ended = live.end_call(get_db(), call_ref, on_end=keep_integration_record)
    if call is None:
        abort(404, description=f"no live call {call_ref!r}")
    return jsonify(call_ref=call_ref, ended=ended, ended_at=call.ended_at.isoformat() + "Z")


# --- the sidebar's stream --------------------------------------------------------------------------------------------

def get_hub() -> LiveHub:
    return current_app.extensions["kb.live_hub"]


def _last_event_id() -> int | None:
    """EventSource sends the last id it saw as ``Last-Event-ID`` when it reconnects; the page passes its stored one
    as ``?after=`` on the first connection."""
    for value in (request.headers.get("Last-Event-ID"), request.args.get("after")):
        if value and value.strip().isdigit():
            return int(value.strip())
    return None


def _sse(event: dict) -> str:
    data = json.dumps({"call_ref": event["call_ref"], **event["data"]}, ensure_ascii=False)
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {data}\n\n"


@bp.get("/agent/live/stream")
@require_role(*AGENT_ROLES)
def stream():
    agent = current_user()["username"]
    hub, db = get_hub(), get_db()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    sub = hub.open_stream(agent)
    if sub is None:  # this process holds its maximum of streams: try again soon (maybe on another worker)
        return Response(f"retry: {BUSY_RETRY_MS}\n: busy\n\n", mimetype="text/event-stream", headers=headers)
    after = _last_event_id()
    lifetime = float(current_app.config.get("LIVE_STREAM_SECONDS", 55))

    def generate():
        last = after
        try:
            if last is None:
                with db.session() as s:
                    last = live.resume_point(s, agent)
            yield f"retry: {RETRY_MS}\n: stream open, after {last}\n\n"
            ends = time.monotonic() + lifetime
            quiet_since = time.monotonic()
            while (left := ends - time.monotonic()) > 0:
                sub.woken.clear()
                with db.session() as s:
                    events = live.events_after(s, agent, last)
                for event in events:
                    yield _sse(event)
                    last = event["id"]
                if events:
                    quiet_since = time.monotonic()
                    continue
                if not sub.woken.wait(min(left, HEARTBEAT_SECONDS)):
                    if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                        yield ": ping\n\n"
                        quiet_since = time.monotonic()
        finally:
            hub.close_stream(sub)

    response = Response(generate(), mimetype="text/event-stream", headers=headers)
    response.call_on_close(lambda: hub.close_stream(sub))  # also when the client left before the stream began
    return response


@bp.record_once
def _setup(state) -> None:
    app = state.app
    max_streams = int(app.config.get("LIVE_MAX_STREAMS", os.environ.get("KB_LIVE_MAX_STREAMS", "32")))
    poll = float(app.config.get("LIVE_POLL_SECONDS", os.environ.get("KB_LIVE_POLL_SECONDS", "0.05")))
    app.extensions["kb.live_hub"] = LiveHub(app.extensions["kb.db"], poll_seconds=poll, max_streams=max_streams)
