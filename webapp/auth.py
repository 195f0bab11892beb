"""Login, logout and role checks. Every view outside this module declares the roles it serves."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from kb.models import AuditEntry, User
from kb.users import authenticate

from .context import get_db
from .ratelimit import RateLimiter
from .security import wants_json

bp = Blueprint("auth", __name__)
# Roles that use the agent's pages (sidebar, search, suggest API): editors and trainers check their own content.
AGENT_ROLES = ("agent", "editor", "trainer")

HOME = {"agent": "agent.sidebar", "editor": "editor.articles", "trainer": "training.home", "admin": "editor.articles"}


def current_user() -> dict | None:
    """The logged-in user as {id, username, role, display_name}, re-checked against the database once a request."""
    if "user" in g:
        return g.user
    user = None
    user_id = session.get("user_id")
    if user_id is not None:
        with get_db().session() as s:
            record = s.get(User, user_id)
            if record is not None and record.active:
                user = {"id": record.id, "username": record.username, "role": record.role,
                        "display_name": record.display_name}
    g.user = user
    return user


def home_endpoint(role: str) -> str:
    endpoint = HOME.get(role, "search.page")
    return endpoint if endpoint in current_app.view_functions else "search.page"


def require_role(*roles: str):
    """Allow the given roles (admin always); anonymous users go to login (401 for the API), others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                if wants_json():
                    abort(401, description="login required")
                return redirect(url_for("auth.login", next=request.full_path))
            if user["role"] != "admin" and user["role"] not in roles:
                abort(403, description="your role does not allow this page")
            return view(*args, **kwargs)

        wrapper.allowed_roles = roles
        return wrapper

    return decorator


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:80]
        password = request.form.get("password", "")[:200]
        limiter: RateLimiter = current_app.extensions["kb.login_limiter"]
        key = f"{request.remote_addr}|{username.lower()}"
        if not limiter.allow(key):
            error = "尝试次数过多，请稍后再试。"
            return render_template("login.html", error=error, username=username), 429
        with get_db().session() as s:
            user = authenticate(s, username, password)
            s.add(AuditEntry(actor=username or "?", action="login" if user else "login-failed", target="session",
                             detail=request.remote_addr or ""))
            if user is not None:
                limiter.reset(key)  # only failures count: an agent logging in again and again is never locked out
                session.clear()
                session["user_id"] = user.id
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")) or url_for(home_endpoint(user.role)))
        error = "用户名或密码不正确。"
        return render_template("login.html", error=error, username=username), 401
    return render_template("login.html", error=error, username="")


@bp.post("/logout")
def logout():
    session.clear()
    flash("已退出登录。")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    app.extensions["kb.login_limiter"] = RateLimiter(app.extensions["kb.db"], "login",
                                                     limit=app.config.get("LOGIN_ATTEMPTS", 10), window_seconds=300)

    @app.context_processor
    def inject_user():
        return {"current_user": current_user()}
