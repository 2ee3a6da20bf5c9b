"""Accounts and sign-ins of the web console: ``imagear_user`` and ``imagear_session``,
imagear's own tables (schema v4; names that cannot clash with AtoM's or Heratio's).

A user has a name, an argon2 password hash (made and checked by :mod:`imagear.accounts`; this
module only stores it), a role and, on a Heratio database, the Heratio user id written to
``created_by``. A session row is a signed-in browser: its id is the SHA-256 of the cookie's
secret (the secret itself is never stored), its user (NULL: signed in with the admin token,
then ``token_mark`` names which token, so a new token ends those sessions), its CSRF token and
when it expires. Sessions live in the database, so they survive a restart of ``imagear web``
and are ended everywhere on logout, password change and removal of the user.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    Row,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.schema import AWARE, OWN_METADATA, utcnow
from imagear.roles import NAME_MAX, SessionInfo, User

# An account of the web console (schema v4).
USER = Table(
    "imagear_user",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("heratio_user_id", Integer),
    Column("created_at", AWARE, nullable=False, default=utcnow),
    Column("password_changed_at", AWARE, nullable=False, default=utcnow),
)

# A signed-in browser (schema v4); its id is the SHA-256 of the cookie's secret.
SESSION = Table(
    "imagear_session",
    OWN_METADATA,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, index=True),
    Column("token_mark", String(64)),
    Column("csrf", String(64), nullable=False),
    Column("created_at", AWARE, nullable=False, default=utcnow),
    Column("expires_at", AWARE, nullable=False, index=True),
)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> Exception:
    return flavour.failed(
        engine,
        what,
        exc,
        "Check database_url (`imagear config show`) and that the database is writable.",
    )


def _user(r: Row[Any]) -> User:
    return User(int(r.id), str(r.name), str(r.role), r.heratio_user_id, _aware(r.created_at))


def add_user(
    engine: Engine, name: str, password_hash: str, role: str, heratio_user_id: int | None
) -> User | None:
    """Add a user; None when the name is taken."""
    now = utcnow()
    try:
        with engine.begin() as conn:
            if conn.execute(select(USER.c.id).where(USER.c.name == name)).first() is not None:
                return None
            conn.execute(
                USER.insert().values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    heratio_user_id=heratio_user_id,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            row = conn.execute(select(USER).where(USER.c.name == name)).one()
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Adding the user {name!r} failed", exc) from exc
    return _user(row)


def find_user(engine: Engine, name: str) -> tuple[User, str] | None:
    """The user named ``name`` and its password hash, or None."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(USER).where(USER.c.name == name)).first()
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading the users failed", exc) from exc
    return (_user(row), str(row.password_hash)) if row is not None else None


def list_users(engine: Engine) -> list[User]:
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(USER).order_by(USER.c.name)).all()
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading the users failed", exc) from exc
    return [_user(r) for r in rows]


def count_sessions(engine: Engine, user_id: int) -> int:
    try:
        with engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(SESSION).where(SESSION.c.user_id == user_id)
            ).scalar()
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading the sessions failed", exc) from exc
    return int(n or 0)


def set_password(engine: Engine, name: str, password_hash: str) -> bool:
    """Store a new hash and end every session of the user (one transaction); False: no user."""
    try:
        with engine.begin() as conn:
            row = conn.execute(select(USER.c.id).where(USER.c.name == name)).first()
            if row is None:
                return False
            conn.execute(
                update(USER)
                .where(USER.c.id == row.id)
                .values(password_hash=password_hash, password_changed_at=utcnow())
            )
            conn.execute(delete(SESSION).where(SESSION.c.user_id == row.id))
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Changing the password of {name!r} failed", exc) from exc
    return True


def remove_user(engine: Engine, name: str) -> bool:
    """Remove the user and its sessions; False: no such user."""
    try:
        with engine.begin() as conn:
            row = conn.execute(select(USER.c.id).where(USER.c.name == name)).first()
            if row is None:
                return False
            conn.execute(delete(SESSION).where(SESSION.c.user_id == row.id))
            conn.execute(delete(USER).where(USER.c.id == row.id))
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Removing the user {name!r} failed", exc) from exc
    return True


def open_session(
    engine: Engine,
    sid: str,
    user_id: int | None,
    token_mark: str | None,
    csrf: str,
    expires_at: datetime,
) -> None:
    """Store a new session (and drop the expired ones)."""
    now = utcnow()
    try:
        with engine.begin() as conn:
            conn.execute(delete(SESSION).where(SESSION.c.expires_at <= now))
            conn.execute(
                SESSION.insert().values(
                    id=sid,
                    user_id=user_id,
                    token_mark=token_mark,
                    csrf=csrf,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
    except SQLAlchemyError as exc:
        raise _failed(engine, "Storing a sign-in failed", exc) from exc


def find_session(engine: Engine, sid: str, now: datetime) -> tuple[SessionInfo, str | None] | None:
    """The session ``sid`` and its token mark while it has not expired (and its user, if it
    has one, still exists), else None."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(SESSION).where(SESSION.c.id == sid)).first()
            if row is None or _aware(row.expires_at) <= now:
                return None
            user = None
            if row.user_id is not None:
                urow = conn.execute(select(USER).where(USER.c.id == row.user_id)).first()
                if urow is None:
                    return None
                user = _user(urow)
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading a sign-in failed", exc) from exc
    return SessionInfo(user, str(row.csrf), _aware(row.expires_at)), row.token_mark


def end_session(engine: Engine, sid: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(delete(SESSION).where(SESSION.c.id == sid))
    except SQLAlchemyError as exc:
        raise _failed(engine, "Ending a sign-in failed", exc) from exc


__all__ = [
    "SESSION",
    "USER",
    "add_user",
    "count_sessions",
    "end_session",
    "find_session",
    "find_user",
    "list_users",
    "open_session",
    "remove_user",
    "set_password",
]
