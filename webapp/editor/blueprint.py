"""The editor blueprint and what every editor page shares: the body limits, the index updater, the audit log.

Every route on it requires the editor role (admin passes too).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, request

from indexer.publish import IndexUpdater
from kb.articles import ID_PATTERN
from kb.health import GenerationVectors
from kb.models import AuditEntry

from ..auth import current_user
from .forms import beijing_time, message_zh

bp = Blueprint("editor", __name__, url_prefix="/editor")
EDIT_LIMIT = 2 * 1024 * 1024       # an article may be 512 KiB; the form around it is small
IMPORT_LIMIT = 16 * 1024 * 1024    # several article files in one upload


@bp.url_value_preprocessor
def _request_limits(endpoint, values):
    """Raise the app's 256 KiB body limit for editor forms.

    A URL value preprocessor is the one blueprint hook that runs before the app-wide CSRF check reads the form.
    """
    limit = IMPORT_LIMIT if endpoint == "editor.import_files" else EDIT_LIMIT
    request.max_content_length = limit
    request.max_form_memory_size = EDIT_LIMIT


@bp.record_once
def _setup(state) -> None:
    app = state.app
    app.extensions["kb.index_updater"] = IndexUpdater(app.extensions["kb.settings"], app.extensions["kb.db"])
    app.extensions["kb.article_vectors"] = GenerationVectors()
    app.add_template_filter(beijing_time, "editor_time")


def get_updater() -> IndexUpdater:
    return current_app.extensions["kb.index_updater"]


def username() -> str:
    return current_user()["username"]


def audit(session, action: str, target: str, detail: str = "") -> None:
    session.add(AuditEntry(actor=username(), action=action, target=target[:120], detail=detail))


def checked_id(article_id: str) -> str:
    if not ID_PATTERN.match(article_id):
        abort(404, description=f"没有 ID 为“{article_id[:80]}”的文章")
    return article_id


def errors_zh(errors: dict[str, str]) -> dict[str, str]:
    return {name: message_zh(message) for name, message in errors.items()}


