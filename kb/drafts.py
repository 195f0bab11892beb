"""The editor's form ↔ article Markdown, validation with the import rules, and drafts with optimistic locking.

The form holds front-matter fields as plain strings. They are assembled into the same Markdown an imported file would
contain and validated by :func:`kb.articles.parse_article`, so an article the editor accepts is exactly an article
import accepts. Drafts store the form as typed, valid or not: an editor's work is never lost to a validation error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .articles import ANSWER_TYPES, ID_PATTERN, RULE_TYPES, Article, ArticleError, parse_article
from .db import Database
from .models import ArticleDraft, utcnow

#: Every form field, in form order. ``timer_clock`` + ``timer_seconds`` make up the ``timer`` mapping.
FIELDS = ("id", "title", "type", "tags", "aliases", "owner", "review_by", "sources", "requires", "questions",
          "triggers", "examples", "counter_examples", "say", "said_examples", "said_facts", "said_not", "steps",
          "timer_clock", "timer_seconds", "body")
#: Typed in one line, separated by commas (ASCII or Chinese; not 、, which phrases use inside themselves). The other
#: lists (sources, requires, questions, triggers, examples, counter_examples, steps) are typed one item per line.
INLINE_LISTS = ("tags", "aliases")
_INLINE_SPLIT = re.compile(r"[,，\n]")
#: Valid stand-ins used to look past one error and find the next (see :func:`validate`).
_PLACEHOLDERS = {"id": "placeholder-id", "title": "标题", "type": "procedure", "tags": [], "aliases": [],
                 "owner": "", "review_by": None, "sources": [], "requires": [], "questions": [], "triggers": ["x"], "examples": ["x"],
                 "counter_examples": [], "say": "x", "said_examples": [], "said_facts": [], "said_not": [], "steps": ["x"], "timer": None}


def empty_fields(article_type: str = "procedure") -> dict[str, str]:
    fields = {name: "" for name in FIELDS}
    fields["type"] = article_type
    return fields


def clean_fields(raw) -> dict[str, str]:
    """Only known fields, always strings (a form, a JSON body or a stored draft may lack some or hold odd types)."""
    fields = empty_fields()
    for name in FIELDS:
        value = raw.get(name) if hasattr(raw, "get") else None
        if value is not None:
            fields[name] = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return fields


def fields_from_article(article: Article) -> dict[str, str]:
    timer = article.timer or {}
    return {
        "id": article.id, "title": article.title, "type": article.type,
        "tags": "，".join(article.tags), "aliases": "，".join(article.aliases), "owner": article.owner,
        "review_by": article.review_by.isoformat() if article.review_by else "",
        "sources": "\n".join(article.sources), "triggers": "\n".join(article.triggers),
        "examples": "\n".join(article.examples), "counter_examples": "\n".join(article.counter_examples),
        "requires": "\n".join(article.requires), "questions": "\n".join(article.questions), "say": article.say,
        "said_examples": "\n".join(article.said_examples), "said_facts": "\n".join(article.said_facts),
        "said_not": "\n".join(article.said_not), "steps": "\n".join(article.steps),
        "timer_clock": timer.get("clock", ""), "timer_seconds": str(timer.get("after_seconds", "")),
        "body": article.body,
    }


def _items(value: str, inline: bool) -> list[str]:
    parts = _INLINE_SPLIT.split(value) if inline else value.split("\n")
    return [p.strip() for p in parts if p.strip()]


def front_matter(fields: dict[str, str]) -> dict:
    """The front-matter mapping the form describes; only fields that apply to the chosen type, empty ones left out."""
    meta: dict = {}
    for name in ("id", "title", "type"):
        if fields[name].strip():
            meta[name] = fields[name].strip()
    for name in INLINE_LISTS:
        if items := _items(fields[name], inline=True):
            meta[name] = items
    if fields["owner"].strip():
        meta["owner"] = fields["owner"].strip()
    if fields["review_by"].strip():
        meta["review_by"] = fields["review_by"].strip()
    if items := _items(fields["sources"], inline=False):
        meta["sources"] = items
    kind = fields["type"].strip()
    if kind in ANSWER_TYPES:
        for name in ("requires", "questions"):
            if items := _items(fields[name], inline=False):
                meta[name] = items
    if kind in RULE_TYPES:
        for name in ("triggers", "examples", "counter_examples"):
            if items := _items(fields[name], inline=False):
                meta[name] = items
        if kind == "disclosure" and fields["say"].strip():
            meta["say"] = fields["say"].strip()
        if kind == "disclosure":
            for name in ("said_examples", "said_facts", "said_not"):
                if items := _items(fields[name], inline=False):
                    meta[name] = items
        if kind == "escalation":
            if items := _items(fields["steps"], inline=False):
                meta["steps"] = items
            clock, seconds = fields["timer_clock"].strip(), fields["timer_seconds"].strip()
            if clock or seconds:
                meta["timer"] = {"clock": clock or None,
                                 "after_seconds": int(seconds) if seconds.isdecimal() else seconds or None}
    return meta


def assemble(fields: dict[str, str]) -> str:
    """The article file the form describes (what import would read)."""
    return _markdown(front_matter(fields), fields["body"])


def _markdown(meta: dict, body: str) -> str:
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000) if meta else ""
    return f"---\n{front}---\n{body.strip()}\n"


@dataclass
class Validation:
    article: Article | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.article is not None and not self.errors


def error_field(error: ArticleError) -> str:
    """The form field an ArticleError belongs to (errors without a field concern the body or the whole file)."""
    return error.field if error.field in _PLACEHOLDERS else "body"


def validate(fields: dict[str, str], max_errors: int = 12) -> Validation:
    """Validate with the import rules and report every field that is wrong, not only the first.

    ``parse_article`` stops at the first problem; after each one the offending field is replaced by a valid stand-in
    and parsing runs again, so the form can mark all bad fields at once.
    """
    meta = front_matter(fields)
    body = fields["body"]
    errors: dict[str, str] = {}
    replaced: set[str] = set()
    for _ in range(max_errors):
        try:
            article = parse_article(_markdown(meta, body), "<form>")
        except ArticleError as exc:
            name = error_field(exc)
            errors.setdefault(name, exc.message)
            if name == "body" or name in replaced:
                break
            replaced.add(name)
            meta[name] = _PLACEHOLDERS[name]
            continue
        return Validation(None if errors else article, errors)
    return Validation(None, errors)


def rule_from_fields(fields: dict[str, str]) -> Article | None:
    """The rule the form describes, for trying it out before it is valid enough to publish (missing steps or a
    review date do not change what it matches); None unless the form is a disclosure or an escalation."""
    meta = front_matter(fields)
    if meta.get("type") not in RULE_TYPES:
        return None
    validation = validate(fields)
    if validation.ok:
        return validation.article
    return Article(id=meta.get("id") or "new-rule", title=meta.get("title") or "（未命名规则）", type=meta["type"],
                   body="", aliases=meta.get("aliases", []), triggers=meta.get("triggers", []),
                   examples=meta.get("examples", []), counter_examples=meta.get("counter_examples", []))


def check_new_id(article_id: str) -> str | None:
    """Why ``article_id`` cannot key a new article's draft, or None (the same pattern import enforces)."""
    if not ID_PATTERN.match(article_id or ""):
        return "ID 须为 2–80 位小写英文字母、数字或“-”，且以字母或数字开头"
    return None


# --- drafts ---------------------------------------------------------------------------------------------------------

class DraftConflict(Exception):
    """The draft was saved by someone else since this editor loaded it; nothing was written."""

    def __init__(self, article_id: str, expected: int, current: ArticleDraft | None):
        self.article_id, self.expected, self.current = article_id, expected, current
        actual = current.revision if current else 0
        super().__init__(f"draft of {article_id!r} is at revision {actual}, not {expected}")


class _Stale(Exception):
    pass


def get_draft(session: Session, article_id: str) -> ArticleDraft | None:
    return session.get(ArticleDraft, article_id)


def save_draft(db: Database, article_id: str, fields: dict[str, str], author: str, expected_revision: int,
               base_version: int) -> ArticleDraft:
    """Save the form as the article's draft if the draft is still at ``expected_revision`` (0: there is none).

    The check and the write are one conditional UPDATE (or an INSERT guarded by the primary key), so two editors
    saving at the same moment cannot both win. Raises :class:`DraftConflict` carrying the draft that won.
    """
    payload = json.dumps(fields, ensure_ascii=False)
    try:
        with db.session() as session:
            if expected_revision == 0:
                session.add(ArticleDraft(article_id=article_id, base_version=base_version, revision=1,
                                         fields_json=payload, author=author))
                session.flush()
            else:
                result = session.execute(
                    update(ArticleDraft)
                    .where(ArticleDraft.article_id == article_id, ArticleDraft.revision == expected_revision)
                    .values(revision=expected_revision + 1, fields_json=payload, author=author,
                            base_version=base_version, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
                if result.rowcount != 1:
                    raise _Stale
            return session.get(ArticleDraft, article_id)
    except (IntegrityError, _Stale):
        pass
    with db.session() as session:
        winner = session.get(ArticleDraft, article_id)
    raise DraftConflict(article_id, expected_revision, winner)


def discard_draft(session: Session, article_id: str, revision: int) -> bool:
    """Delete the draft only if it is still the revision the editor saw (never someone else's newer work)."""
    result = session.execute(delete(ArticleDraft).where(ArticleDraft.article_id == article_id,
                                                        ArticleDraft.revision == revision)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1
