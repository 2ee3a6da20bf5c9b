"""The batch main loop's state (:mod:`imagear.batch.runner`): what a worker hands back, and
the claimed records waiting, those in flight and where claims stand."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagear.db.claims import Claim
    from imagear.db.jobs import Selection
    from imagear.generation.values import AnimateOutcome


@dataclass
class Done:
    """What a worker hands back: the outcome or the exception, and how long it took."""

    claim: Claim
    secs: float  # in all: waiting for a generation slot included
    outcome: AnimateOutcome | None
    error: Exception | None
    wait_secs: float = 0.0  # waiting for a generation slot (the gate)
    generation_secs: float | None = None  # generating (None: it never got that far)


class Work:
    """The main loop's state: claimed records waiting, records in flight, where claims stand."""

    def __init__(self, sel: Selection, started: datetime) -> None:
        self.sel = sel
        self.started = started
        self.queue: deque[Claim] = deque()
        self.in_flight: dict[Future[Done], Claim] = {}
        self.claimed = 0
        self._windows = iter(sel.windows())
        self.window: tuple[int, ...] | None = next(self._windows)
        self.exhausted = False

    def next_window(self) -> None:
        """Move to the next id window; exhausted when there is none."""
        following = next(self._windows, ())
        self.exhausted = following == ()
        self.window = following or None


__all__ = ["Done", "Work"]
