"""Progress for :mod:`imagear.cli.batch`: a Rich bar on a terminal or one log line per record,
and the SIGINT/SIGTERM handlers of a run.

Imported when ``imagear batch`` runs (it needs :mod:`imagear.batch`, which loads the database
layer), not when the CLI starts.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from imagear.batch import BatchEvents, BatchRunner, BatchSummary, ItemResult
from imagear.cli._text import text as as_text
from imagear.cli.batch_text import item_line, named_json, nothing_to_do_line, stamp
from imagear.logs import json_line


class Reporter(BatchEvents):
    """A progress bar for a person, or one timestamped line per record for a log."""

    def __init__(
        self, fancy: bool, out: Console, max_attempts: int, json_log: bool = False
    ) -> None:
        self.fancy = fancy and not json_log
        self.json_log = json_log  # --log-format json: one JSON object per line
        self.out = out
        self.max_attempts = max_attempts
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.progress: Progress | None = None
        self.task: Any = None

    def _print(self, text: str, style: str | None = None, **fields: Any) -> None:
        if self.json_log:
            level = "WARNING" if style else "INFO"
            line = json_line(level, "imagear.batch", text, **fields)
            self.out.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        target = self.progress.console if self.progress is not None else self.out
        shown = as_text(text if self.fancy else f"{stamp()} {text}")
        style = style if self.fancy and style else ""
        target.print(shown, style=style, soft_wrap=True, highlight=False)

    def started(self, planned: int, runner: str, concurrency: int) -> None:
        if not self.fancy:
            self._print(f"batch {runner}: {planned} record(s) to do, concurrency {concurrency}")
            return
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]batch[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.out,
        )
        self.progress.start()
        self.task = self.progress.add_task("batch", total=planned, counts=self._counts(), rate="")

    def _counts(self) -> str:
        c = self.counts
        return f"[green]{c['done']} done[/] {c['skipped']} skipped [red]{c['failed']} failed[/]"

    def item(self, result: ItemResult) -> None:
        key = {"created": "done", "replaced": "done", "skipped": "skipped"}.get(result.outcome)
        if result.outcome in ("failed", "given_up"):
            key = "failed"
        if key:
            self.counts[key] += 1
        if self.progress is None:
            if not self.fancy:
                bad = result.outcome in ("failed", "given_up")
                self._print(
                    item_line(result, self.max_attempts),
                    "red" if bad else None,
                    object_id=result.object_id,
                    outcome=result.outcome,
                    duration_ms=round(result.secs * 1000, 1),
                    reason=result.error if bad else None,
                )
            return
        if result.outcome in ("failed", "given_up") or result.notices:
            self._print(item_line(result, self.max_attempts), "red" if key == "failed" else None)
        task = self.progress.tasks[0]
        done = task.completed + (1 if result.outcome != "released" else 0)
        elapsed = task.elapsed or 0.0
        rate = f"{done / elapsed * 60:.1f}/min" if elapsed > 0 and done else ""
        if done > (task.total or 0):
            self.progress.update(self.task, total=done)
        self.progress.update(self.task, completed=done, counts=self._counts(), rate=rate)

    def notice(self, message: str) -> None:
        self._print(message, "yellow")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def json_summary(summary: BatchSummary) -> list[str]:
    """--log-format json: the end of a run as log lines (the stop reason, skipped names, the
    counts)."""
    lines = []
    if summary.stopped is not None:
        reason = summary.stopped.message
        lines.append(json_line("ERROR", "imagear.batch", f"stopped: {reason}", reason=reason))
    for n in summary.named:
        r = named_json(n)
        fields: dict[str, Any] = {"object_id": r.object_id, "reason": r.reason, "advice": r.advice}
        lines.append(json_line("WARNING", "imagear.batch", r.message, **fields))
    d = summary.report()
    counts = {k: getattr(d, k) for k in ("done", "skipped", "failed", "given_up", "released")}
    message = f"batch {summary.runner}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    if summary.planned == 0 and not summary.results and summary.stopped is None:
        message = nothing_to_do_line(summary)
    lines.append(
        json_line(
            "INFO",
            "imagear.batch",
            message,
            duration_ms=round(summary.elapsed_secs * 1000, 1),
            planned=summary.planned,
            **counts,
        )
    )
    return lines


@contextlib.contextmanager
def stop_signals(runner: BatchRunner, notify: Any) -> Iterator[None]:
    """SIGINT/SIGTERM: the first stops gracefully, the second aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if runner.stopping:
            runner.abort()
            notify(f"{name} again: giving back every claim and exiting now.")
        else:
            runner.stop()
            notify(
                f"{name}: finishing the running records, taking no new ones ({name} again to quit now)."
            )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
