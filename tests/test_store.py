"""Database import is idempotent, versions are immutable, export round-trips."""
import pytest
from sqlalchemy import func, select

from kb.articles import load_directory, parse_article
from kb.db import Database
from kb.models import ArticleVersion
from kb.store import ConflictError, export_directory, import_directory, publish
from tests.helpers import CONTENT


@pytest.fixture
def fresh_db(empty_db_url):
    db = Database(empty_db_url)
    db.upgrade()
    yield db
    db.engine.dispose()


def test_import_twice_changes_nothing(fresh_db):
    db = fresh_db
    first = import_directory(db, CONTENT)
    assert not first.errors and len(first.created) >= 50
    second = import_directory(db, CONTENT)
    assert second.created == [] and second.updated == [] and len(second.unchanged) == len(first.created)
    with db.session() as s:
        assert s.scalar(select(func.count(ArticleVersion.id))) == len(first.created)


def test_changed_file_becomes_a_new_version_and_conflicts_are_refused(fresh_db):
    db = fresh_db
    import_directory(db, CONTENT)
    path, article = load_directory(CONTENT).articles[0]
    article.body += "\n\n## 新增一节\n新的内容。"
    with db.session() as s:
        result = publish(s, article, author="editor1", message="add section", expected_version=1)
    assert result.changed and result.version == 2
    with db.session() as s, pytest.raises(ConflictError, match="version 1"):
        publish(s, article, author="editor2", expected_version=1)
    with db.session() as s:
        versions = s.scalars(select(ArticleVersion).where(ArticleVersion.article_id == article.id)
                             .order_by(ArticleVersion.number)).all()
        assert [v.number for v in versions] == [1, 2]
        assert "新增一节" not in versions[0].body and versions[1].author == "editor1"


def test_export_writes_markdown_that_imports_unchanged(fresh_db, tmp_path):
    db = fresh_db
    import_directory(db, CONTENT)
    written = export_directory(db, tmp_path / "export")
    assert len(written) >= 50
    reparsed = parse_article(written[0].read_bytes(), str(written[0]))
    again = import_directory(db, tmp_path / "export")
    assert again.created == [] and again.updated == [] and reparsed.id in again.unchanged
