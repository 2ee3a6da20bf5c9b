"""Who may do what in the web console: the roles, the actions each allows, and the typed
objects of accounts (:class:`User`), sign-ins (:class:`SessionInfo`) and the audit trail
(:class:`AuditEntry`). Light: no I/O here.

- ``guest`` (not signed in): published records only (:mod:`imagear.publication`), no change;
- ``curator``: every record; generate, approve, reject;
- ``admin``: also delete (to the trash) and restore, the settings page, retrying a batch's
  failures, users (and the admin token signs in as admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

GUEST, CURATOR, ADMIN = "guest", "curator", "admin"
ROLES = (CURATOR, ADMIN)
"""The roles an account can have (a guest has no account)."""

GENERATE, APPROVE, REJECT, DELETE, SETTINGS, USERS = (
    "generate",
    "approve",
    "reject",
    "delete",
    "settings",
    "users",
)
RESTORE, RETRY = "restore", "retry"  # undo a deletion; retry a batch's failed records
ALLOWED: dict[str, frozenset[str]] = {
    GUEST: frozenset(),
    CURATOR: frozenset({GENERATE, APPROVE, REJECT}),
    ADMIN: frozenset({GENERATE, APPROVE, REJECT, DELETE, RESTORE, SETTINGS, RETRY, USERS}),
}
"""The actions each role may take."""

ADMIN_TOKEN_NAME = "admin"  # who a Bearer token or a token sign-in acts as
NAME_MAX = 64
PASSWORD_MIN = 8


def may(role: str, action: str) -> bool:
    """Whether ``role`` may take ``action``."""
    return action in ALLOWED.get(role, frozenset())


@dataclass(frozen=True)
class User:
    """An account of the web console (``imagear_user``); never carries its password hash."""

    id: int
    name: str
    role: str
    heratio_user_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in browser: its user (None: signed in with the admin token), its CSRF token and
    when it ends."""

    user: User | None
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One action in ``imagear_audit``: who (name and role), what, on which record, when."""

    id: int
    at: datetime
    user: str
    role: str
    action: str
    object_id: int | None
    detail: str | None


__all__ = [
    "ADMIN",
    "ADMIN_TOKEN_NAME",
    "ALLOWED",
    "APPROVE",
    "CURATOR",
    "DELETE",
    "GENERATE",
    "GUEST",
    "NAME_MAX",
    "PASSWORD_MIN",
    "REJECT",
    "RESTORE",
    "RETRY",
    "ROLES",
    "SETTINGS",
    "USERS",
    "AuditEntry",
    "SessionInfo",
    "User",
    "may",
]
