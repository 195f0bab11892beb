"""Article storage: publish immutable versions, import from and export to Markdown folders."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .announce import announce
from .articles import Article, ArticleError, article_from_meta, load_directory
from .db import Database
from .models import ArticleRecord, ArticleVersion, AuditEntry, utcnow


class ConflictError(Exception):
    """Saving over a version someone else already replaced: the caller must merge, nothing was written."""

    def __init__(self, article_id: str, expected: int, actual: int):
        self.article_id, self.expected, self.actual = article_id, expected, actual
        super().__init__(f"article {article_id!r} was changed by someone else: you edited version {expected}, "
                         f"the current version is {actual}")


@dataclass
class PublishResult:
    article_id: str
    version: int
    changed: bool


def publish(session: Session, article: Article, author: str, message: str = "",
            expected_version: int | None = None) -> PublishResult:
    """Publish ``article`` as a new version unless its content is unchanged (idempotent import).

    ``expected_version`` is the version the editor started from; a mismatch raises :class:`ConflictError`.
    """
    record = session.get(ArticleRecord, article.id)
    if record is not None and expected_version is not None and record.version != expected_version:
        raise ConflictError(article.id, expected_version, record.version)
    content_hash = article.content_hash()
    if record is not None and record.current is not None and record.current.content_hash == content_hash \
            and not record.archived:
        return PublishResult(article.id, record.version, False)
    if record is None:
        record = ArticleRecord(id=article.id, type=article.type, version=0)
        session.add(record)
        session.flush()
    number = record.version + 1
    version = ArticleVersion(
        article_id=article.id, number=number, title=article.title, type=article.type,
        meta_json=json.dumps(article.meta(), ensure_ascii=False), body=article.body.strip(),
        content_hash=content_hash, author=author, message=message[:500],
    )
    session.add(version)
    session.flush()
    record.type, record.version, record.current, record.archived = article.type, number, version, False
    record.updated_at = utcnow()
    session.add(AuditEntry(actor=author, action="publish", target=article.id,
                           detail=f"version {number}" + (f": {message}" if message else "")))
    announce(session, article.id, number, author)
    return PublishResult(article.id, number, True)


def version_article(version: ArticleVersion) -> Article:
    return article_from_meta(version.meta, version.body)


def published_articles(session: Session) -> list[tuple[ArticleVersion, Article]]:
    """The current version of every live article, in id order."""
    rows = session.scalars(
        select(ArticleVersion).join(ArticleRecord, ArticleRecord.current_version_id == ArticleVersion.id)
        .where(ArticleRecord.archived.is_(False)).order_by(ArticleRecord.id))
    return [(v, version_article(v)) for v in rows]


@dataclass(frozen=True)
class PublishedHead:
    """What an index update needs to know about a live article without loading its content."""

    version_id: int
    article_id: str
    number: int
    type: str
    content_hash: str


def published_heads(session: Session) -> list[PublishedHead]:
    rows = session.execute(
        select(ArticleVersion.id, ArticleVersion.article_id, ArticleVersion.number, ArticleVersion.type,
               ArticleVersion.content_hash)
        .join(ArticleRecord, ArticleRecord.current_version_id == ArticleVersion.id)
        .where(ArticleRecord.archived.is_(False)).order_by(ArticleRecord.id))
    return [PublishedHead(*row) for row in rows]


def load_versions(session: Session, version_ids: list[int]) -> dict[int, Article]:
    """Articles of the given versions, by version id (in batches: SQLite limits bound parameters)."""
    found = {}
    for start in range(0, len(version_ids), 500):
        batch = version_ids[start:start + 500]
        for version in session.scalars(select(ArticleVersion).where(ArticleVersion.id.in_(batch))):
            found[version.id] = version_article(version)
    return found


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[ArticleError] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.errors)} invalid")


def import_articles(db: Database, articles: list[Article], author: str, report: ImportReport | None = None,
                    message: str = "import") -> ImportReport:
    report = report or ImportReport()
    with db.session() as session:
        for article in articles:
            existed = session.get(ArticleRecord, article.id) is not None
            result = publish(session, article, author=author, message=message)
            bucket = report.unchanged if not result.changed else report.updated if existed else report.created
            bucket.append(article.id)
    return report


def import_directory(db: Database, root: Path, author: str = "import") -> ImportReport:
    """Import every valid article under ``root``; invalid files are reported and skipped, never half-imported."""
    loaded = load_directory(root)
    report = ImportReport(errors=loaded.errors)
    return import_articles(db, [a for _, a in loaded.articles], author, report, message=f"import from {root}")


TYPE_FOLDERS = {"procedure": "procedures", "product": "products", "script": "scripts",
                "disclosure": "disclosures", "escalation": "escalations"}


def export_directory(db: Database, root: Path) -> list[Path]:
    """Write the published version of every article back as Markdown, in folders by type."""
    written = []
    with db.session() as session:
        for _, article in published_articles(session):
            path = Path(root) / TYPE_FOLDERS[article.type] / f"{article.id}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(article.to_markdown(), encoding="utf-8")
            written.append(path)
    return written
