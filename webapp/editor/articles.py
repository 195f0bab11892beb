"""Editor workspace, articles: the list, an article's page, editing with live preview, drafts, publishing, 试一试."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from indexer.publish import is_indexed
from indexer.rule_tryout import try_rules
from kb.articles import ARTICLE_TYPES, RULE_TYPES
from kb.diffs import diff_texts
from kb.drafts import (
    DraftConflict,
    Validation,
    assemble,
    check_new_id,
    clean_fields,
    discard_draft,
    empty_fields,
    fields_from_article,
    front_matter,
    get_draft,
    rule_from_fields,
    save_draft,
    validate,
)
from kb.engine import QueryError, QueryTooLong
from kb.health import review_status
from kb.index import IndexMissing
from kb.models import ArticleDraft, ArticleRecord, ArticleVersion
from kb.normalize import normalize
from kb.render import render_markdown
from kb.store import ConflictError, publish, published_articles, version_article

from ..api import json_body
from ..auth import require_role
from ..context import get_db, get_engine
from .blueprint import audit, bp, checked_id, errors_zh, get_updater, username
from .forms import CLOCK_LABELS, FIELD_LABELS, REVIEW_LABELS, int_field


def validate_form(fields: dict) -> Validation:
    """The import rules, plus what only the database knows: ``requires`` must name published rule articles."""
    validation = validate(fields)
    problem = unknown_required_rules(front_matter(fields).get("requires", []))
    if problem and "requires" not in validation.errors:
        validation = Validation(None, {**validation.errors, "requires": problem})
    return validation


def unknown_required_rules(rule_ids: list[str]) -> str | None:
    """Why a ``requires`` list is wrong (an id that is no live disclosure or escalation), or None."""
    if not rule_ids:
        return None
    with get_db().session() as s:
        live = set(s.scalars(select(ArticleRecord.id).where(ArticleRecord.id.in_(rule_ids),
                                                            ArticleRecord.type.in_(RULE_TYPES),
                                                            ArticleRecord.archived.is_(False))))
    missing = [rule_id for rule_id in rule_ids if rule_id not in live]
    if not missing:
        return None
    return "、".join(f"“{rule_id[:80]}”" for rule_id in missing[:5]) + " 不是已发布的须告知或升级规则"


# --- list -----------------------------------------------------------------------------------------------------------

@bp.get("/")
@require_role("editor")
def articles():
    """All published articles with filters, plus drafts of articles not published yet."""
    args = {name: request.args.get(name, "").strip()[:200] for name in ("q", "type", "tag", "owner", "review", "sort")}
    today = dt.date.today()
    with get_db().session() as s:
        published = published_articles(s)
        drafts = {d.article_id: d for d in s.scalars(select(ArticleDraft))}
    rows = [{"article": a, "version": v, "status": review_status(a.review_by, today), "draft": drafts.get(a.id)}
            for v, a in published]
    options = {"tags": sorted({t for r in rows for t in r["article"].tags}),
               "owners": sorted({r["article"].owner for r in rows if r["article"].owner})}
    counts = {key: sum(1 for r in rows if r["status"] == key) for key in ("overdue", "due_soon")}
    shown = [r for r in rows if _matches(r, args)]
    if args["sort"] == "review":
        shown.sort(key=lambda r: (r["article"].review_by or dt.date.max, r["article"].id))
    elif args["sort"] == "updated":
        shown.sort(key=lambda r: r["version"].created_at, reverse=True)
    published_ids = {a.id for _, a in published}
    new_drafts = sorted((d for d in drafts.values() if d.article_id not in published_ids), key=lambda d: d.article_id)
    return render_template("editor/articles.html", rows=shown, total=len(rows), args=args, options=options,
                           counts=counts, new_drafts=new_drafts, review_labels=REVIEW_LABELS,
                           types=ARTICLE_TYPES)


def _matches(row: dict, args: dict) -> bool:
    article = row["article"]
    if args["type"] and article.type != args["type"]:
        return False
    if args["tag"] and args["tag"] not in article.tags:
        return False
    if args["owner"] and article.owner != args["owner"]:
        return False
    if args["review"] and row["status"] != args["review"]:
        return False
    if args["q"]:
        needle = normalize(args["q"])
        haystack = [article.id, article.title, *article.aliases]
        return any(needle in normalize(text) for text in haystack)
    return True


# --- article page and index status ----------------------------------------------------------------------------------

@bp.get("/articles/<article_id>")
@require_role("editor")
def article(article_id: str):
    checked_id(article_id)
    with get_db().session() as s:
        record = s.get(ArticleRecord, article_id)
        draft = get_draft(s, article_id)
        if record is None or record.current is None:
            if draft is not None:
                return redirect(url_for(".edit", article_id=article_id))
            abort(404, description=f"没有 ID 为“{article_id}”的文章")
        version = record.current
        current = version_article(version)
    return render_template("editor/article.html", article=current, version=version, draft=draft,
                           html=render_markdown(current.body), status=index_status(article_id),
                           review=review_status(current.review_by, dt.date.today()), review_labels=REVIEW_LABELS,
                           clock_labels=CLOCK_LABELS)


def index_status(article_id: str) -> dict:
    """Is the current published version what agents' search serves yet? Also re-requests a lost update."""
    with get_db().session() as s:
        record = s.get(ArticleRecord, article_id)
        if record is None or record.current is None:
            abort(404, description=f"没有 ID 为“{article_id}”的文章")
        version, kind, content_hash = record.version, record.current.type, record.current.content_hash
    updater = get_updater()
    worker = updater.status()
    engine = get_engine()
    try:
        searchable = is_indexed(engine.generation(), article_id, kind, version, content_hash)
        if not searchable:
            engine.holder.refresh()  # a build may have just finished: look now rather than up to 0.5 s later
            searchable = is_indexed(engine.generation(), article_id, kind, version, content_hash)
    except IndexMissing:
        searchable = False
    if searchable:
        state = "searchable"
    elif worker["error"] and not worker["pending"] and not worker["running"]:
        state = "failed"
    else:
        state = "indexing"
        if not worker["pending"] and not worker["running"]:
            updater.request()  # published but no update queued (e.g. the server restarted mid-build): queue one now
    labels = {"searchable": f"版本 {version} 已可搜索", "indexing": f"已发布版本 {version}，索引更新中…",
              "failed": f"索引更新失败：{worker['error']}。请稍后刷新重试，或联系管理员。"}
    return {"article_id": article_id, "version": version, "state": state, "label": labels[state]}


@bp.get("/articles/<article_id>/status")
@require_role("editor")
def status(article_id: str):
    return jsonify(index_status(checked_id(article_id)))


# --- editing --------------------------------------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@require_role("editor")
def new():
    if request.method == "POST":
        return _submit(None)
    kind = request.args.get("type", "procedure")
    fields = empty_fields(kind if kind in ARTICLE_TYPES else "procedure")
    return _edit_page(fields, is_new=True, expected_version=0, draft_revision=0)


@bp.route("/articles/<article_id>/edit", methods=["GET", "POST"])
@require_role("editor")
def edit(article_id: str):
    checked_id(article_id)
    if request.method == "POST":
        return _submit(article_id)
    with get_db().session() as s:
        record = s.get(ArticleRecord, article_id)
        draft = get_draft(s, article_id)
        if (record is None or record.current is None) and draft is None:
            abort(404, description=f"没有 ID 为“{article_id}”的文章")
        current_version = record.version if record else 0
        if draft is not None:
            fields = clean_fields(draft.fields)
            expected, revision = draft.base_version, draft.revision
        else:
            fields = fields_from_article(version_article(record.current))
            expected, revision = current_version, 0
    fields["id"] = article_id
    errors = errors_zh(validate_form(fields).errors) if draft is not None else {}
    return _edit_page(fields, is_new=current_version == 0, expected_version=expected, draft_revision=revision,
                      draft=draft, current_version=current_version, errors=errors)


def _edit_page(fields: dict, *, is_new: bool, expected_version: int, draft_revision: int, status: int = 200,
               draft: ArticleDraft | None = None, current_version: int = 0, errors: dict | None = None,
               conflict: dict | None = None, message: str = ""):
    return render_template(
        "editor/edit.html", fields=fields, is_new=is_new, expected_version=expected_version,
        draft_revision=draft_revision, draft=draft, current_version=current_version, errors=errors or {},
        conflict=conflict, message=message, preview=render_markdown(fields["body"]),
        rule_preview=rule_preview(fields), types=ARTICLE_TYPES, labels=FIELD_LABELS, clock_labels=CLOCK_LABELS), status


def rule_preview(fields: dict) -> str:
    """For disclosures and escalations: the card agents see when the rule fires (what to say, the steps)."""
    html = render_template("editor/_rule_preview.html", meta=front_matter(fields), clock_labels=CLOCK_LABELS)
    return Markup(html.strip())  # rendered by an autoescaping template: safe to embed as it is


def _submit(article_id: str | None):
    """Save a draft, publish, or discard the draft, from the edit form; a refusal keeps everything the user typed."""
    action = request.form.get("action", "")
    if action not in ("draft", "publish", "discard"):
        abort(400, description="action must be draft, publish or discard")
    fields = clean_fields(request.form)
    fields["id"] = article_id or fields["id"].strip()
    expected_version = int_field("expected_version", 0)
    draft_revision = int_field("draft_revision", 0)
    message = request.form.get("message", "").strip()[:500]
    page = dict(is_new=article_id is None or expected_version == 0, expected_version=expected_version,
                draft_revision=draft_revision, message=message)

    if article_id is None or expected_version == 0:
        problem = check_new_id(fields["id"])
        if problem is None:
            with get_db().session() as s:
                if article_id is None and s.get(ArticleRecord, fields["id"]) is not None:
                    problem = f"ID “{fields['id']}”已被现有文章使用，请换一个"
        if problem:
            return _edit_page(fields, errors={"id": problem}, status=422, **page)
    if action == "discard":
        return _discard(fields["id"], draft_revision)
    if action == "draft":
        return _save_draft(fields, page)
    return _publish(fields, page)


def _discard(article_id: str, revision: int):
    with get_db().session() as s:
        removed = discard_draft(s, article_id, revision)
        if removed:
            audit(s, "discard-draft", article_id, f"revision {revision}")
        published = s.get(ArticleRecord, article_id) is not None
    flash("草稿已丢弃。" if removed else "草稿未丢弃：它已被其他编辑更新或已不存在，请刷新后查看。")
    return redirect(url_for(".article", article_id=article_id) if published else url_for(".articles"))


def _save_draft(fields: dict, page: dict):
    article_id = fields["id"]
    try:
        draft = save_draft(get_db(), article_id, fields, username(), page["draft_revision"],
                           page["expected_version"])
    except DraftConflict as exc:
        theirs = exc.current
        if theirs is None:  # the draft this editor opened was published or discarded meanwhile
            conflict = {"kind": "draft-gone"}
        else:
            conflict = {"kind": "draft", "author": theirs.author, "at": theirs.updated_at, "revision": theirs.revision,
                        "diff": diff_texts(assemble(clean_fields(theirs.fields)), assemble(fields))}
        page["draft_revision"] = theirs.revision if theirs else 0
        return _edit_page(fields, conflict=conflict, status=409, errors=errors_zh(validate_form(fields).errors), **page)
    with get_db().session() as s:
        audit(s, "save-draft", article_id, f"revision {draft.revision}")
    problems = validate_form(fields).errors
    flash("草稿已保存。" + (f"发布前还需修改 {len(problems)} 处（已在表单中标出）。" if problems else ""))
    return redirect(url_for(".edit", article_id=article_id))


def _publish(fields: dict, page: dict):
    article_id = fields["id"]
    validation = validate_form(fields)
    if not validation.ok:
        return _edit_page(fields, errors=errors_zh(validation.errors), status=422, **page)
    kept_draft = None
    try:
        with get_db().session() as s:
            result = publish(s, validation.article, author=username(), message=page["message"],
                             expected_version=page["expected_version"])
            draft = get_draft(s, article_id)
            if draft is not None:
                if draft.revision == page["draft_revision"]:
                    s.delete(draft)
                else:
                    kept_draft = draft.author
    except (ConflictError, IntegrityError):
        return _publish_conflict(fields, page)
    if result.changed:
        get_updater().request()
        flash(f"已发布版本 {result.version}。")
    else:
        flash("内容与当前版本相同，未生成新版本。")
    if kept_draft:
        flash(f"{kept_draft} 另存的较新草稿仍保留，未被覆盖。")
    return redirect(url_for(".article", article_id=article_id))


def _publish_conflict(fields: dict, page: dict):
    """409: someone published since this editor started; show their version against the user's, keep the form."""
    with get_db().session() as s:
        record = s.get(ArticleRecord, fields["id"])
        if record is None or record.current is None:
            abort(409, description="发布未完成：另一位编辑正在同时创建这篇文章，请稍后重试；你的内容仍在浏览器的上一页中。")
        current: ArticleVersion = record.current
        theirs = version_article(current).to_markdown()
        conflict = {"kind": "publish", "author": current.author, "at": current.created_at, "version": record.version,
                    "started": page["expected_version"], "diff": diff_texts(theirs, assemble(fields))}
    page["expected_version"] = conflict["version"]
    page["is_new"] = False
    return _edit_page(fields, conflict=conflict, status=409, current_version=conflict["version"], **page)


@bp.post("/preview")
@require_role("editor")
def preview():
    """Live preview: the body rendered by the agents' renderer, and the form's validation errors."""
    fields = clean_fields(json_body())
    validation = validate_form(fields)
    return jsonify(html=render_markdown(fields["body"]), rule=rule_preview(fields),
                   errors=errors_zh(validation.errors))


@bp.post("/try-rules")
@require_role("editor")
def try_rules_view():
    """「试一试」: the rules that fire for one sentence, with the form's unpublished rule in place of its published
    version. Body: ``{"text": "...", "fields": {edit form}}``."""
    data = json_body()
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        abort(400, description='"text" is required: the sentence to try')
    raw = data.get("fields") or {}
    if not isinstance(raw, dict):
        abort(400, description='"fields" must be an object (the edit form)')
    draft = rule_from_fields(clean_fields(raw))
    try:
        results = try_rules(get_engine(), text, draft)
    except QueryError as exc:
        abort(413 if isinstance(exc, QueryTooLong) else 400, description=str(exc))
    except IndexMissing as exc:
        abort(503, description=str(exc))
    return jsonify(text=text, draft=draft.id if draft else None, results=results)

