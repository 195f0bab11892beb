"""The agent sidebar: the page agents keep beside their softphone, whole-article pages, call records and feedback.

Suggestions come from ``POST /api/suggest`` (the sidebar sends ``log: false`` while the agent types and ``log: true``
once the text has settled); this blueprint only adds what is specific to the sidebar.
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, url_for

from kb.articles import TYPE_LABELS
from kb.calls import CallDataError, parse_call_report, save_call, save_feedback
from kb.live import end_call as end_live_call
from kb.live_records import attach_live, discard_integration_record
from kb.models import ArticleRecord
from kb.render import render_markdown
from kb.store import version_article

from .api import json_body
from .auth import AGENT_ROLES, current_user, require_role
from .context import get_db

bp = Blueprint("agent", __name__, url_prefix="/agent")


@bp.get("")
@require_role(*AGENT_ROLES)
def sidebar():
    urls = {"suggest": url_for("api.suggest"), "feedback": url_for("agent.feedback"),
            "calls": url_for("agent.calls"), "article": url_for("agent.article", article_id="ARTICLE_ID"),
            "search": url_for("search.page"), "live": url_for("live.stream"),
            "login": url_for("auth.login", next=url_for("agent.sidebar"))}
    return render_template("agent/sidebar.html", urls=urls)


@bp.get("/article/<article_id>")
@require_role(*AGENT_ROLES)
def article(article_id: str):
    with get_db().session() as s:
        record = s.get(ArticleRecord, article_id)
        if record is None or record.archived or record.current is None:
            abort(404, description=f"没有已发布的文章「{article_id}」")
        version = record.current
        item = version_article(version)
        page = dict(article=item, version=version.number, updated=version.created_at,
                    type_label=TYPE_LABELS.get(item.type, item.type), body_html=render_markdown(item.body))
    return render_template("agent/article.html", **page)


@bp.post("/api/feedback")
@require_role(*AGENT_ROLES)
def feedback():
    """Store a vote; a retried or changed vote on the same answer and query returns the same row (200, not 201)."""
    payload = json_body()
    with get_db().session() as s:
        try:
            row, created = save_feedback(s, current_user()["username"], payload)
        except CallDataError as exc:
            abort(400, description=str(exc))
        return jsonify(id=row.id, created=created), 201 if created else 200


@bp.post("/api/calls")
@require_role(*AGENT_ROLES)
def calls():
    """Store a finished call; a retried upload of the same call returns the stored record (200, not 201)."""
    try:
        report = parse_call_report(json_body())
    except CallDataError as exc:
        abort(400, description=str(exc))
    agent = current_user()["username"]
    ref = report.data["live_call_ref"]
    if ref:
        # the agent finished the call: a reloaded page must not pick it up again
        call, _ = end_live_call(get_db(), ref, agent)
        if call is None:
            abort(400, description=f"live_call_ref: no live call {ref!r} of agent {agent!r}")
        # the live call's transcript, suggestions, rules fired and disclosures said, as the server stored them
        with get_db().session() as s:
            attach_live(s, report, agent)
    with get_db().session() as s:
        record, created = save_call(s, agent, report)
        if ref:
            discard_integration_record(s, agent, ref)  # the agent's record replaces the one the server kept
        return jsonify(id=record.id, created=created), 201 if created else 200
