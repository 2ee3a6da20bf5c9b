"""Who sends a request to the web console, and the CSRF token of every form a browser sends.

Three ways in:

- ``Authorization: Bearer <admin token>``: the admin, for scripts (no CSRF token needed: no
  browser form can send that header);
- a session cookie, from the sign-in form with a user's name and password
  (:mod:`imagear.accounts`: argon2 hashes) or with the admin token; sessions live in the
  database (``imagear_session``), so they survive a restart, expire after ``ttl`` and end on
  logout, on a password change and when the user is removed; a session opened with the admin
  token ends when the console starts with another token;
- nobody: a guest, who sees published records only (:mod:`imagear.publication`).

A change sent with a session cookie must carry the form field ``csrf``: the session's own
random token, stored with it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from imagear import accounts
from imagear.app import App
from imagear.roles import ADMIN, ADMIN_TOKEN_NAME, CURATOR, GUEST, User, may

COOKIE = "imagear_session"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Who:
    """Who sent a request: ``how`` (``bearer``, ``session`` or None: a guest), the session's
    CSRF token, and the user (None when signed in with the admin token)."""

    how: str | None = None
    csrf: str | None = None
    user: User | None = None

    @property
    def signed_in(self) -> bool:
        return self.how is not None

    @property
    def role(self) -> str:
        if self.how is None:
            return GUEST
        return self.user.role if self.user is not None else ADMIN

    @property
    def name(self) -> str:
        if self.how is None:
            return GUEST
        return self.user.name if self.user is not None else ADMIN_TOKEN_NAME

    @property
    def admin(self) -> bool:
        return self.role == ADMIN

    @property
    def curator(self) -> bool:
        """A curator or an admin: generate, approve, reject."""
        return self.role in (CURATOR, ADMIN)

    def may(self, action: str) -> bool:
        return may(self.role, action)

    @property
    def label(self) -> str:
        """For logs and the audit trail: ``alice``, ``admin (bearer)``, ``guest``."""
        if self.user is not None:
            return self.user.name
        return f"{ADMIN_TOKEN_NAME} ({self.how})" if self.how else GUEST


class Auth:
    """The admin token, and the sessions of ``app``'s database."""

    def __init__(
        self,
        app: App,
        token: str,
        *,
        ttl: float = 12 * 3600,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the web console needs an admin token")
        import time

        self._app = app
        self._token = token.encode()
        self._mark = accounts.token_mark(token)
        self.ttl = ttl
        self._clock = clock or time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def new_session(self, user: User | None = None) -> str:
        """A cookie value for ``user`` (None: signed in with the admin token)."""
        return accounts.open_session(
            self._app, user, self.now(), timedelta(seconds=self.ttl), self._mark
        )

    def revoke(self, cookie: str | None) -> None:
        """End the session of ``cookie`` (logout): that cookie, and every copy, stops working."""
        if cookie:
            accounts.end_session(self._app, cookie)

    def who(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Who:
        """Who sent a request, from its headers and cookies."""
        header = headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(value.strip()):
            return Who("bearer")
        cookie = cookies.get(COOKIE)
        if cookie:
            info = accounts.find_session(self._app, cookie, self.now(), self._mark)
            if info is not None:
                return Who("session", info.csrf, info.user)
        return Who()

    def csrf_ok(self, who: Who, sent: str | None) -> bool:
        """A change may go ahead: Bearer, or a session whose form carried its CSRF token."""
        if who.how == "bearer":
            return True
        if who.how == "session" and who.csrf and sent:
            return hmac.compare_digest(who.csrf.encode(), sent.encode())
        return False


__all__ = ["COOKIE", "CSRF_FIELD", "Auth", "Who"]
