"""SQLAlchemy models: the database is the source of truth (articles, immutable versions, users, logs)."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# Constraint names are spelled out, so SQLite and PostgreSQL agree and a migration can name what it drops.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Tables are created and changed by migrations (``kb/migrations``), never by ``create_all()``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ArticleRecord(Base):
    """An article's identity; its content lives in versions. ``version`` counts publishes (optimistic locking)."""

    __tablename__ = "articles"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    current_version_id: Mapped[int | None] = mapped_column(ForeignKey("article_versions.id", use_alter=True))
    version: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    current: Mapped["ArticleVersion | None"] = relationship(foreign_keys=[current_version_id], post_update=True)
    versions: Mapped[list["ArticleVersion"]] = relationship(
        back_populates="article", foreign_keys="ArticleVersion.article_id", order_by="ArticleVersion.number")


class ArticleVersion(Base):
    """One published state of an article. Never updated after insert: rollback publishes a new version."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    meta_json: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    article: Mapped[ArticleRecord] = relationship(back_populates="versions", foreign_keys=[article_id])

    @property
    def meta(self) -> dict:
        return json.loads(self.meta_json)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed what: every content change and account change writes one."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120))
    detail: Mapped[str] = mapped_column(Text, default="")


class SuggestLog(Base):
    """One suggest request from the sidebar: the source of zero-result and low-confidence reports."""

    __tablename__ = "suggest_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user: Mapped[str] = mapped_column(String(80), default="")
    text: Mapped[str] = mapped_column(String(2000))
    normalized: Mapped[str] = mapped_column(String(2000), index=True)
    result_count: Mapped[int] = mapped_column(Integer)
    top_score: Mapped[float] = mapped_column(Float, default=0.0)
    top_article_id: Mapped[str | None] = mapped_column(String(80))


class CallRecord(Base):
    """What happened on one call, stored when the agent ends it.

    ``client_id`` is the id the sidebar gives the call when it starts: two tabs, a retry after a lost response or a
    reload upload the same call again, and the unique constraint makes the second upload find the first.
    """

    __tablename__ = "call_records"
    __table_args__ = (UniqueConstraint("agent", "client_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(String(80))
    client_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    wait_seconds: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict] = mapped_column(JSON)


class Feedback(Base):
    """Helpful / not helpful on one answer (article + heading) as shown to an agent.

    ``open_key`` (a hash of article, heading and query) is set while the vote can still be merged with a repeat of it
    and cleared when a later vote on the same answer starts a new row: the unique constraint lets one open vote per
    agent and answer exist, so two racing copies of one vote cannot both insert.
    """

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("user", "open_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user: Mapped[str] = mapped_column(String(80), default="")
    article_id: Mapped[str] = mapped_column(String(80), index=True)
    heading: Mapped[str] = mapped_column(String(300), default="")
    query: Mapped[str] = mapped_column(String(2000), default="")
    helpful: Mapped[bool] = mapped_column(Boolean)
    open_key: Mapped[str | None] = mapped_column(String(64))


class ArticleDraft(Base):
    """Unpublished work on one article (new or existing), shared by all editors.

    ``fields_json`` keeps the form exactly as typed (even when it does not validate yet), so nothing is lost.
    ``revision`` counts saves: a save must name the revision it started from, so one editor never silently
    overwrites another's newer draft. ``base_version`` is the published version the draft started from (0: new).
    """

    __tablename__ = "article_drafts"
    article_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    base_version: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    fields_json: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def fields(self) -> dict:
        return json.loads(self.fields_json)


class RateLimitCount(Base):
    """Attempts counted under one rate-limit key in one time slot (``webapp/ratelimit.py``).

    In the database rather than in a process, so a limit holds across every worker and node: the primary key makes
    the count one row that concurrent attempts increment atomically (an upsert), never two rows that each stay
    under the limit. ``expires_at`` (Unix seconds) is when the slot no longer counts and may be deleted.
    """

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class ApiToken(Base):
    """A token an integration (the telephony's speech recogniser) sends as ``Authorization: Bearer``.

    Only the SHA-256 of the token is kept: the token itself is shown once, when it is created (``python -m kb
    token create``). ``role`` is what the token may do (``integration``: post live transcripts, nothing else).
    """

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="integration")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LiveCall(Base):
    """A call the integration streams a transcript for, bound to the agent who takes it (``kb/live.py``)."""

    __tablename__ = "live_calls"
    call_ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), index=True)
    source: Mapped[str] = mapped_column(String(80), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LiveUtterance(Base):
    """One recognised utterance of a live call. (call, speaker, offset) is its identity: a retried or duplicated
    delivery finds the stored row through the unique constraint; a partial result is replaced by its final one."""

    __tablename__ = "live_utterances"
    __table_args__ = (UniqueConstraint("call_ref", "speaker", "offset_ms"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_ref: Mapped[str] = mapped_column(ForeignKey("live_calls.call_ref"), index=True)
    speaker: Mapped[str] = mapped_column(String(10))
    offset_ms: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(String(2000))
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LiveEvent(Base):
    """What the agent's sidebar is pushed, in order: a transcript line (partial or final, with the suggestions and
    the disclosures said that a final one brought) or the end of the call. The id is the SSE event id: inserts are
    serialised (``kb/live.py``), so ids are committed in order and a stream resumes after the last id it sent."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), index=True)
    call_ref: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SharedRuleModel(Base):
    """The trained rule classifiers of one training input, shared by every node (``indexer/rule_models.py``).

    Training is the slowest part of a full build; a node that joins, or rebuilds what another node already trained,
    reads the files instead. ``model_key`` hashes everything the training reads (``indexer/rule_training.py``), so
    one key is one model whichever node trained it; racing nodes insert one row.
    """

    __tablename__ = "rule_models"
    model_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_model: Mapped[bytes] = mapped_column(LargeBinary)        # rule_model.npz
    rule_background: Mapped[bytes] = mapped_column(LargeBinary)   # rule_background.npz
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class SharedEmbedding(Base):
    """A passage or example embedding, shared by every node (``indexer/embed_cache.py``).

    Whichever node embeds a text first stores it here; a node that joins later, or builds what another node already
    built, reads it instead of running the model. The primary key makes a text's vector one row: two nodes racing
    to store it insert once (``ON CONFLICT DO NOTHING``), and the vectors they computed are the same anyway.
    """

    __tablename__ = "embeddings"
    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class PublishEvent(Base):
    """One change to the published content, written in the publishing transaction (``kb/announce.py``).

    The publish queue every node consumes: ids only grow, and they are handed out in commit order (the publishing
    transaction holds a lock from the insert to its commit), so a node that has indexed everything up to id N has
    seen every event ≤ N. Each node keeps the id its live index covers in that generation's manifest, in its own data
    folder: a node that was down or killed mid-build sees it is behind and builds, and nothing is lost.
    """

    __tablename__ = "publish_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    article_id: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(80), default="")
