"""Version history of one article: list, view one version, diff any two, roll back (a new version, never a rewrite)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kb.diffs import diff_texts
from kb.models import ArticleRecord, ArticleVersion
from kb.render import render_markdown
from kb.store import ConflictError, publish, version_article

from ..auth import require_role
from ..context import get_db
from .blueprint import audit, bp, checked_id, get_updater, username
from .forms import CLOCK_LABELS, int_field


def _versions(session, article_id: str) -> tuple[ArticleRecord, list[ArticleVersion], str]:
    """The article, its versions newest first, and its current title (read while the session is open)."""
    record = session.get(ArticleRecord, article_id)
    if record is None or record.current is None:
        abort(404, description=f"没有 ID 为“{article_id}”的文章")
    versions = session.scalars(select(ArticleVersion).where(ArticleVersion.article_id == article_id)
                               .order_by(ArticleVersion.number.desc())).all()
    return record, list(versions), record.current.title


def _version(versions: list[ArticleVersion], number: int) -> ArticleVersion:
    for version in versions:
        if version.number == number:
            return version
    abort(404, description=f"文章没有版本 {number}")


@bp.get("/articles/<article_id>/history")
@require_role("editor")
def history(article_id: str):
    checked_id(article_id)
    with get_db().session() as s:
        record, versions, title = _versions(s, article_id)
    return render_template("editor/history.html", record=record, versions=versions, article_id=article_id,
                           title=title, error=None)


@bp.get("/articles/<article_id>/versions/<int:number>")
@require_role("editor")
def version(article_id: str, number: int):
    checked_id(article_id)
    with get_db().session() as s:
        record, versions, _ = _versions(s, article_id)
        chosen = _version(versions, number)
    article = version_article(chosen)
    return render_template("editor/version.html", record=record, version=chosen, article=article,
                           html=render_markdown(article.body), clock_labels=CLOCK_LABELS)


@bp.get("/articles/<article_id>/diff")
@require_role("editor")
def diff(article_id: str):
    """Any two versions, older on the left of the comparison whichever order they were picked in."""
    checked_id(article_id)
    with get_db().session() as s:
        record, versions, title = _versions(s, article_id)
        a = int_field("a", max(record.version - 1, 1), source=request.args)
        b = int_field("b", record.version, source=request.args)
        old, new = _version(versions, min(a, b)), _version(versions, max(a, b))
    result = diff_texts(version_article(old).to_markdown(), version_article(new).to_markdown())
    return render_template("editor/diff.html", record=record, versions=versions, old=old, new=new, diff=result,
                           article_id=article_id, title=title)


@bp.post("/articles/<article_id>/rollback")
@require_role("editor")
def rollback(article_id: str):
    """Publish an old version's content as the newest version, if nobody published since the page was loaded."""
    checked_id(article_id)
    number = int_field("version")
    expected = int_field("expected_version")
    with get_db().session() as s:
        _, versions, _ = _versions(s, article_id)
        old = version_article(_version(versions, number))
    try:
        with get_db().session() as s:
            result = publish(s, old, author=username(), message=f"回滚到版本 {number}", expected_version=expected)
            if result.changed:
                audit(s, "rollback", article_id, f"version {number} → new version {result.version}")
    except (ConflictError, IntegrityError):
        with get_db().session() as s:
            record, versions, title = _versions(s, article_id)
        error = (f"回滚未执行：你打开页面时的版本是 {expected}，之后 {versions[0].author} 已发布了版本 "
                 f"{record.version}。请先查看最新版本，再决定是否回滚。")
        return render_template("editor/history.html", record=record, versions=versions, article_id=article_id,
                               title=title, error=error), 409
    if result.changed:
        get_updater().request()
        flash(f"已回滚：版本 {number} 的内容已发布为版本 {result.version}。")
    else:
        flash(f"当前内容已与版本 {number} 相同，无需回滚。")
    return redirect(url_for(".article", article_id=article_id))
