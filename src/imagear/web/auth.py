"""The admin token of the web console: a Bearer header, or a login form that sets a signed
session cookie; and the CSRF token that every form sent with that cookie must carry.

Reading is open. Every change and the admin pages need the token. A request with the right
``Authorization: Bearer`` header needs no CSRF token (no browser form can send that header); a
request authenticated by the session cookie must send the form field ``csrf`` derived from its
session. Sessions are signed with a key drawn when the process starts (a restart logs out).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

COOKIE = "imagear_session"
CSRF_FIELD = "csrf"
MAX_SESSIONS = 10_000


@dataclass
class Who:
    """How a request is authenticated: ``bearer``, ``session`` (with its CSRF token) or not."""

    how: str | None = None
    csrf: str | None = None

    @property
    def admin(self) -> bool:
        return self.how is not None


class Auth:
    def __init__(
        self,
        token: str,
        key: bytes | None = None,
        *,
        ttl: float = 12 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("the web console needs an admin token")
        self._token = token.encode()
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self._clock = clock
        self._sessions: dict[str, float] = {}  # nonce -> when it expires
        self._lock = threading.Lock()

    def _sign(self, what: str) -> str:
        return hmac.new(self._key, what.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def new_session(self) -> str:
        """A cookie value: ``{nonce}.{signature}``."""
        nonce = secrets.token_urlsafe(18)
        with self._lock:
            now = self._clock()
            for old in [n for n, ends in self._sessions.items() if ends <= now]:
                del self._sessions[old]
            while len(self._sessions) >= MAX_SESSIONS:  # the oldest go first
                del self._sessions[min(self._sessions, key=self._sessions.__getitem__)]
            self._sessions[nonce] = now + self.ttl
        return f"{nonce}.{self._sign('session:' + nonce)}"

    def _nonce(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 1:
            return None
        nonce, sig = cookie.split(".")
        if not hmac.compare_digest(sig, self._sign("session:" + nonce)):
            return None
        with self._lock:
            ends = self._sessions.get(nonce)
            if ends is None or ends <= self._clock():
                self._sessions.pop(nonce, None)
                return None
        return nonce

    def revoke(self, cookie: str | None) -> None:
        """End the session of ``cookie`` (logout): that cookie, and every copy, stops working."""
        nonce = self._nonce(cookie)
        if nonce is not None:
            with self._lock:
                self._sessions.pop(nonce, None)

    def csrf_of(self, cookie: str | None) -> str | None:
        nonce = self._nonce(cookie)
        return self._sign("csrf:" + nonce) if nonce else None

    def who(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Who:
        """Who sent a request, from its headers and cookies."""
        header = headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(value.strip()):
            return Who("bearer")
        csrf = self.csrf_of(cookies.get(COOKIE))
        if csrf:
            return Who("session", csrf)
        return Who()

    def csrf_ok(self, who: Who, sent: str | None) -> bool:
        """A change may go ahead: Bearer, or a session whose form carried its CSRF token."""
        if who.how == "bearer":
            return True
        if who.how == "session" and who.csrf and sent:
            return hmac.compare_digest(who.csrf, sent)
        return False


__all__ = ["COOKIE", "CSRF_FIELD", "Auth", "Who"]
