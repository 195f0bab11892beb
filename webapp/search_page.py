"""A plain search page (server-rendered, works without JavaScript): the fallback when the sidebar is not at hand."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from kb.engine import QueryError
from kb.index import IndexMissing

from .auth import require_role
from .context import get_engine

bp = Blueprint("search", __name__)


@bp.get("/search")
@require_role("agent", "editor", "trainer")
def page():
    query = request.args.get("q", "").strip()
    error, result = None, None
    if query:
        try:
            result = get_engine().suggest(query, k=10)
        except (QueryError, IndexMissing) as exc:
            error = str(exc)
    return render_template("search.html", query=query, result=result, error=error)
