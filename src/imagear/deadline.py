"""A total time budget for one HTTP call, across connecting, uploading, waiting and reading.

httpx's timeouts are per operation: :class:`Deadline` gives each operation what is left of the
call's budget, and :func:`watchdog` shuts the socket down when the budget runs out, so that even
a read blocked on a stalled server cannot outlive it (:mod:`imagear.client`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import httpx

__all__ = ["Deadline", "watchdog"]


class Deadline:
    """A total time budget; ``remaining()`` seconds are left (never below a small floor);
    ``connect``: the most any one connection attempt may take of it."""

    def __init__(self, seconds: float, clock: Callable[[], float], connect: float) -> None:
        self.seconds, self.connect = seconds, connect
        self._clock = clock
        self.end = clock() + seconds
        self.fired = False

    def remaining(self) -> float:
        return self.end - self._clock()

    def expired(self) -> bool:
        return self.fired or self.remaining() <= 0

    def httpx_timeout(self) -> httpx.Timeout:
        left = max(0.01, self.remaining())
        return httpx.Timeout(left, connect=min(self.connect, left))


@contextlib.contextmanager
def watchdog(response: httpx.Response, deadline: Deadline) -> Iterator[None]:
    """Shut the socket down at the deadline so a blocked read returns (real sockets only)."""
    stream = response.extensions.get("network_stream")
    sock = None
    if stream is not None:
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        yield
        return
    target = sock

    def fire() -> None:
        deadline.fired = True
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline.remaining()), fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
