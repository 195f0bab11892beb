"""QA view for trainers: finished calls and agents by adherence, and the one-click quiz from an agent's misses.

Views stay thin: adherence is read by ``kb.qa`` (pure) and ``kb.training.remedial`` (calls, quiz from misses).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from kb.index import IndexMissing
from kb.models import CallRecord, User
from kb.qa import LATE, MISSED, SAID, summarize_agents, summarize_call
from kb.training import remedial
from kb.training.questions import TrainingError

from .auth import current_user, require_role
from .context import get_db, get_engine

bp = Blueprint("qa", __name__, url_prefix="/training/qa")

STATUS_LABELS = {SAID: "已告知", LATE: "晚告知", MISSED: "漏告知"}
HOW_LABELS = {"auto": "自动识别", "manual": "手动勾选"}


def _rule_titles() -> dict[str, str]:
    """Rule id → title from the live index (a call may name a rule that has since been retired: its id shows)."""
    try:
        return {r["id"]: r["title"] for r in get_engine().generation().rules}
    except (IndexMissing, RuntimeError):  # no index (or one for another model): ids are shown instead of titles
        return {}


def _by_rate(call: remedial.ReviewedCall):
    rate = call.adherence.rate
    return (rate is None, rate if rate is not None else 0.0, -call.record.id)


@bp.context_processor
def _helpers():
    return {"status_labels": STATUS_LABELS, "how_labels": HOW_LABELS}


@bp.get("/")
@require_role("trainer")
def overview():
    with get_db().session() as s:
        calls = remedial.recent_calls(s)
        agents = summarize_agents([(c.record.agent, c.adherence) for c in calls])
        return render_template("training/qa_overview.html", agents=agents, calls=sorted(calls, key=_by_rate),
                               titles=_rule_titles())


@bp.get("/agents/<agent>")
@require_role("trainer")
def agent(agent: str):
    with get_db().session() as s:
        calls = remedial.recent_calls(s, agent)
        if not calls and s.query(User).filter_by(username=agent).first() is None:
            abort(404, description="没有这个坐席。")
        summary = summarize_agents([(agent, c.adherence) for c in calls])
        return render_template("training/qa_agent.html", agent=agent, calls=calls,
                               summary=summary[0] if summary else None, misses=remedial.missed_rules(calls),
                               titles=_rule_titles())


@bp.get("/calls/<int:call_id>")
@require_role("trainer")
def call(call_id: int):
    with get_db().session() as s:
        record = s.get(CallRecord, call_id)
        if record is None:
            abort(404, description="没有找到这通电话。")
        live = (record.data or {}).get("live") or {}
        return render_template("training/qa_call.html", record=record, adherence=summarize_call(record.data),
                               transcript=live.get("transcript") or [], titles=_rule_titles())


@bp.post("/agents/<agent>/quiz")
@require_role("trainer")
def quiz(agent: str):
    with get_db().session() as s:
        try:
            built = remedial.quiz_from_misses(s, agent, current_user()["username"])
        except TrainingError as exc:
            s.rollback()
            flash(str(exc))
            return redirect(url_for(".agent", agent=agent))
        quiz_id, count = built.id, len(built.items)
    flash(f"已根据 {agent} 的漏告知生成 {count} 道题的补课测验，并分配给 {agent}。")
    return redirect(url_for("training.quiz_detail", quiz_id=quiz_id))
