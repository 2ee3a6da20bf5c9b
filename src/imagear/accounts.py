"""Accounts of the web console: users with a role and an argon2 password hash
(argon2-cffi's PasswordHasher, its defaults: argon2id), and their sign-ins (sessions kept in
the database: :mod:`imagear.db.accounts`).

The CLI (``imagear users``) adds, lists, changes the password of and removes users; the web
console checks a name and password (:func:`check_password`: the same work whether or not the
name exists, so timing does not tell which names are taken) and opens, finds and ends sessions.
A password change or a removal ends every session of that user.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from imagear.errors import ConfigError, EngineUnavailable, NotFound, UsageError
from imagear.limits import MAX_ID
from imagear.roles import NAME_MAX, PASSWORD_MIN, ROLES, SessionInfo, User

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from imagear.app import App

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # the server extra
        raise EngineUnavailable(
            "Accounts need argon2-cffi, which is not installed.",
            "pip install 'imagear[server]'",
        ) from exc
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    """A user name: 1 to NAME_MAX letters, digits, ``.``, ``_``, ``@``, ``-`` (no space)."""
    if len(name) > NAME_MAX or not NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} cannot be a user name: use 1 to {NAME_MAX} letters, digits, '.', '_', "
            "'@' or '-', starting with a letter or digit.",
            fields=["name"],
        )
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise UsageError(
            f"The password is too short: use at least {PASSWORD_MIN} characters.",
            fields=["password"],
        )
    if len(password) > 1024 or "\0" in password:
        raise UsageError("The password is too long or holds a NUL character.", fields=["password"])
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(
            f"{role!r} is not a role: use {' or '.join(ROLES)}.",
            fields=["role"],
        )
    return role


def check_heratio_user_id(value: int | None) -> int | None:
    if value is not None and not 0 < value <= MAX_ID:
        raise UsageError(
            f"A Heratio user id is a whole number from 1 to {MAX_ID}, not {value}.",
            fields=["heratio_user_id"],
        )
    return value


def add_user(
    app: App, name: str, password: str, role: str, heratio_user_id: int | None = None
) -> User:
    from imagear.db import accounts as db

    check_name(name)
    check_role(role)
    check_password(password)
    check_heratio_user_id(heratio_user_id)
    user = db.add_user(app.engine, name, hasher().hash(password), role, heratio_user_id)
    if user is None:
        raise UsageError(
            f"There is already a user named {name!r}.",
            "Pick another name, or change that user's password.",
            fields=["name"],
        )
    return user


def list_users(app: App) -> list[User]:
    from imagear.db import accounts as db

    return db.list_users(app.engine)


def _no_user(name: str) -> NotFound:
    return NotFound(f"There is no user named {name!r}.", params={"name": name})


def get_user(app: App, name: str) -> User:
    """The user named ``name``; NotFound when there is none."""
    from imagear.db import accounts as db

    found = db.find_user(app.engine, name)
    if found is None:
        raise _no_user(name)
    return found[0]


def set_password(app: App, name: str, password: str) -> None:
    """A new password; every session of the user ends."""
    from imagear.db import accounts as db

    check_password(password)
    if not db.set_password(app.engine, name, hasher().hash(password)):
        raise _no_user(name)


def remove_user(app: App, name: str) -> None:
    from imagear.db import accounts as db

    if not db.remove_user(app.engine, name):
        raise _no_user(name)


def verify(app: App, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (an unknown name costs the same work)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    from imagear.db import accounts as db

    found = db.find_user(app.engine, name) if NAME.fullmatch(name or "") else None
    stored = found[1] if found else _dummy_hash()
    ok: bool
    try:
        ok = hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return found[0] if ok and found else None


# -- sessions ----------------------------------------------------------------------------------


def _sid(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_mark(token: str) -> str:
    """What a session opened with the admin token stores of it (a new token ends them)."""
    return hashlib.sha256(b"imagear-admin-token:" + token.encode()).hexdigest()


def open_session(
    app: App, user: User | None, now: datetime, ttl: timedelta, mark: str | None = None
) -> str:
    """A new session of ``user`` (None: the admin token, ``mark`` its :func:`token_mark`);
    returns the cookie's secret."""
    from imagear.db import accounts as db

    if user is None and mark is None:
        raise ConfigError("A session with the admin token needs the token's mark.")
    secret = secrets.token_urlsafe(32)
    db.open_session(
        app.engine,
        _sid(secret),
        user.id if user else None,
        None if user else mark,
        secrets.token_urlsafe(24),
        now + ttl,
    )
    return secret


def find_session(app: App, secret: str, now: datetime, mark: str) -> SessionInfo | None:
    """The live session of a cookie's secret; a token session only while the token is
    ``mark``'s."""
    from imagear.db import accounts as db

    if not secret or len(secret) > 200:
        return None
    found = db.find_session(app.engine, _sid(secret), now)
    if found is None:
        return None
    info, stored_mark = found
    if info.user is None and stored_mark != mark:
        return None
    return info


def end_session(app: App, secret: str) -> None:
    from imagear.db import accounts as db

    if secret and len(secret) <= 200:
        db.end_session(app.engine, _sid(secret))


__all__ = [
    "add_user",
    "check_name",
    "check_password",
    "check_role",
    "end_session",
    "find_session",
    "get_user",
    "list_users",
    "open_session",
    "remove_user",
    "set_password",
    "token_mark",
    "verify",
]
