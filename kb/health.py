"""Content health: what to review, fix or write next, from the articles, agents' feedback and the query log.

Every function takes ``today`` or plain data as an argument, so reports are reproducible in tests (no hidden clock).
"""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .articles import Article
from .models import CallRecord, Feedback, SuggestLog
from .normalize import normalize

REVIEW_SOON_DAYS = 30
#: A logged suggest whose best fused score is below this is "low confidence". Fused scores are per-query normalised
#: (dense 0.6 + keyword 0.4); a query with no keyword match at all tops out at 0.6. Measured on the in-domain test
#: queries (tests/queries, 95 queries: 5th percentile 0.72) against off-topic ones (10 of 15 at exactly 0.6).
LOW_CONFIDENCE = 0.65
#: Near-duplicate threshold on the cosine of mean-centred article vectors (see :func:`near_duplicates`). Measured on
#: content/: the closest distinct pair (a procedure and the script for the same topic) scores 0.70; lightly edited
#: or partial copies of an article score 0.90 and more; the same body under an unrelated title (titles are part of
#: every chunk's vector) 0.77. Recall matters more than precision here: a false alarm costs an editor one look.
DUPLICATE_THRESHOLD = 0.75


def review_status(review_by: dt.date | None, today: dt.date, soon_days: int = REVIEW_SOON_DAYS) -> str:
    """``overdue`` (past review_by), ``due_soon`` (within ``soon_days``), ``ok``, or ``unset`` (no date)."""
    if review_by is None:
        return "unset"
    if review_by < today:
        return "overdue"
    if review_by <= today + dt.timedelta(days=soon_days):
        return "due_soon"
    return "ok"


def reviews_due(articles: list[Article], today: dt.date) -> dict[str, list[Article]]:
    """Articles past or near their review date, earliest first."""
    due: dict[str, list[Article]] = {"overdue": [], "due_soon": []}
    for article in sorted((a for a in articles if a.review_by), key=lambda a: (a.review_by, a.id)):
        status = review_status(article.review_by, today)
        if status in due:
            due[status].append(article)
    return due


@dataclass
class FeedbackRow:
    article_id: str
    not_helpful: int
    helpful: int
    worst_heading: str
    last_query: str


def unhelpful_articles(session: Session, limit: int = 10) -> list[FeedbackRow]:
    """Articles with the most "not helpful" votes (and the section most voted down)."""
    not_helpful = func.sum(case((Feedback.helpful.is_(False), 1), else_=0))
    rows = session.execute(
        select(Feedback.article_id, not_helpful.label("bad"), func.sum(case((Feedback.helpful.is_(True), 1),
                                                                             else_=0)).label("good"))
        .group_by(Feedback.article_id).having(not_helpful > 0).order_by(not_helpful.desc(), Feedback.article_id)
        .limit(limit)).all()
    report = []
    for article_id, bad, good in rows:
        heading = session.execute(
            select(Feedback.heading).where(Feedback.article_id == article_id, Feedback.helpful.is_(False))
            .group_by(Feedback.heading).order_by(func.count().desc(), Feedback.heading).limit(1)).scalar() or ""
        query = session.scalar(
            select(Feedback.query).where(Feedback.article_id == article_id, Feedback.helpful.is_(False))
            .order_by(Feedback.at.desc(), Feedback.id.desc()).limit(1)) or ""
        report.append(FeedbackRow(article_id, int(bad), int(good), heading, query))
    return report


@dataclass
class QueryGap:
    normalized: str
    example: str
    count: int
    last_at: dt.datetime
    best_score: float
    top_article_id: str | None


def query_gaps(session: Session, limit: int = 15, low_confidence: float = LOW_CONFIDENCE,
               since: dt.datetime | None = None) -> dict[str, list[QueryGap]]:
    """The most frequent queries with no answer at all, and those whose best answer scored below ``low_confidence``.

    Grouped by normalised text, so 「卡丢了」 and 「卡丟了」 count as one gap.
    """
    def top(condition) -> list[QueryGap]:
        query = (select(SuggestLog.normalized, func.count().label("n"), func.max(SuggestLog.at),
                        func.max(SuggestLog.top_score), func.max(SuggestLog.text), func.max(SuggestLog.top_article_id))
                 .where(condition, SuggestLog.normalized != ""))
        if since is not None:
            query = query.where(SuggestLog.at >= since)
        rows = session.execute(query.group_by(SuggestLog.normalized)
                               .order_by(func.count().desc(), func.max(SuggestLog.at).desc()).limit(limit)).all()
        return [QueryGap(norm, text, int(n), last, float(score or 0.0), article)
                for norm, n, last, score, text, article in rows]

    return {"zero": top(SuggestLog.result_count == 0),
            "low": top((SuggestLog.result_count > 0) & (SuggestLog.top_score < low_confidence))}


class GenerationVectors:
    """Article vectors of the generation being served, computed once per generation (one per app, not per module)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._path: str | None = None
        self._value: tuple[list[str], np.ndarray] | None = None

    def get(self, generation) -> tuple[list[str], np.ndarray]:
        with self._lock:
            if self._path != str(generation.path):
                self._value = article_vectors(generation.dense, generation.manifest)
                self._path = str(generation.path)
            return self._value


def article_vectors(dense, manifest: dict) -> tuple[list[str], np.ndarray]:
    """One vector per indexed answer article: the mean of its chunk vectors, read back from the FAISS index."""
    ids, vectors = [], []
    for article_id, info in sorted(manifest.get("articles", {}).items()):
        cids = info.get("cids") or []
        if not cids:
            continue
        chunk_vectors = np.vstack([dense.reconstruct(int(cid)) for cid in cids])
        ids.append(article_id)
        vectors.append(chunk_vectors.mean(axis=0))
    return ids, (np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), dtype=np.float32))


@dataclass
class DuplicatePair:
    first: str
    second: str
    similarity: float


def near_duplicates(ids: list[str], vectors: np.ndarray, threshold: float = DUPLICATE_THRESHOLD,
                    limit: int = 20) -> tuple[list[DuplicatePair], DuplicatePair | None]:
    """Pairs of articles whose mean-centred vectors have cosine ≥ ``threshold``, most similar first.

    e5 vectors of texts from one domain all point roughly the same way (raw article cosines here are 0.92 ± 0.03),
    so raw cosine cannot tell a copy from a neighbour. Subtracting the corpus mean removes that shared direction and
    leaves what sets each article apart. Also returns the closest pair overall, to show how far the rest is.
    """
    if len(ids) < 3:
        return [], None
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    similarity = centred @ centred.T
    rows, cols = np.triu_indices(len(ids), k=1)
    scores = similarity[rows, cols]
    order = np.argsort(-scores, kind="stable")
    closest = DuplicatePair(ids[rows[order[0]]], ids[cols[order[0]]], float(scores[order[0]]))
    pairs = [DuplicatePair(ids[rows[i]], ids[cols[i]], float(scores[i])) for i in order[:limit]
             if scores[i] >= threshold]
    return pairs, closest


#: Calls ended within this many days count towards a rule's dismissal rate (the health page's default window).
DISMISSAL_WINDOW_DAYS = 30


@dataclass
class DismissedText:
    """One wording (normalised) that raised a prompt an agent dismissed, with how often and the reasons given."""

    text: str
    count: int
    reasons: list[str]
    in_counter_examples: bool


@dataclass
class RuleDismissals:
    rule_id: str
    title: str
    type: str
    fired: int
    dismissed: int
    texts: list[DismissedText]

    @property
    def rate(self) -> float:
        return self.dismissed / self.fired if self.fired else 0.0


def rule_dismissals(session: Session, since: dt.datetime, rules: dict[str, Article],
                    limit: int = 20) -> list[RuleDismissals]:
    """Rules agents marked 不适用, highest dismissal rate (dismissed ÷ fired, calls ended since ``since``) first.

    The texts that raised the dismissed prompts are what an editor turns into counter-examples, so each is listed
    once (by normalised text) with its reasons and whether the rule's current version already has it.
    """
    fired: dict[str, int] = {}
    titles: dict[str, tuple[str, str]] = {}
    texts: dict[str, dict[str, DismissedText]] = {}
    calls = session.scalars(select(CallRecord.data).where(CallRecord.ended_at >= since))
    for data in calls:
        for kind, items in (("disclosure", data.get("disclosures")), ("escalation", data.get("escalations"))):
            for item in items or []:
                rule_id = item.get("id", "")
                fired[rule_id] = fired.get(rule_id, 0) + 1
                titles.setdefault(rule_id, (item.get("title") or rule_id, kind))
                if item.get("dismissed"):
                    _count_dismissed(texts.setdefault(rule_id, {}), item, rules.get(rule_id))
    report = []
    for rule_id, by_text in texts.items():
        rule = rules.get(rule_id)
        title, kind = (rule.title, rule.type) if rule else titles[rule_id]
        listed = sorted(by_text.values(), key=lambda t: (-t.count, t.text))
        report.append(RuleDismissals(rule_id, title, kind, fired[rule_id], sum(t.count for t in listed), listed))
    report.sort(key=lambda r: (-r.rate, -r.dismissed, r.rule_id))
    return report[:limit]


def _count_dismissed(by_text: dict[str, DismissedText], item: dict, rule: Article | None) -> None:
    raw = (item.get("text") or "").strip()
    key = normalize(raw)
    entry = by_text.get(key)
    if entry is None:
        counter = {normalize(c) for c in rule.counter_examples} if rule else set()
        entry = by_text[key] = DismissedText(raw, 0, [], bool(key) and key in counter)
    entry.count += 1
    reason = (item.get("dismiss_reason") or "").strip()
    if reason and reason not in entry.reasons:
        entry.reasons.append(reason)
