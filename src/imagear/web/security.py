"""What guards every request to the console before a route sees it (:class:`Guard`, an ASGI
middleware): the Host header is one of this console's names (DNS rebinding: a page of another
site whose name was pointed at this address is refused with 400), every answer carries the
security headers (a Content-Security-Policy that allows only the console's own scripts and
styles and no framing; a sandbox for the media routes, so a file can never run as a page;
``nosniff``; no Referer), and no request body grows past the cap (413). Also the sign-in
throttle (:class:`Throttle`: too many failed sign-ins from one address, or for one name,
answer 429).

Allowed Host names: ``localhost`` (and ``*.localhost``), any IP address (an address cannot be
rebound to another site), the ``--host`` the console listens on, and the extra names the
options give (``imagear web --allowed-host``).
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
MEDIA_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
MEDIA_PATH = re.compile(r"/image-ar/[^/]+/(video|poster|preview|master)")

MAX_FORM_BYTES = 2**20
"""The largest request body (the console's forms are a few fields of text)."""

SESSION_HOURS = 12.0


@dataclass(frozen=True)
class WebOptions:
    """How the console guards itself: extra Host names, https, session lifetime, body cap,
    sign-in throttle, and the clock (tests hand in their own)."""

    hosts: tuple[str, ...] = ()
    behind_https: bool = False
    session_hours: float = SESSION_HOURS
    max_form_bytes: int = MAX_FORM_BYTES
    sign_in_failures: int = 5
    sign_in_window: float = 60.0
    clock: Callable[[], float] = time.time
    metrics_listen: tuple[str, int] | None = None  # a second listener: /metrics without auth


class BodyTooLarge(Exception):
    """A request body past the cap (answered 413)."""


def host_name(header: str) -> str:
    """The name of a Host header, without the port, lower case, no trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    name, _, port = header.rpartition(":")
    if name and port.isdigit():
        header = name
    return header.rstrip(".")


def host_allowed(header: str, allowed: frozenset[str]) -> bool:
    name = host_name(header)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost") or name in allowed:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The ASGI middleware: Host check, security headers, body cap."""

    def __init__(self, app: ASGIApp, options: WebOptions) -> None:
        self.app = app
        self.cap = options.max_form_bytes
        self.allowed = frozenset(host_name(h) for h in options.hosts if h.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        media = MEDIA_PATH.fullmatch(scope.get("path", "")) is not None
        extra = {**COMMON, "content-security-policy": MEDIA_CSP if media else PAGE_CSP}

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        if not host_allowed(Headers(scope=scope).get("host", ""), self.allowed):
            body = b"This console is not served under that name (Host header).\n"
            await guarded_send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.cap:
                    raise BodyTooLarge
            return message

        await self.app(scope, capped_receive, guarded_send)


class Throttle:
    """Failed sign-ins per key (a client address; a user name): ``limit`` failures in ``window``
    seconds and that key waits until the oldest of them is out of the window."""

    MAX_ADDRESSES = 10_000

    def __init__(self, clock: Callable[[], float], limit: int = 5, window: float = 60.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait before it may sign in again, or None."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if len(times) < self._limit:
                return None
            return max(1, math.ceil(times[0] + self._window - now))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            if len(self._failures) >= self.MAX_ADDRESSES:
                for key in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[key]
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times


__all__ = [
    "MAX_FORM_BYTES",
    "MEDIA_CSP",
    "PAGE_CSP",
    "SESSION_HOURS",
    "BodyTooLarge",
    "Guard",
    "Throttle",
    "WebOptions",
    "host_allowed",
    "host_name",
]
