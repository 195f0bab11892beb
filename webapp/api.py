"""JSON API. ``POST /api/suggest`` returns the object in docs/interfaces.md; errors are JSON with a clear message."""
from __future__ import annotations

import math

from flask import Blueprint, abort, current_app, jsonify, request

from kb.engine import QueryError, QueryTooLong
from kb.index import IndexMissing

from .auth import AGENT_ROLES, current_user, require_role
from .context import get_engine, get_querylog
from .ratelimit import RateLimiter

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> dict:
    """The request's JSON object, or a 400/415 saying what is wrong with it."""
    if not request.is_json:
        abort(415, description="send JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        abort(400, description=f"body is not valid UTF-8 (byte {exc.start})")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the JSON parser gives up on very deep nesting with this, not a ValueError
        abort(400, description="body is nested too deeply to be a request")
    if not isinstance(data, dict):
        abort(400, description="body must be a JSON object")
    return data


def _seconds(data: dict, name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        abort(400, description=f"{name} must be a non-negative number of seconds")
    return float(value)


def _rate_limit() -> None:
    limiter: RateLimiter = current_app.extensions["kb.api_limiter"]
    user = current_user()
    if not limiter.allow(user["username"] if user else request.remote_addr or "?"):
        abort(429, description="too many requests: slow down")


@bp.post("/suggest")
@require_role(*AGENT_ROLES)
def suggest():
    _rate_limit()
    data = json_body()
    text = data.get("text")
    if not isinstance(text, str):
        abort(400, description='"text" is required and must be a string')
    k = data.get("k", 5)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
        abort(400, description='"k" must be a whole number from 1 to 20')
    try:
        result = get_engine().suggest(text, k=k, wait_seconds=_seconds(data, "wait_seconds"),
                                      call_seconds=_seconds(data, "call_seconds"))
    except QueryError as exc:
        abort(413 if isinstance(exc, QueryTooLong) else 400, description=str(exc))
    except IndexMissing as exc:
        abort(503, description=str(exc))
    if text.strip() and data.get("log", True):
        get_querylog().record(current_user()["username"], text, result)
    return jsonify(result)


@bp.get("/search")
@require_role(*AGENT_ROLES)
def search():
    _rate_limit()
    query = request.args.get("q", "")
    mode = request.args.get("mode", "hybrid")
    if mode not in ("hybrid", "keyword", "dense"):
        abort(400, description="mode must be hybrid, keyword or dense")
    try:
        k = int(request.args.get("k", 10))
    except ValueError:
        abort(400, description="k must be a whole number")
    try:
        answers = get_engine().search(query, k=k, mode=mode)
    except QueryError as exc:
        abort(413 if isinstance(exc, QueryTooLong) else 400, description=str(exc))
    except IndexMissing as exc:
        abort(503, description=str(exc))
    return jsonify(answers=answers)


@bp.record_once
def _setup(state) -> None:
    state.app.extensions["kb.api_limiter"] = RateLimiter(state.app.extensions["kb.db"], "api",
                                                         limit=state.app.config.get("API_RATE_LIMIT", 600),
                                                         window_seconds=60, fail_open=True)
