"""The knowledge base as a whole: content health, Markdown import and export, and the audit log."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import PurePath

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kb.articles import MAX_FILE_BYTES, Article, ArticleError, parse_article
from kb.health import (
    DISMISSAL_WINDOW_DAYS,
    DUPLICATE_THRESHOLD,
    LOW_CONFIDENCE,
    REVIEW_SOON_DAYS,
    near_duplicates,
    query_gaps,
    reviews_due,
    rule_dismissals,
    unhelpful_articles,
)
from kb.index import IndexMissing
from kb.models import ArticleRecord, AuditEntry, utcnow
from kb.normalize import normalize
from kb.store import TYPE_FOLDERS, ConflictError, import_articles, publish, published_articles, version_article

from ..auth import require_role
from ..context import get_db, get_engine
from .blueprint import audit, bp, checked_id, get_updater, username
from .forms import FIELD_LABELS, int_field, message_zh

MAX_FILES = 500
MAX_COUNTER_EXAMPLE = 2000  # what an agent could type (the suggest API's limit)
MARKDOWN_SUFFIXES = {".md", ".markdown", ".txt"}
AUDIT_PAGE = 50
ACTION_LABELS = {"publish": "发布", "save-draft": "保存草稿", "discard-draft": "丢弃草稿", "rollback": "回滚",
                 "import": "导入", "export": "导出", "login": "登录", "login-failed": "登录失败",
                 "create-user": "创建账号"}


# --- health ---------------------------------------------------------------------------------------------------------

def _generation_vectors():
    """Article vectors of the generation being served (cached per generation in the app's extensions)."""
    return current_app.extensions["kb.article_vectors"].get(get_engine().generation())


@bp.get("/health")
@require_role("editor")
def health():
    today = dt.date.today()
    days = min(max(int_field("days", DISMISSAL_WINDOW_DAYS, source=request.args), 1), 365)
    with get_db().session() as s:
        live = published_articles(s)
        published = [a for _, a in live]
        unhelpful = unhelpful_articles(s)
        gaps = query_gaps(s)
        rules = {a.id: a for a in published if a.is_rule}
        dismissals = rule_dismissals(s, utcnow() - dt.timedelta(days=days), rules)
    titles = {a.id: a.title for a in published}
    versions = {a.id: v.number for v, a in live}
    try:
        duplicates, closest = near_duplicates(*_generation_vectors())
    except IndexMissing:
        duplicates, closest = [], None
    return render_template("editor/health.html", due=reviews_due(published, today), unhelpful=unhelpful,
                           gaps=gaps, duplicates=duplicates, closest=closest, titles=titles,
                           threshold=DUPLICATE_THRESHOLD, low_confidence=LOW_CONFIDENCE, soon_days=REVIEW_SOON_DAYS,
                           dismissals=dismissals, dismissal_days=days, versions=versions)


@bp.post("/articles/<article_id>/counter-examples")
@require_role("editor")
def add_counter_example(article_id: str):
    """One click from content health: publish a new version of a rule with a dismissed text as a counter-example.

    The form carries the version the editor saw; if someone published since, nothing is written (409).
    """
    checked_id(article_id)
    text = request.form.get("text", "").strip()
    if not text:
        abort(400, description="text is required: the sentence to add as a counter-example")
    if len(text) > MAX_COUNTER_EXAMPLE:
        abort(400, description=f"text is {len(text)} characters; the limit is {MAX_COUNTER_EXAMPLE}")
    expected = int_field("expected_version")
    try:
        with get_db().session() as s:
            rule = _live_rule(s, article_id)
            if normalize(text) in {normalize(c) for c in rule.counter_examples}:
                flash(f"「{text}」已是「{rule.title}」的反例，未生成新版本。")
                return redirect(url_for(".health") + "#dismissals")
            updated = _with_counter_example(rule, text)
            result = publish(s, updated, author=username(), message=f"加为反例：{text[:80]}",
                             expected_version=expected)
    except (ConflictError, IntegrityError):
        with get_db().session() as s:
            record = s.get(ArticleRecord, article_id)
            author, version = record.current.author, record.version
        abort(409, description=f"未加为反例：{author} 已发布了这条规则的版本 v{version}（你看到的是 v{expected}）。"
                               f"请刷新内容健康页，确认后再点一次。")
    get_updater().request()
    flash(f"已把「{text}」加为「{updated.title}」的反例，发布为版本 {result.version}。")
    return redirect(url_for(".health") + "#dismissals")


def _live_rule(session, article_id: str) -> Article:
    record = session.get(ArticleRecord, article_id)
    if record is None or record.current is None or record.archived:
        abort(404, description=f"没有已发布的文章“{article_id}”")
    article = version_article(record.current)
    if not article.is_rule:
        abort(400, description=f"“{article_id}”不是须告知或升级规则，不能加反例")
    return article


def _with_counter_example(rule: Article, text: str) -> Article:
    """The rule with ``text`` appended to its counter-examples, validated by the import rules like any publish."""
    rule.counter_examples = [*rule.counter_examples, text]
    try:
        return parse_article(rule.to_markdown(), rule.id)
    except ArticleError as exc:
        abort(400, description=f"这句话不能加为反例：{message_zh(exc.message)}")


# --- import / export ------------------------------------------------------------------------------------------------

@bp.route("/import", methods=["GET", "POST"], endpoint="import_files")
@require_role("editor")
def import_files():
    """Upload Markdown files: each is validated on its own; valid ones are published, invalid ones listed."""
    if request.method == "GET":
        return render_template("editor/import.html", results=None, error=None)
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    check_only = request.form.get("check_only") == "1"
    if not uploads:
        return render_template("editor/import.html", results=None, error="请选择至少一个 Markdown 文件。"), 422
    if len(uploads) > MAX_FILES:
        return render_template("editor/import.html", results=None,
                               error=f"一次最多导入 {MAX_FILES} 个文件，本次选择了 {len(uploads)} 个。"), 413
    results, valid, seen = [], [], {}
    for upload in uploads:
        name = PurePath(upload.filename.replace("\\", "/")).name[:200]
        row = {"name": name, "ok": False, "line": None, "field": None, "message": "", "id": None, "outcome": ""}
        results.append(row)
        if PurePath(name).suffix.lower() not in MARKDOWN_SUFFIXES:
            row["message"] = "不是 Markdown 文件（扩展名须为 .md）"
            continue
        data = upload.read(MAX_FILE_BYTES + 1)
        try:
            article = parse_article(data, name)
        except ArticleError as exc:
            row.update(line=exc.line, field=FIELD_LABELS.get(exc.field, exc.field), message=message_zh(exc.message))
            continue
        except ValueError as exc:  # YAML's own date check (an unquoted 2027-02-30) escapes parse_article
            line, field, value = _bad_date(data)
            row.update(line=line, field=FIELD_LABELS.get(field, field),
                       message=f"“{value}”不是有效日期（{exc}）" if value else f"YAML 头信息格式错误：{exc}")
            continue
        if article.id in seen:
            row.update(line=2, field="ID", message=f"ID “{article.id}”与本批文件 {seen[article.id]} 重复")
            continue
        seen[article.id] = name
        row.update(ok=True, id=article.id, outcome="可以导入" if check_only else "")
        valid.append((row, article))
    if valid and not check_only:
        report = import_articles(get_db(), [a for _, a in valid], author=username(), message="网页导入")
        outcome = {**{i: "新建" for i in report.created}, **{i: "已更新（新版本）" for i in report.updated},
                   **{i: "无变化" for i in report.unchanged}}
        for row, article in valid:
            row["outcome"] = outcome[article.id]
        with get_db().session() as s:
            audit(s, "import", f"{len(uploads)} files",
                  f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
                  f"{len(results) - len(valid)} invalid")
        if report.changed:
            get_updater().request()
    return render_template("editor/import.html", results=results, error=None, check_only=check_only)


_DATE_LINE = re.compile(r"^(\w+)\s*:\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def _bad_date(data: bytes) -> tuple[int | None, str | None, str | None]:
    """Line, field and value of the first impossible date in the front matter."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines()[1:], start=2):
        if line.strip() == "---":
            break
        match = _DATE_LINE.match(line)
        if match:
            try:
                dt.date(*(int(g) for g in match.groups()[1:]))
            except ValueError:
                return number, match.group(1), line.split(":", 1)[1].strip()
    return None, None, None


@bp.get("/export")
@require_role("editor")
def export():
    """The published knowledge base as a zip of Markdown files in folders by type (what import reads back)."""
    buffer = io.BytesIO()
    with get_db().session() as s:
        articles = [a for _, a in published_articles(s)]
        audit(s, "export", "knowledge base", f"{len(articles)} articles")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for article in articles:
            archive.writestr(f"{TYPE_FOLDERS[article.type]}/{article.id}.md", article.to_markdown())
    buffer.seek(0)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    return send_file(buffer, mimetype="application/zip", as_attachment=True, download_name=f"kb-export-{stamp}.zip")


# --- audit log ------------------------------------------------------------------------------------------------------

@bp.get("/audit")
@require_role("editor")
def audit_log():
    args = {name: request.args.get(name, "").strip()[:120] for name in ("actor", "action", "target")}
    page = max(int_field("page", 1, source=request.args), 1)
    query = select(AuditEntry)
    if args["actor"]:
        query = query.where(AuditEntry.actor == args["actor"])
    if args["action"]:
        query = query.where(AuditEntry.action == args["action"])
    if args["target"]:
        query = query.where(AuditEntry.target.contains(args["target"]))
    with get_db().session() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        entries = s.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                            .offset((page - 1) * AUDIT_PAGE).limit(AUDIT_PAGE)).all()
        actions = sorted(s.scalars(select(AuditEntry.action).distinct()).all())
    pages = max((total + AUDIT_PAGE - 1) // AUDIT_PAGE, 1)
    return render_template("editor/audit.html", entries=entries, args=args, page=page, pages=pages, total=total,
                           actions=actions, action_labels=ACTION_LABELS)
