"""Trained rule classifiers shared through the database (``rule_models``), keyed by what they were trained from.

A full build on a joining node would otherwise retrain every rule (tens of seconds on the real content) although
another node trained the same model from the same input already. A node stores what it trains; a build whose
training input (``model_key``) is already stored reads the two files instead. Only the newest ``KEEP`` models are
kept: older keys belong to content that is no longer published.
"""
from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError

from kb.models import SharedRuleModel, utcnow

log = logging.getLogger(__name__)
KEEP = 5


class RuleModelStore:
    def __init__(self, engine):
        self.engine = engine
        self.table = SharedRuleModel.__table__

    def get(self, model_key: str) -> tuple[bytes, bytes] | None:
        """(rule_model.npz, rule_background.npz) as stored, or None (not trained yet, or the database is down:
        the build then trains, which is slower but correct)."""
        t = self.table
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(t.c.rule_model, t.c.rule_background)
                                   .where(t.c.model_key == model_key)).first()
        except OperationalError:
            log.warning("shared rule models unavailable; training here", exc_info=True)
            return None
        return (bytes(row[0]), bytes(row[1])) if row else None

    def put(self, model_key: str, rule_model: bytes, rule_background: bytes) -> None:
        """Store a model once (a racing node's identical row wins harmlessly) and drop all but the newest KEEP."""
        t = self.table
        try:
            with self.engine.begin() as conn:
                conn.execute(t.insert().values(model_key=model_key, rule_model=rule_model,
                                               rule_background=rule_background, created_at=utcnow()))
        except IntegrityError:
            pass
        except OperationalError:
            log.warning("could not share the trained rule model", exc_info=True)
            return
        try:
            with self.engine.begin() as conn:
                newest = select(t.c.model_key).order_by(t.c.created_at.desc(), t.c.model_key).limit(KEEP)
                conn.execute(delete(t).where(t.c.model_key.not_in(newest.scalar_subquery())))
        except OperationalError:
            log.warning("could not prune old rule models", exc_info=True)
