"""Who holds claims: a runner's id and a claimed record (:mod:`imagear.db.claims`)."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

_runner_lock = threading.Lock()
_runner_count = 0


def new_runner_id() -> str:
    """``host:pid`` (plus ``#n`` for a second runner in the same process)."""
    global _runner_count
    with _runner_lock:
        _runner_count += 1
        n = _runner_count
    base = f"{socket.gethostname()}:{os.getpid()}"
    return base if n == 1 else f"{base}#{n}"


@dataclass(frozen=True)
class Claim:
    """A record this runner holds; ``attempts`` counts this one. ``last_error_kind``: how its
    previous attempt failed (None: it did not, or this is the first); e.g. ``quality`` makes
    the batch draw a new seed."""

    object_id: int
    attempts: int
    last_error_kind: str | None = None


__all__ = ["Claim", "new_runner_id"]
