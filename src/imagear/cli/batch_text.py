"""How batch results are worded for a person: plain strings, no printing (the commands in
:mod:`imagear.cli.batch` print them; services never render text).

- :func:`item_line`: one record's outcome in a run (a log line, and the summary's failures);
- :func:`given_up_lines`: the given-up part of a run's summary (this run's give-ups said in
  full, earlier ones mentioned once);
- :func:`failure_lines` / :func:`failures_count_line`: ``imagear batch failures``, one block
  per failure (a header line, the error on its own indented line) so the whole error stays
  readable in a pipe or an 80-column terminal;
- :func:`progress_lines`: ``imagear batch status``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imagear.batch loads the database layer: only its types are needed here
    from imagear.batch import BatchProgress, BatchSummary, FailurePage, ItemResult, NamedSkip
    from imagear.domain import JobFailure, NamedReport


def when(value: datetime | None) -> str:
    """A time as ``2026-11-21 15:05:41Z`` (UTC), or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def stamp() -> str:
    """Now, as the ``2026-11-21T15:05:41Z`` that starts each log line of a batch run."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def item_line(r: ItemResult, max_attempts: int) -> str:
    """``record 6 created in 39.97s: generation 17.61s, waited 20.10s`` (waited: for a
    generation slot while other records generated), ``record 18 failed in 6.02s: generation
    6.01s, waited 0.00s ServerTimeout: ... (attempt 2/5, retry after ...)``."""
    line = f"record {r.object_id} {r.outcome} in {r.secs:.2f}s: "
    if r.generation_secs is not None:
        line += f"generation {r.generation_secs:.2f}s, "
    line += f"waited {r.wait_secs:.2f}s"
    if r.error:
        line += f"; {r.error_kind}: {r.error}" if r.error_kind else f" ({r.error})"
    if r.outcome == "failed":
        line += f" (attempt {r.attempts}/{max_attempts}, retry after {when(r.retry_at)})"
    elif r.outcome == "given_up":
        line += f" (attempt {r.attempts}/{max_attempts}: given up)"
    for notice in r.notices:
        line += f" [{notice}]"
    return line


def named_message(n: NamedSkip) -> str:
    """Why a record named with --object-id is not taken, with the command line's way out."""
    oid, reset = n.object_id, f"`imagear batch reset --object-id {n.object_id}`"
    worded = {
        "has_clip": f"record {oid} already has an animation (`--all` re-animates it)",
        "waiting": f"{n.message}; {reset} retries now",
        "given_up": f"{n.message}; {reset} retries it",
        "done_since": f"record {oid} was re-animated at {when(n.at)}, after --since",
    }
    return worded.get(n.reason, n.message)


NAMED_ADVICE = {
    "missing": "List records with `imagear records list`.",
    "no_master": "Attach an image to the record (in Heratio on a Heratio database, else with "
    "`imagear records add IMAGE`).",
}
"""What to do about a named record that is not found (the run exits 3)."""


def named_json(n: NamedSkip) -> NamedReport:
    """A named record not taken, as --json says it (its message worded for the command line,
    and advice when it is not found)."""
    return n.report(named_message(n), NAMED_ADVICE.get(n.reason))


def nothing_to_do_line(summary: BatchSummary) -> str:
    """``Nothing to do: ...``, and when failed records wait for their retry, how many and when
    the first comes (so a second run soon after a failure does not look stuck)."""
    line = "Nothing to do: no record needs an animation now"
    if summary.waiting:
        line += (
            f"; {_plural(summary.waiting, 'failed record')} "
            f"{'waits' if summary.waiting == 1 else 'wait'} for a retry, the first at "
            f"{when(summary.next_retry_at)} (`imagear batch failures` lists them, "
            "`imagear batch reset --all-failed` retries them now)"
        )
    return line + "." + given_up_earlier_note(summary)


def local_time(value: datetime) -> str:
    """A retry time in this host's local time, as cron's mail is read: ``14:05`` today, else
    ``2026-12-05 14:05``."""
    local = value.astimezone()
    today = datetime.now().astimezone().date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"


def waiting_line(summary: BatchSummary) -> str | None:
    """``2 records wait for a retry, the first at 14:05`` (local time) after a run that did
    something, or None when no failed record waits."""
    n, at = summary.waiting, summary.next_retry_at
    if not n or at is None:
        return None
    if n == 1:
        return f"1 record waits for a retry at {local_time(at)} (`imagear batch failures`)."
    return (
        f"{n} records wait for a retry, the first at {local_time(at)} (`imagear batch failures`)."
    )


def given_back_line(summary: BatchSummary) -> str | None:
    """``given back (the next run takes them): 7, 8, 9``: every record given back, so the
    summary's count and the list agree; None when none was."""
    ids = summary.given_back
    if not ids:
        return None
    return f"given back (the next run takes them): {', '.join(map(str, ids))}"


def given_up_earlier_note(summary: BatchSummary) -> str:
    """`` (3 given up earlier: `imagear batch failures`)``, or "" when there are none."""
    n = summary.given_up_earlier
    return f" ({n} given up earlier: `imagear batch failures`)" if n else ""


def given_up_lines(summary: BatchSummary) -> list[str]:
    """The records this run gave up on (said once, here); earlier ones are only counted in
    :func:`given_up_earlier_note`."""
    n = summary.count("given_up")
    if not n:
        return []
    return [
        f"{_plural(n, 'record')} given up in this run and no longer retried: "
        "`imagear batch reset --all-failed` retries them."
    ]


def _state(row: JobFailure, now: datetime) -> str:
    """``given_up``, ``waiting`` (its retry time is ahead) or ``next_run``."""
    if row.status == "given_up":
        return "given_up"
    at = row.next_attempt_at
    if row.status == "failed" and at and at > now:
        return "waiting"
    return "next_run"


def failures_count_line(page: FailurePage) -> str:
    """``2 records: 1 given up, 1 waiting for retry`` (+ ``, 1 retried by the next run``),
    counted over every failure, not only the page shown."""
    waiting = page.waiting or 0
    next_run = page.total - page.given_up - waiting
    line = f"{_plural(page.total, 'record')}: {page.given_up} given up, {waiting} waiting for retry"
    if next_run > 0:
        line += f", {next_run} retried by the next run"
    return line + ". `imagear batch reset --all-failed` retries them now."


def failures_more_line(page: FailurePage) -> str | None:
    """``... and 199,950 more: --offset 50 shows the next 50, --limit 0 all of them.``"""
    if not page.more:
        return None
    after = page.offset + len(page.failures)
    step = page.limit or len(page.failures) or 1
    return (
        f"... and {page.more:,} more: `--offset {after}` shows the next {min(step, page.more):,}"
        f", `--limit 0` all of them."
    )


def failure_lines(row: JobFailure, now: datetime | None = None) -> list[str]:
    """One failure of ``imagear batch failures``: a header line and the error, indented."""
    now = now or datetime.now(UTC)
    oid = row.object_id
    head = f"record {oid}" + (f" ({row.identifier})" if row.identifier else "")
    tries = _plural(row.attempts, "attempt")
    state = _state(row, now)
    if state == "given_up":
        head += f": given up after {tries}; `imagear batch reset --object-id {oid}` retries it"
    elif state == "waiting":
        head += f": failed, {tries}; next try {when(row.next_attempt_at)}"
    else:
        head += f": failed, {tries}; next try with the next run"
    error = row.error or "(no error recorded)"
    kind = row.error_kind
    return [head, f"    {kind}: {error}" if kind else f"    {error}"]


def duration(secs: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    secs = max(0, round(secs))
    if secs < 60:
        return f"{secs} s"
    minutes, hours = secs // 60, secs // 3600
    if hours < 1:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


STATUS_LABELS = (
    ("pending", "pending"),
    ("running", "running"),
    ("done", "done"),
    ("failed", "failed (retried later)"),
    ("given_up", "given up"),
)


def progress_lines(p: BatchProgress) -> list[str]:
    """``imagear batch status``: done of all, one line per status, rate and time left, the
    claims held (runner, age), the last done, the next retry."""
    if not p.total:
        return [
            "No batch has run on this database yet (`imagear batch --dry-run` shows what one "
            "would take)."
        ]
    c = p.counts
    done = c.done
    lines = [f"Batch: {done:,} of {p.total:,} records done ({100 * done / p.total:.1f}%)."]
    width = max(len(f"{getattr(c, s):,}") for s, _ in STATUS_LABELS)
    lines += [f"  {getattr(c, s):>{width},}  {label}" for s, label in STATUS_LABELS]
    if p.per_minute:
        n = p.done_last_10_min if p.done_last_10_min >= 2 else p.done_last_hour
        left = f"; about {duration(p.eta_secs)} left" if p.eta_secs is not None else ""
        lines.append(f"Rate: {p.per_minute:.1f} records/min over the last {n} records{left}.")
    else:
        lines.append("Rate: nothing finished in the last hour.")
    held = c.running
    if p.running:
        first = f"the first {len(p.running)} of {held:,}" if held > len(p.running) else ""
        lines.append(f"Running ({first or _plural(len(p.running), 'claim')}):")
    for claim in p.running:
        age = duration((p.now - claim.since).total_seconds()) if claim.since else "-"
        state = f"for {age}, attempt {claim.attempts}"
        if claim.expired:
            state += "; claim EXPIRED: its runner is gone, the next run takes the record again"
        lines.append(f"  record {claim.object_id}  {claim.runner or '-'}  {state}")
    if p.last_done:
        shown = ", ".join(f"{d.object_id} ({when(d.finished_at)})" for d in p.last_done[:5])
        lines.append(f"Last finished: {shown}.")
    if p.next_retry_at is not None:
        lines.append(f"Next retry of a failed record: {when(p.next_retry_at)}.")
    return lines


__all__ = [
    "NAMED_ADVICE",
    "STATUS_LABELS",
    "duration",
    "failure_lines",
    "failures_count_line",
    "failures_more_line",
    "given_up_earlier_note",
    "given_back_line",
    "given_up_lines",
    "item_line",
    "local_time",
    "named_json",
    "named_message",
    "nothing_to_do_line",
    "progress_lines",
    "stamp",
    "waiting_line",
    "when",
]
