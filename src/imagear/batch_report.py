"""What a batch run tells its front end: per-record results, the run's summary, progress events.

:class:`ItemResult` is one record's outcome in this run, :class:`BatchSummary` the whole run
(the summary line, ``--json`` and the exit code), and :class:`BatchEvents` the callbacks a
front end overrides to hear about progress (services never print). The notices the runner
sends more than once are worded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagear.errors import EXIT_INTERRUPTED, ImagearError


@dataclass
class ItemResult:
    """What happened to one record in this run."""

    object_id: int
    outcome: str  # created | replaced | skipped | failed | given_up | released
    secs: float
    attempts: int
    error_kind: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    notices: list[str] = field(default_factory=list)
    stop_error: ImagearError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "outcome": self.outcome,
            "secs": round(self.secs, 3),
            "attempts": self.attempts,
            "error_kind": self.error_kind,
            "error": self.error,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "notices": self.notices,
        }


@dataclass
class BatchSummary:
    """The whole run, for the summary line, ``--json`` and the exit code."""

    runner: str
    mode: str
    planned: int = 0
    results: list[ItemResult] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # claimed but never started
    reopened: list[int] = field(default_factory=list)  # claims of dead runners swept
    interrupted: bool = False
    stopped: ImagearError | None = None
    elapsed_secs: float = 0.0
    given_up_total: int = 0  # given-up records in the database after the run

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.results if r.outcome in outcomes)

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome in ("failed", "given_up")]

    @property
    def exit_code(self) -> int:
        """130 interrupted; the stop error's code; 1 when any record failed; else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.stopped is not None:
            return self.stopped.exit_code
        return 1 if self.failures else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "runner": self.runner,
            "mode": self.mode,
            "planned": self.planned,
            "done": self.count("created", "replaced"),
            "created": self.count("created"),
            "replaced": self.count("replaced"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "given_up": self.count("given_up"),
            "released": len(self.released) + self.count("released"),
            "reopened": self.reopened,
            "failures": [r.as_dict() for r in self.failures],
            "given_up_total": self.given_up_total,
            "interrupted": self.interrupted,
            "stopped": None
            if self.stopped is None
            else {"kind": self.stopped.kind, "error": self.stopped.one_line()},
            "elapsed_secs": round(self.elapsed_secs, 3),
            "exit_code": self.exit_code,
        }


class BatchEvents:
    """Callbacks for a front end; all are called from the thread that called ``run``."""

    def started(self, planned: int, runner: str, concurrency: int) -> None:
        """Work is about to start: ``planned`` records can be taken now."""

    def item(self, result: ItemResult) -> None:
        """One record finished (or was given back)."""

    def notice(self, message: str) -> None:
        """Something a person should know (stopping, a lost claim, dead runners swept)."""


def lost_claim_notice(object_id: int) -> str:
    """A record's outcome could not be recorded: another runner holds its claim now."""
    return (
        f"The claim on record {object_id} had expired and was taken over by another runner "
        "(raise --lease-secs if this runner was merely slow)."
    )


def reopened_notice(count: int) -> str:
    """The sweep reopened ``count`` records whose runners died."""
    return f"{count} record(s) held by runners that stopped were reopened."


__all__ = [
    "BatchEvents",
    "BatchSummary",
    "ItemResult",
    "lost_claim_notice",
    "reopened_notice",
]
