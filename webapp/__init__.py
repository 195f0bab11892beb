"""Flask application factory: one blueprint per audience, configuration from the environment."""
from __future__ import annotations

import mimetypes
import os
import secrets
import threading

from flask import Flask, jsonify, redirect, url_for

import kb.training  # noqa: F401  (registers the training tables on the models' metadata)
from indexer.follower import IndexFollower
from kb.articles import TYPE_LABELS
from kb.config import Settings
from kb.db import Database
from kb.engine import KnowledgeBase
from kb.private_files import write_private

from . import auth, cli, querylog, security


def _secret_key(settings: Settings) -> str:
    """KB_SECRET_KEY, or a random key generated once and kept in the data dir (never a fixed default)."""
    if os.environ.get("KB_SECRET_KEY"):
        return os.environ["KB_SECRET_KEY"]
    path = settings.data_dir / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_hex(32), replace=False)
    return path.read_text().strip()


def _follow_index(app: Flask, db: Database) -> None:
    """Publishes on other nodes reach this process's index (``indexer/follower.py``). A serving process starts the
    follower with its first request (the gunicorn config starts it as soon as a worker is up), so command-line uses
    of the app (``flask setup``) never run one. ``FOLLOW_INDEX``: True starts it now, False never."""
    poll = float(app.config.get("INDEX_POLL_SECONDS", os.environ.get("KB_INDEX_POLL_SECONDS", "2")))
    lock = threading.Lock()

    def start() -> IndexFollower:
        with lock:
            if "kb.index_follower" not in app.extensions:
                updater = app.extensions["kb.index_updater"]

                def busy() -> bool:
                    status = updater.status()
                    return status["pending"] or status["running"]

                app.extensions["kb.index_follower"] = IndexFollower(
                    db, updater.request, app.extensions["kb.settings"].index_dir, poll_seconds=poll,
                    busy=busy).start()
            return app.extensions["kb.index_follower"]

    app.extensions["kb.start_follower"] = start
    mode = app.config.get("FOLLOW_INDEX")
    if mode is True:
        start()
    elif mode is None and not app.testing:
        @app.before_request
        def _start_following():
            if "kb.index_follower" not in app.extensions:
                start()


# The sidebar's scripts are ES modules, which browsers refuse unless served as JavaScript; some systems' MIME
# registries map .js to something else.
mimetypes.add_type("text/javascript", ".js")


def create_app(config: dict | None = None) -> Flask:
    config = dict(config or {})
    settings = config.pop("SETTINGS", None) or Settings.from_env()
    settings.ensure_dirs()
    app = Flask(__name__, instance_path=str(settings.data_dir))
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("KB_SECURE_COOKIES", "0") == "1",
        JSON_AS_ASCII=False,
    )
    app.config.update(config)
    app.json.ensure_ascii = False
    db = Database(settings.database_url)
    db.upgrade()
    app.extensions["kb.settings"] = settings
    app.extensions["kb.db"] = db
    app.extensions["kb.engine"] = config.get("ENGINE") or KnowledgeBase(settings)
    app.extensions["kb.querylog"] = querylog.QueryLog(db)

    security.init_app(app)
    auth.init_app(app)
    cli.init_app(app)

    from .agent import bp as agent_bp
    from .api import bp as api_bp
    from .editor import bp as editor_bp
    from .live import bp as live_bp
    from .qa import bp as qa_bp
    from .search_page import bp as search_bp
    from .training import bp as training_bp
    for blueprint in (auth.bp, api_bp, live_bp, search_bp, agent_bp, training_bp, qa_bp, editor_bp):
        app.register_blueprint(blueprint)
    app.jinja_env.globals["view_functions"] = app.view_functions  # the nav shows only pages that exist
    app.jinja_env.globals["type_labels"] = TYPE_LABELS

    _follow_index(app, db)

    if app.config.get("WARM_UP", not app.testing):
        # Load the model and the index now, not on the first agent's keystroke (that takes seconds).
        threading.Thread(target=app.extensions["kb.engine"].warm, name="warm-up", daemon=True).start()

    @app.get("/")
    def index():
        user = auth.current_user()
        if user is None:
            return redirect(url_for("auth.login"))
        return redirect(url_for(auth.home_endpoint(user["role"])))

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", ready=app.extensions["kb.engine"].ready)

    return app
