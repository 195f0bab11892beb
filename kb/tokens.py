"""API tokens for integrations (the telephony's speech recogniser posting live transcripts).

A token is 32 random bytes (URL-safe text, prefixed ``kbi_`` so a leaked one is recognisable). Only its SHA-256 is
stored: a token that high in entropy needs no slow hash, and the look-up by hash is one indexed query per request.
The token is shown once, when created; a revoked token stops working at once on every node.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import ApiToken, AuditEntry, utcnow

TOKEN_ROLES = ("integration",)
PREFIX = "kbi_"
NAME = re.compile(r"^[a-zA-Z0-9_.-]{2,40}$")


class TokenError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str, role: str = "integration", actor: str = "cli") -> tuple[ApiToken, str]:
    """A new token for the integration account ``name``; returns (row, the token itself, never stored)."""
    if not NAME.match(name or ""):
        raise TokenError("name must be 2-40 letters, digits, '_', '.' or '-'")
    if role not in TOKEN_ROLES:
        raise TokenError(f"role must be one of {', '.join(TOKEN_ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, token_hash=token_hash(token))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise TokenError(f"a token named {name!r} already exists (revoke it, or choose another name)") from None
    session.add(AuditEntry(actor=actor, action="create-token", target=name, detail=f"role {role}"))
    return row, token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, name: str, actor: str = "cli") -> ApiToken:
    """Revoke the token named ``name`` and free the name; the row stays (renamed) for the audit trail."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise TokenError(f"no token named {name!r}")
    row.revoked_at = utcnow()
    row.name = f"{name}~revoked-{row.id}"[:80]
    session.add(AuditEntry(actor=actor, action="revoke-token", target=name, detail=""))
    return row


def authenticate_token(session: Session, token: str) -> ApiToken | None:
    """The live token row for ``token`` or None (unknown, revoked, or not a token of ours)."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row
