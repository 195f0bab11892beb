"""Accounts and roles. Passwords are stored only as salted scrypt hashes (werkzeug)."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import AuditEntry, User

ROLES = ("agent", "editor", "trainer", "admin")
USERNAME = re.compile(r"^[a-zA-Z0-9_.-]{2,40}$")
MIN_PASSWORD = 10


class UserError(ValueError):
    pass


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_user(session: Session, username: str, role: str, password: str, display_name: str = "",
                actor: str = "system") -> User:
    if not USERNAME.match(username or ""):
        raise UserError("username must be 2-40 letters, digits, '_', '.' or '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    if session.scalar(select(User).where(User.username == username)):
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, role=role, display_name=display_name or username,
                password_hash=generate_password_hash(password))
    session.add(user)
    session.add(AuditEntry(actor=actor, action="create-user", target=username, detail=f"role {role}"))
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        # Same cost as a real check, so timing does not reveal which usernames exist.
        check_password_hash(generate_password_hash("x"), password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None
