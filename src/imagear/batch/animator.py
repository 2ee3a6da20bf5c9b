"""The Animator as a batch's worker threads share it: cached settings and a generation gate.

A batch animates many records a second from one :class:`imagear.animate.Animator`:
:func:`batch_animator_class` makes it read ``image_ar_settings`` at most every
:data:`SETTINGS_TTL_SECS`, and :class:`GenerationGate` (its progress callback) keeps at most
``concurrency`` records in the generation step while extra workers prepare and store the
others. A record still waiting for a slot when the run stops raises :class:`StoppedWaiting`:
nothing was sent, and the runner gives its claim back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

SETTINGS_TTL_SECS = 2.0


def batch_animator_class(base: type) -> type:
    """An Animator that reads image_ar_settings at most every SETTINGS_TTL_SECS (a batch
    animates many records a second; a change made meanwhile still applies within the TTL)."""

    class BatchAnimator(base):  # type: ignore[valid-type, misc]
        _cached: tuple[float, Any] | None = None
        _cache_lock = threading.Lock()

        def settings(self) -> Any:
            with self._cache_lock:
                now = time.monotonic()
                if self._cached is None or now - self._cached[0] > SETTINGS_TTL_SECS:
                    self._cached = (now, super().settings())
                return self._cached[1]  # Settings is frozen: safe to share

    return BatchAnimator


class StoppedWaiting(Exception):
    """Raised inside Animator.animate (through the gate) when the run stops while a record
    waits for a generation slot: nothing was sent, the claim is given back."""


class GenerationGate:
    """At most ``n`` records in the generation step at once, fed by the Animator's progress
    events, so that the extra workers' preparation and storing overlap the generations in
    flight. A record enters just before its request is sent (``upload``; ``phase`` "generate"
    for an in-process engine) and leaves when the clip is back (``phase`` "probe") or when
    ``animate`` returns."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self._slots = threading.Semaphore(n)
        self._inside: set[int] = set()
        self._local: set[int] = set()  # records generated in-process (no upload event)
        self._lock = threading.Lock()
        self._stop = stop
        self.waited = 0.0  # seconds records spent waiting for a slot, in all

    def __call__(self, event: str, object_id: int | None = None, **data: Any) -> None:
        if object_id is None:
            return
        phase = data.get("phase") if event == "phase" else None
        if event == "start" and not data.get("remote", True):
            with self._lock:
                self._local.add(object_id)
        elif event == "upload" or (phase == "generate" and object_id in self._local):
            self._enter(object_id)
        elif phase in ("probe", "store"):
            self.release(object_id)

    def _enter(self, object_id: int) -> None:
        t0 = time.monotonic()
        while self._stop.is_set() or not self._slots.acquire(timeout=0.2):
            if self._stop.is_set():  # not sent yet: give it back rather than start it
                raise StoppedWaiting
        with self._lock:
            self._inside.add(object_id)
            self.waited += time.monotonic() - t0

    def release(self, object_id: int) -> None:
        """Leave the generation step (no-op when ``object_id`` is not in it)."""
        with self._lock:
            self._local.discard(object_id)
            if object_id not in self._inside:
                return
            self._inside.discard(object_id)
        self._slots.release()


__all__ = ["SETTINGS_TTL_SECS", "GenerationGate", "StoppedWaiting", "batch_animator_class"]
