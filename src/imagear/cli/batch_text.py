"""How batch results are worded for a person: plain strings, no printing (the commands in
:mod:`imagear.cli.batch` print them; services never render text).

- :func:`item_line`: one record's outcome in a run (a log line, and the summary's failures);
- :func:`given_up_lines`: the given-up part of a run's summary (this run's give-ups said in
  full, earlier ones mentioned once);
- :func:`failure_lines` / :func:`failures_count_line`: ``imagear batch failures``, one block
  per failure (a header line, the error on its own indented line) so the whole error stays
  readable in a pipe or an 80-column terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imagear.batch loads the database layer: only its types are needed here
    from imagear.batch import BatchSummary, ItemResult


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
    """``record 18 failed 6.02s ServerTimeout: ... (attempt 2/5, retry after ...)``."""
    line = f"record {r.object_id} {r.outcome} {r.secs:.2f}s"
    if r.error:
        line += f" {r.error_kind}: {r.error}" if r.error_kind else f" ({r.error})"
    if r.outcome == "failed":
        line += f" (attempt {r.attempts}/{max_attempts}, retry after {when(r.retry_at)})"
    elif r.outcome == "given_up":
        line += f" (attempt {r.attempts}/{max_attempts}: given up)"
    for notice in r.notices:
        line += f" [{notice}]"
    return line


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


def _when_text(value: str | None) -> str:
    return when(datetime.fromisoformat(value)) if value else "-"


def _state(row: dict[str, Any], now: datetime) -> str:
    """``given_up``, ``waiting`` (its retry time is ahead) or ``next_run``."""
    if row["status"] == "given_up":
        return "given_up"
    at = row.get("next_attempt_at")
    if row["status"] == "failed" and at and datetime.fromisoformat(at) > now:
        return "waiting"
    return "next_run"


def failures_count_line(rows: list[dict[str, Any]], now: datetime | None = None) -> str:
    """``2 records: 1 given up, 1 waiting for retry`` (+ ``, 1 retried by the next run``)."""
    now = now or datetime.now(UTC)
    states = [_state(r, now) for r in rows]
    line = (
        f"{_plural(len(rows), 'record')}: {states.count('given_up')} given up, "
        f"{states.count('waiting')} waiting for retry"
    )
    if states.count("next_run"):
        line += f", {states.count('next_run')} retried by the next run"
    return line + ". `imagear batch reset --all-failed` retries them now."


def failure_lines(row: dict[str, Any], now: datetime | None = None) -> list[str]:
    """One failure of ``imagear batch failures``: a header line and the error, indented."""
    now = now or datetime.now(UTC)
    oid = row["object_id"]
    head = f"record {oid}" + (f" ({row['identifier']})" if row.get("identifier") else "")
    tries = _plural(int(row["attempts"] or 0), "attempt")
    state = _state(row, now)
    if state == "given_up":
        head += f": given up after {tries}; `imagear batch reset --object-id {oid}` retries it"
    elif state == "waiting":
        head += f": failed, {tries}; next try {_when_text(row['next_attempt_at'])}"
    else:
        head += f": failed, {tries}; next try with the next run"
    error = row.get("error") or "(no error recorded)"
    kind = row.get("error_kind")
    return [head, f"    {kind}: {error}" if kind else f"    {error}"]


__all__ = [
    "failure_lines",
    "failures_count_line",
    "given_up_earlier_note",
    "given_up_lines",
    "item_line",
    "stamp",
    "when",
]
