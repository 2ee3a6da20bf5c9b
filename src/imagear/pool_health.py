"""How the pool (:mod:`imagear.pool`; docs/batch.md, "A pool of servers") judges its servers:
one that keeps failing, one that is gone (:func:`refuses`), and their state in words
(:func:`pool_lines`).

A server that answers, but answers errors (a 500 in a tenth of a second, say a broken GPU), is
free again at once: left in the rotation, it would take most requests and fail them all while
a healthy server idles. So:

- :data:`SICK_AFTER` server errors in a row (:func:`server_failed`; within
  :data:`SICK_WINDOW_SECS` of the first) take it out as a server that stops answering is, to be
  probed again later; back after a probe, it is on probation: its next error takes it out again,
  for twice as long each time (up to ``PROBE_MAX_SECS``), until it answers a clip;
- a record whose request a server answered with an error goes to another server that is in the
  rotation (at most once per server), and the record's attempt is not spent: an error answer
  ends that request on that server, so nothing is generated twice; with no other server left,
  the error is the record's failure, so a record that fails everywhere still fails.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from imagear.errors import ImagearError, ServerError
from imagear.urls import redact_url

if TYPE_CHECKING:
    from imagear.wire import Health

PROBE_TIMEOUT = 10.0
"""Seconds a probe (``GET /health``) may take."""

GONE_WINDOW = 2.0
"""Seconds a server whose connection broke is asked whether it is gone (:func:`refuses`)."""

SICK_AFTER = 3
"""Server errors in a row that take a server out of the rotation."""
SICK_WINDOW_SECS = 60.0
"""Errors further apart than this (from the first of the row) start a new row."""


def capacity_of(health: Health) -> int | None:
    """Requests a server takes at once: ``queue_size + 1`` when its /health says, else None."""
    size = health.extra.get("queue_size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size + 1
    return None


def not_in(item: object, avoid: Sequence[object]) -> bool:
    """``item`` is none of ``avoid`` (by identity)."""
    return all(item is not other for other in avoid)


def server_failed(err: BaseException) -> bool:
    """True for a server's error answer to a request (a 5xx other than busy, out of GPU memory
    or a refused clip; or a missing endpoint): the server's fault, not the record's."""
    return type(err) is ServerError


@dataclass
class Streak:
    """A server's recent errors (the pool's lock guards it)."""

    errors: int = 0  # in a row
    since: float = 0.0  # when the row began (the pool's clock)
    outs: int = 0  # times taken out for errors since it last answered a clip
    probation: bool = False  # back after being taken out: its next error takes it out

    def failed(self, now: float) -> bool:
        """Count an error; True when the server should leave the rotation."""
        if self.errors and now - self.since > SICK_WINDOW_SECS:
            self.errors = 0
        if not self.errors:
            self.since = now
        self.errors += 1
        return self.probation or self.errors >= SICK_AFTER

    def answered(self) -> None:
        """It answered a clip: healthy again."""
        self.errors, self.outs, self.probation = 0, 0, False

    def out_for(self, base: float, most: float) -> float:
        """It leaves the rotation now: seconds before it is probed (doubling per time out)."""
        self.outs += 1
        self.errors, self.probation = 0, True
        return min(most, base * 2 ** (self.outs - 1))


def sick_error(shown: str, err: ImagearError, errors: int) -> ServerError:
    """Why a failing server was taken out (its ``error`` in the pool's state)."""
    row = f"{errors} errors in a row" if errors > 1 else "another error after it was probed"
    return ServerError(
        f"The image-to-video server at {shown} kept failing ({row}; the last: {err.message})",
        "Look at the server's log; {see:health} shows its state.",
    )


def refuses(url: str, window: float = GONE_WINDOW, pause: float = 0.05) -> bool:
    """True when ``url``'s host and port is proven to have nothing listening, on fresh sockets
    (a kept-alive connection would only say that it broke): a new connection is refused, or one
    it accepted is reset before anything was sent on it (it sat in the queue of a listening
    socket that was then closed; a live server never resets a fresh connection). Asked for up to
    ``window`` seconds: a process being killed closes its connections a moment before its
    listening socket, which meanwhile still accepts, and on a loaded host that moment can be
    long. Anything else (unreachable, timed out, no such host) is no proof that it died."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ends = time.monotonic() + window
    while True:
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT) as s:
                s.settimeout(pause)
                try:
                    s.recv(1)
                except TimeoutError:
                    pass
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        except OSError:
            return False
        if time.monotonic() >= ends:
            return False
        time.sleep(pause)


def broke(err: BaseException) -> bool:
    """The request reached the server and the connection then broke (no timeout)."""
    cause = err.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(cause, httpx.TimeoutException)


def pool_lines(health: object) -> list[str]:
    """One line per server of a pool's health (none for a single server), for the batch
    pre-flight and ``imagear health``."""
    extra = getattr(health, "extra", None)
    states = extra.get("pool") if isinstance(extra, dict) else None
    if not states:
        return []
    ready = sum(1 for s in states if s.get("ready"))
    lines = [f"Server pool: {ready} of {len(states)} servers ready."]
    for s in states:
        url = redact_url(str(s.get("url")))
        degraded = (  # up, but its own default model cannot run there
            f" Degraded: its default model {s.get('default_model')} cannot run there."
            if s.get("status") == "degraded"
            else ""
        )
        if s.get("ready"):
            cap = s.get("capacity")
            at_once = f"{cap} requests at once" if cap else "capacity not reported"
            lines.append(f"  {url}: ready ({at_once}).{degraded}")
        elif s.get("reachable"):
            lines.append(f"  {url}: reachable, but lacks the model; it gets no requests.{degraded}")
        else:
            lines.append(
                f"  {url}: taken out, probed again later: {s.get('error') or 'unreachable'}"
            )
    return lines


__all__ = [
    "PROBE_TIMEOUT",
    "SICK_AFTER",
    "SICK_WINDOW_SECS",
    "Streak",
    "broke",
    "capacity_of",
    "not_in",
    "pool_lines",
    "refuses",
    "server_failed",
    "sick_error",
]
