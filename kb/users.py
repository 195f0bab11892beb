"""Accounts and roles. Passwords are stored only as salted scrypt hashes (werkzeug)."""
from __future__ import annotations

import functools
import os
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import AuditEntry, User

ROLES = ("agent", "editor", "trainer", "admin")
USERNAME = re.compile(r"^[a-zA-Z0-9_.-]{2,40}$")
MIN_PASSWORD = 10


# Added to the nice value of the thread that verifies passwords. scrypt is slow on purpose (about 150 ms of CPU): at
# the start of a shift 50 logins in 5 s took the cores from suggestions on live calls (bench/http_load.py login storm).
HASHING_NICENESS = 10


class UserError(ValueError):
    pass


def _lower_thread_priority() -> None:
    """Linux keeps a nice value per thread, so only this thread yields the CPU to request threads."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS))
    except (AttributeError, OSError):  # not Linux, or not permitted: hash at normal priority
        pass


# Two threads per process: a burst of logins queues here instead of running dozens of scrypts at once.
_hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-hash", initializer=_lower_thread_priority)


@functools.cache
def _unknown_user_hash() -> str:
    """A hash of a password nobody knows, made once per process on the first failed login."""
    return generate_password_hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str, password: str) -> bool:
    """check_password_hash at low priority (hashlib's scrypt releases the GIL, so the caller just waits)."""
    return _hashing.submit(check_password_hash, password_hash, password).result()


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
        # One real check against a hash nobody knows, so timing does not reveal which usernames exist.
        verify_password(_unknown_user_hash(), password or "")
        return None
    return user if verify_password(user.password_hash, password or "") else None
