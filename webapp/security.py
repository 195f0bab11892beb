"""CSRF tokens, security headers (a CSP the pages honour: no inline scripts or styles) and JSON error pages."""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import unquote_to_bytes

from flask import Flask, abort, jsonify, render_template, request, session
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.routing import IntegerConverter

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")


def csrf_token() -> str:
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(32)
    return token


def _check_csrf(app: Flask) -> None:
    if request.method in SAFE_METHODS:
        return
    view = app.view_functions.get(request.endpoint)
    if getattr(view, "csrf_exempt", False):  # authenticated by an API token, never by the session cookie
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        abort(400, description="CSRF token missing or invalid: reload the page and try again")


def _check_form_encoding() -> None:
    """Refuse a form with a field that is not valid UTF-8, naming the field. Werkzeug would keep such bytes as
    literal %XX text (URL-encoded forms) or U+FFFD (multipart), and the editor would save that as typed."""
    if request.method in SAFE_METHODS:
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        for pair in request.get_data(cache=True).split(b"&"):  # the form is still parsed from the cached body
            name, _, value = pair.partition(b"=")
            for data in (name, value):
                try:
                    unquote_to_bytes(data.replace(b"+", b" ")).decode("utf-8")
                except UnicodeDecodeError as exc:
                    field = unquote_to_bytes(name).decode("utf-8", "replace")
                    abort(400, description=f"form field {field!r} is not valid UTF-8 (byte {exc.start}): nothing "
                                           f"was saved")
    elif request.mimetype == "multipart/form-data":
        for field, value in request.form.items(multi=True):
            if "\ufffd" in value:
                abort(400, description=f"form field {field!r} is not valid UTF-8 (it holds U+FFFD, the stand-in "
                                       f"for broken text): nothing was saved")


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json" or request.is_json


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that only matches what a database integer can hold: /quizzes/99999999999999999999 is a 404,
    not an OverflowError (500) from the database driver."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2 ** 63 - 1, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


SQLITE_OUTAGE_WORDS = ("locked", "busy", "readonly", "read-only", "disk", "full")


def _is_outage(exc: DBAPIError | SQLAlchemyTimeout) -> bool:
    """SQLite says what went wrong only in words; a psycopg OperationalError or InterfaceError, a connection that
    was lost mid-request, or no free pooled connection is the server or the way to it failing (refused,
    restarting, terminated, lock timeout), never a malformed request."""
    if isinstance(exc, SQLAlchemyTimeout) or getattr(exc, "connection_invalidated", False):
        return True
    if type(exc.orig).__module__.startswith("psycopg"):
        return isinstance(exc, (OperationalError, InterfaceError))
    return isinstance(exc, OperationalError) and any(word in str(exc.orig).lower() for word in SQLITE_OUTAGE_WORDS)


def init_app(app: Flask) -> None:
    """Call before registering blueprints (their ``<int:...>`` routes must get the bounded converter)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def check_posted_form():
        _check_form_encoding()
        if not app.config.get("CSRF_DISABLED"):
            _check_csrf(app)

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return jsonify(error=exc.description or exc.name, status=exc.code), exc.code
        return render_template("error.html", error=exc), exc.code

    @app.errorhandler(SQLAlchemyTimeout)
    def pool_exhausted(exc: SQLAlchemyTimeout):
        return database_unavailable(exc)

    @app.errorhandler(DBAPIError)
    def database_unavailable(exc: DBAPIError | SQLAlchemyTimeout):
        """A locked, read-only or full database, or a database server that is down, restarting or out of
        connections, is an outage to retry, not a bug: 503 saying nothing was saved."""
        if not _is_outage(exc):
            return unexpected(exc)
        app.logger.warning("database unavailable on %s: %s", request.path, getattr(exc, "orig", exc))
        response = app.make_response(http_error(ServiceUnavailable(
            "数据库暂时不可用（正忙、只读或正在重启），本次操作没有保存任何内容。请返回上一页（已填写的内容仍在），稍后重试。")))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        if wants_json():
            return jsonify(error="internal error: the server logged the details", status=500), 500
        return render_template("error.html", error=None), 500
