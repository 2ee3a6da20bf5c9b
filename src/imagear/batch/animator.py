"""The Animator as a batch's worker threads share it: cached settings and a generation gate.

A batch animates many records a second from one :class:`imagear.animate.Animator`:
:func:`batch_animator_class` makes it read ``image_ar_settings`` at most every
:data:`SETTINGS_TTL_SECS`, and :class:`GenerationGate` keeps at most ``concurrency`` records in
the generation step while extra workers prepare and store the others: each record's
``animate`` gets a permit of the gate (:meth:`GenerationGate.permit`, a
:class:`~imagear.generation.permit.GenerationPermit`). A permit refused because the run stops
makes the pipeline raise :class:`StoppedWaiting`: nothing was sent, and the runner gives the
record's claim back.

That is the batch's pipeline: a record's upload is prepared (the master decoded and shrunk)
before it asks for a slot, so it is sent the moment one frees; the record that leaves the slot
checks and stores its clip outside it. :func:`warm_imports` loads what checking and storing
need while the first requests run: the gate starts it when the first record enters it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from imagear.generation.permit import StoppedWaiting

if TYPE_CHECKING:
    from collections.abc import Callable

    from imagear.generation.permit import GenerationPermit
    from imagear.generation.values import AnimateOutcome
    from imagear.settings import Settings

SETTINGS_TTL_SECS = 2.0


def batch_animator_class(base: type) -> type:
    """An Animator that reads image_ar_settings at most every SETTINGS_TTL_SECS (a batch
    animates many records a second; a change made meanwhile still applies within the TTL)."""

    class BatchAnimator(base):  # type: ignore[valid-type, misc]
        _cached: tuple[float, Settings] | None = None
        _cache_lock = threading.Lock()

        def settings(self) -> Settings:
            with self._cache_lock:
                now = time.monotonic()
                if self._cached is None or now - self._cached[0] > SETTINGS_TTL_SECS:
                    self._cached = (now, super().settings())
                return self._cached[1]  # Settings is frozen: safe to share

    return BatchAnimator


class GatePermit:
    """One record's permit of a :class:`GenerationGate` (a
    :class:`~imagear.generation.permit.GenerationPermit`)."""

    def __init__(self, gate: GenerationGate, object_id: int) -> None:
        self.gate = gate
        self.object_id = object_id

    def acquire(self) -> bool:
        return self.gate.enter(self.object_id)

    def release(self) -> None:
        self.gate.release(self.object_id)


class MarkingPermit:
    """A permit that calls ``on_start()`` once it is granted, just before the record's request
    is sent: the batch marks the record's job row as generating (:meth:`ClaimStore.started`),
    so that a runner lost from then on is charged the attempt, and only then."""

    def __init__(self, inner: GenerationPermit, on_start: Callable[[], None]) -> None:
        self.inner = inner
        self.on_start = on_start

    def acquire(self) -> bool:
        if not self.inner.acquire():
            return False
        self.on_start()
        return True

    def release(self) -> None:
        self.inner.release()


class GenerationGate:
    """At most ``n`` records in the generation step at once, so that the extra workers'
    preparation and storing overlap the generations in flight. A record enters once its upload
    is prepared, just before it is sent (or its engine runs), and leaves when the clip is back
    or when ``animate`` returns.

    The first record to enter starts :func:`warm_imports` in a thread of its own: its imports
    hold the GIL, so started any earlier they would slow the pre-flight and the preparation of
    the first uploads, which every slot waits on (bench/bench_batch.py, docs/performance.md).
    """

    def __init__(self, n: int, stop: threading.Event) -> None:
        self._slots = threading.Semaphore(n)
        self._inside: set[int] = set()
        self._lock = threading.Lock()
        self._stop = stop
        self.waited = 0.0  # seconds records spent waiting for a slot, in all
        self._timing: dict[int, list[float]] = {}  # id -> [waited, entered at, generating]
        self._warming = False  # warm_imports started (by the first record to enter)

    def permit(self, object_id: int) -> GatePermit:
        """The permit to hand ``Animator.animate`` for ``object_id``."""
        return GatePermit(self, object_id)

    def enter(self, object_id: int) -> bool:
        """Wait for a slot; False when the run stops first (nothing is held)."""
        t0 = time.monotonic()
        while self._stop.is_set() or not self._slots.acquire(timeout=0.2):
            if self._stop.is_set():  # not sent yet: give it back rather than start it
                return False
        now = time.monotonic()
        with self._lock:
            if not self._warming:
                self._warming = True
                threading.Thread(target=warm_imports, name="imagear-warm", daemon=True).start()
            self._inside.add(object_id)
            self.waited += now - t0
            self._timing[object_id] = [now - t0, now, 0.0]
        return True

    def release(self, object_id: int) -> None:
        """Leave the generation step (no-op when ``object_id`` is not in it)."""
        with self._lock:
            if object_id not in self._inside:
                return
            self._inside.discard(object_id)
            timing = self._timing.get(object_id)
            if timing is not None:
                timing[2] = time.monotonic() - timing[1]
        self._slots.release()

    def timing(self, object_id: int) -> tuple[float, float | None]:
        """(seconds the record waited for a slot, seconds it spent in the generation step or
        None when it never entered it), forgotten once read."""
        with self._lock:
            timing = self._timing.pop(object_id, None)
        if timing is None:
            return 0.0, None
        return timing[0], timing[2]


def warm_imports() -> None:
    """Import what checking and storing the first clip needs (PyAV, the quality gate, the
    previews) in the background while the first generations run, rather than on the first
    worker whose clip came back (a run's start is part of its wall time)."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the worker that needs it will say what is wrong
            return


WARM_MODULES = (
    "av",
    "imagear.media.mp4",
    "imagear.media.scan",
    "imagear.media.preview",
    "imagear.quality",
    "imagear.quarantine",
    "imagear.clips",
)


def timing(
    gate: GenerationGate | None, object_id: int, outcome: AnimateOutcome | None
) -> tuple[float, float | None]:
    """(seconds a record waited for a generation slot, seconds it generated or None): the
    clip's own ``generation_secs`` when one was stored, else what the gate measured."""
    wait, generation = gate.timing(object_id) if gate is not None else (0.0, None)
    clip = outcome.animation if outcome is not None else None
    secs = clip.generation_secs if clip is not None else None
    if outcome is not None and outcome.status in ("created", "replaced") and secs:
        generation = float(secs)
    return wait, generation


__all__ = [
    "SETTINGS_TTL_SECS",
    "WARM_MODULES",
    "GatePermit",
    "GenerationGate",
    "MarkingPermit",
    "StoppedWaiting",
    "batch_animator_class",
    "timing",
    "warm_imports",
]
