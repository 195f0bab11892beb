"""Accessors for the shared objects the app factory puts on the app (database, engine, settings, query log)."""
from __future__ import annotations

from flask import current_app

from kb.config import Settings
from kb.db import Database
from kb.engine import KnowledgeBase


def get_db() -> Database:
    return current_app.extensions["kb.db"]


def get_engine() -> KnowledgeBase:
    return current_app.extensions["kb.engine"]


def get_settings() -> Settings:
    return current_app.extensions["kb.settings"]


def get_querylog():
    return current_app.extensions["kb.querylog"]
