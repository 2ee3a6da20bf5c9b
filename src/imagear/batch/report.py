"""What a batch run tells its front end: per-record results, the run's summary, progress events.

:class:`ItemResult` is one record's outcome in this run, :class:`BatchSummary` the whole run
(the summary line, ``--json`` and the exit code), and :class:`BatchEvents` the callbacks a
front end overrides to hear about progress (services never print). The notices the runner
sends more than once are worded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from imagear.domain import (
    BatchReport,
    DryRunReport,
    ItemReport,
    NamedReport,
    PlannedRecord,
    StopReport,
)
from imagear.errors import EXIT_INTERRUPTED, ImagearError, NotFound
from imagear.models.wording import OPTION_NAMES, Wording


def when(value: datetime | None) -> str:
    """A time as ``2026-11-21 15:05:41Z`` (UTC), or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class NamedSkip:
    """A record named with ``--object-id`` / ``--object-ids`` that the run cannot take now.

    ``reason``: ``missing`` (no such record) or ``no_master`` (no master image): both are "not
    found" (exit 3 when nothing else failed); ``has_clip``, ``waiting`` (a failure whose retry
    time has not come), ``given_up``, ``running`` (another runner holds it), ``done_since``
    (``--all``: re-animated after ``--since``): said, not an error.
    """

    object_id: int
    reason: str
    attempts: int = 0
    max_attempts: int = 0
    at: datetime | None = None  # waiting: retry time; running: claim expiry; done_since: when
    holder: str | None = None

    @property
    def not_found(self) -> bool:
        return self.reason in ("missing", "no_master")

    @property
    def message(self) -> str:
        """Why, in words that name no front end's options (the CLI words its own:
        :func:`imagear.cli.batch_text.named_message`)."""
        oid = self.object_id
        return {
            "missing": f"record {oid} does not exist",
            "no_master": f"record {oid} has no master image (a top-level image/* file)",
            "has_clip": f"record {oid} already has an animation",
            "waiting": f"record {oid} is waiting until {when(self.at)} (attempt "
            f"{self.attempts} of {self.max_attempts})",
            "given_up": f"record {oid} was given up after {self.attempts} attempt(s)",
            "running": f"record {oid} is being animated by {self.holder or '?'} "
            f"(claim until {when(self.at)})",
            "done_since": f"record {oid} was re-animated at {when(self.at)}, after the run's "
            "start time (since)",
        }.get(self.reason, f"record {oid} cannot be taken now ({self.reason})")

    def report(self, message: str | None = None, advice: str | None = None) -> NamedReport:
        """As JSON shows it: ``message`` and ``advice`` in a front end's words (default: the
        message above, no advice)."""
        return NamedReport(
            self.object_id, self.reason, self.not_found, message or self.message, advice
        )


def named_exit_code(named: list[NamedSkip]) -> int:
    """3 (not found) when a named record is missing or has no master image, else 0."""
    return NotFound.exit_code if any(n.not_found for n in named) else 0


@dataclass
class ItemResult:
    """What happened to one record in this run."""

    object_id: int
    outcome: str  # created | replaced | skipped | failed | given_up | released
    secs: float  # in all, from the worker taking it to the outcome: waits included
    attempts: int
    error_kind: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    notices: list[str] = field(default_factory=list)
    stop_error: ImagearError | None = field(default=None, repr=False)
    wait_secs: float = 0.0  # waiting for a generation slot (other records were generating)
    generation_secs: float | None = None  # generating (the clip's own generation_secs)

    def report(self) -> ItemReport:
        """As JSON shows it (times in seconds to the millisecond)."""
        generation = None if self.generation_secs is None else round(self.generation_secs, 3)
        return ItemReport(
            object_id=self.object_id,
            outcome=self.outcome,
            secs=round(self.secs, 3),
            generation_secs=generation,
            wait_secs=round(self.wait_secs, 3),
            attempts=self.attempts,
            error_kind=self.error_kind,
            error=self.error,
            retry_at=self.retry_at,
            notices=self.notices,
        )


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
    named: list[NamedSkip] = field(default_factory=list)  # named records not taken, and why
    waiting: int = 0  # after the run: failed records waiting for their retry time
    next_retry_at: datetime | None = None  # ... and the first of those times

    @property
    def given_back(self) -> list[int]:
        """Every record this run gave back (its claim released, its attempt not counted): the
        claims never started and the records stopped before they reached the server."""
        return sorted(
            {*self.released, *(r.object_id for r in self.results if r.outcome == "released")}
        )

    @property
    def given_up_earlier(self) -> int:
        """Given-up records waiting for `imagear batch reset` that this run did not give up."""
        return max(0, self.given_up_total - self.count("given_up"))

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.results if r.outcome in outcomes)

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome in ("failed", "given_up")]

    @property
    def exit_code(self) -> int:
        """130 interrupted; the stop error's code; 1 when any record failed; 3 when a named
        record does not exist or has no master image; else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.stopped is not None:
            return self.stopped.exit_code
        return 1 if self.failures else named_exit_code(self.named)

    def report(self, named: list[NamedReport] | None = None) -> BatchReport:
        """The run as JSON shows it; ``named``: the named records not taken, in a front end's
        words (default: :meth:`NamedSkip.report`)."""
        stopped = self.stopped
        return BatchReport(
            runner=self.runner,
            mode=self.mode,
            planned=self.planned,
            done=self.count("created", "replaced"),
            created=self.count("created"),
            replaced=self.count("replaced"),
            skipped=self.count("skipped"),
            failed=self.count("failed"),
            given_up=self.count("given_up"),
            released=len(self.given_back),
            given_back=self.given_back,
            reopened=self.reopened,
            failures=[r.report() for r in self.failures],
            given_up_total=self.given_up_total,
            given_up_earlier=self.given_up_earlier,
            named=[n.report() for n in self.named] if named is None else named,
            waiting=self.waiting,
            next_retry_at=self.next_retry_at,
            interrupted=self.interrupted,
            stopped=None if stopped is None else StopReport(stopped.kind, stopped.one_line()),
            elapsed_secs=round(self.elapsed_secs, 3),
            exit_code=self.exit_code,
        )


@dataclass
class Preview:
    """``--dry-run``: what a run would take now (``rows``, at most ``limit``), how many it
    could take in all (``total``), and the named records it would not take (``named``)."""

    rows: list[PlannedRecord]
    total: int
    limit: int | None
    named: list[NamedSkip] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """3 when a named record does not exist or has no master image (as the run), else 0."""
        return named_exit_code(self.named)

    def report(self, named: list[NamedReport] | None = None) -> DryRunReport:
        """As JSON shows it; ``named`` as for :meth:`BatchSummary.report`."""
        return DryRunReport(
            dry_run=True,
            count=len(self.rows),
            total=self.total,
            limit=self.limit,
            records=self.rows,
            named=[n.report() for n in self.named] if named is None else named,
            exit_code=self.exit_code,
        )


class BatchEvents:
    """Callbacks for a front end; all are called from the thread that called ``run``."""

    def started(self, planned: int, runner: str, concurrency: int) -> None:
        """Work is about to start: ``planned`` records can be taken now."""

    def item(self, result: ItemResult) -> None:
        """One record finished (or was given back)."""

    def notice(self, message: str) -> None:
        """Something a person should know (stopping, a lost claim, dead runners swept)."""


def lost_claim_notice(object_id: int, wording: Wording | None = None) -> str:
    """A record's outcome could not be recorded: another runner holds its claim now.
    ``wording``: how the front end names the lease option (default: its option name)."""
    lease = (wording or OPTION_NAMES).label("lease_secs", "option")
    return (
        f"The claim on record {object_id} had expired and was taken over by another runner "
        f"(raise {lease} if this runner was merely slow)."
    )


def reopened_notice(count: int) -> str:
    """The sweep reopened ``count`` records whose runners died."""
    return f"{count} record(s) held by runners that stopped were reopened."


__all__ = [
    "BatchEvents",
    "BatchSummary",
    "ItemResult",
    "NamedSkip",
    "Preview",
    "lost_claim_notice",
    "named_exit_code",
    "reopened_notice",
    "when",
]
