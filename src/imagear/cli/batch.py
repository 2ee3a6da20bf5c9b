"""`imagear batch [OPTIONS]`, `imagear batch failures`, `imagear batch reset`.

The service is :mod:`imagear.batch`; this module parses options, installs the SIGINT/SIGTERM
handlers (first signal: finish running records, give back the rest, exit 130; second: give
back everything and exit at once) and renders progress: a Rich bar on a terminal, one log line
per record otherwise (cron), and a summary (or one JSON object with ``--json``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
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
from rich.table import Table

from imagear.batch import (
    DEFAULT_BACKOFF_CAP_SECS,
    DEFAULT_BACKOFF_SECS,
    DEFAULT_MAX_ATTEMPTS,
    BatchEvents,
    BatchOptions,
    BatchRunner,
    BatchSummary,
    ItemResult,
    list_failures,
    read_ids_file,
    reset_failures,
)
from imagear.batch_jobs import as_utc
from imagear.cli import animate as animate_cli
from imagear.cli._common import console, err_console, get_app, handle_errors, is_tty, print_json
from imagear.cli.models import OptionPairs, parse_options
from imagear.errors import NotFound, UsageError

app = typer.Typer(
    help="Animate every record with a master image and no animation (or --all of them). "
    "Records are claimed in the database, so several cron entries or hosts can run this at "
    "once, and a stopped or killed run is picked up by the next. Failures are retried by later "
    "runs with a growing wait and given up after --max-attempts (see `imagear batch "
    "failures`). Exit 0: nothing failed; 1: a record failed; 2: bad options; 5: the server is "
    "down or lacks the model; 130: interrupted.",
    invoke_without_command=True,
    no_args_is_help=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _item_line(r: ItemResult, max_attempts: int) -> str:
    line = f"record {r.object_id} {r.outcome} {r.secs:.2f}s"
    if r.error:
        line += f" {r.error_kind}: {r.error}" if r.error_kind else f" ({r.error})"
    if r.outcome == "failed":
        line += f" (attempt {r.attempts}/{max_attempts}, retry after {_when(r.retry_at)})"
    elif r.outcome == "given_up":
        line += f" (attempt {r.attempts}/{max_attempts}: given up)"
    for notice in r.notices:
        line += f" [{notice}]"
    return line


class _Reporter(BatchEvents):
    """A progress bar for a person, or one timestamped line per record for a log."""

    def __init__(self, fancy: bool, out: Console, max_attempts: int) -> None:
        self.fancy = fancy
        self.out = out
        self.max_attempts = max_attempts
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.progress: Progress | None = None
        self.task: Any = None

    def _print(self, text: str, style: str | None = None) -> None:
        target = self.progress.console if self.progress is not None else self.out
        if self.fancy:
            target.print(text, style=style, markup=False, soft_wrap=True, highlight=False)
        else:
            target.print(f"{_stamp()} {text}", markup=False, soft_wrap=True, highlight=False)

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
                self._print(_item_line(result, self.max_attempts))
            return
        if result.outcome in ("failed", "given_up") or result.notices:
            self._print(_item_line(result, self.max_attempts), "red" if key == "failed" else None)
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


@contextlib.contextmanager
def _signals(runner: BatchRunner, notify: Any) -> Iterator[None]:
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


def _print_stop(summary: BatchSummary) -> None:
    """The reason a run stopped early, on stderr (with --json too)."""
    if summary.stopped is not None:
        err = summary.stopped
        err_console.print(f"[bold red]Error:[/] {err.message}", soft_wrap=True, highlight=False)
        if err.advice:
            err_console.print(f"  {err.advice}", soft_wrap=True, markup=False, highlight=False)


def _print_summary(summary: BatchSummary, max_attempts: int, aborted: bool = False) -> None:
    d = summary.as_dict()
    if summary.planned == 0 and not summary.results:
        if summary.stopped is None:
            console.print(f"{_stamp()} Nothing to do: no record needs an animation now.")
    else:
        parts = [
            f"{d['done']} done",
            f"{d['skipped']} skipped",
            f"{d['failed']} failed",
            f"{d['given_up']} given up",
        ]
        if d["released"]:
            parts.append(f"{d['released']} given back")
        console.print(
            f"{_stamp()} batch {summary.runner}: {', '.join(parts)} "
            f"in {summary.elapsed_secs:.1f} s",
            highlight=False,
            soft_wrap=True,
        )
    for r in summary.failures:
        console.print(f"  {_item_line(r, max_attempts)}", markup=False, soft_wrap=True)
    if summary.interrupted:
        what = "records in progress were given back" if aborted else "running records finished"
        err_console.print(f"[yellow]Interrupted[/]: {what}; the rest wait for the next run.")
    if summary.given_up_total:
        console.print(
            f"{summary.given_up_total} record(s) are given up and no longer retried: "
            "see `imagear batch failures`, retry with `imagear batch reset --all-failed`.",
            highlight=False,
            soft_wrap=True,
        )


def _print_plan(rows: list[dict[str, Any]], limit: int | None, as_json: bool) -> None:
    if as_json:
        print_json({"dry_run": True, "count": len(rows), "limit": limit, "records": rows})
        return
    table = Table(caption=f"{len(rows)} record(s) would be animated (dry run: nothing changed)")
    for name in ("record", "identifier", "title", "state", "attempts"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["object_id"]),
            r["identifier"] or "",
            r["title"] or "",
            str(r["status"]),
            str(r["attempts"]),
        )
    console.print(table)


@app.callback()
def batch(
    ctx: typer.Context,
    only_missing: Annotated[
        bool,
        typer.Option(
            "--only-missing/--all",
            help="Only records without an animation (default), or all (re-animate, replacing).",
        ),
    ] = True,
    object_ids_file: Annotated[
        Path | None,
        typer.Option(
            "--object-ids",
            help="File of record ids: one per line (# comments, blank lines ignored) or a "
            "JSON list.",
        ),
    ] = None,
    object_id: Annotated[
        list[int] | None,
        typer.Option("--object-id", "--id", min=1, help="A record id (repeatable)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="At most this many records this run.")
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", min=1, help="Generations at the server at once (its slots)."
        ),
    ] = 1,
    model: animate_cli.ModelOpt = None,
    prompt: animate_cli.PromptOpt = None,
    frames: animate_cli.FramesOpt = None,
    fps: animate_cli.FpsOpt = None,
    motion: animate_cli.MotionOpt = None,
    seed: animate_cli.SeedOpt = None,
    width: animate_cli.WidthOpt = None,
    height: animate_cli.HeightOpt = None,
    option: OptionPairs = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="With --all: skip records this batch animated at or after this time (UTC "
            "unless it says otherwise); resumes a stopped --all run. Default: when the run starts.",
        ),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Give a record up after this many failed attempts.")
    ] = DEFAULT_MAX_ATTEMPTS,
    backoff_secs: Annotated[
        float, typer.Option(min=0, help="Wait before the first retry; doubles per attempt.")
    ] = DEFAULT_BACKOFF_SECS,
    backoff_cap_secs: Annotated[
        float,
        typer.Option(
            min=0, help="Longest wait between retries (and the wait after a usage error)."
        ),
    ] = DEFAULT_BACKOFF_CAP_SECS,
    lease_secs: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="How long a claim lasts without a heartbeat "
            "(default: max(2 x ar_request_timeout, 600)).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be animated; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Animate every record that has a master image and no animation (or --all of them).

    Records are claimed in the database, so several cron entries or hosts can run this at
    once without animating a record twice; a stopped or killed run is picked up by the next
    one. Failures are retried by later runs with a growing wait, and given up after
    --max-attempts (see `imagear batch failures`). Exit 0 when nothing failed, 1 when some
    record failed, 5 when the server is down, 130 when interrupted.
    """
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors():
        ids: list[int] | None = None
        if object_ids_file is not None or object_id:
            ids = read_ids_file(object_ids_file) if object_ids_file is not None else []
            ids = list(dict.fromkeys([*ids, *(object_id or [])]))
        if since is not None and only_missing:
            raise UsageError("--since only makes sense with --all.")
        extra: dict[str, Any] = dict(parse_options(option))
        overrides = animate_cli._overrides(frames, fps, motion, seed, prompt, width, height, extra)
        options = BatchOptions(
            only_missing=only_missing,
            object_ids=ids,
            limit=limit,
            concurrency=concurrency,
            model=model,
            overrides=overrides,
            extra=extra,
            since=as_utc(since),
            lease_secs=lease_secs,
            max_attempts=max_attempts,
            backoff_secs=backoff_secs,
            backoff_cap_secs=backoff_cap_secs,
        )
        runner = BatchRunner(get_app(ctx), options)
        if dry_run:
            _print_plan(runner.plan(), limit, as_json)
            return
    fancy = is_tty() and not as_json
    out = err_console if as_json else console
    reporter = _Reporter(fancy, out, max_attempts)
    runner.events = reporter
    try:
        with handle_errors(), _signals(runner, reporter.notice):
            summary = runner.run()
    finally:
        reporter.close()
    _print_stop(summary)
    if as_json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary, max_attempts, runner.aborted)
    if runner.aborted:  # workers may still be blocked on the network: leave now
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(summary.exit_code)
    raise typer.Exit(summary.exit_code)


@app.command("failures")
def failures(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Records whose last batch attempt failed: the error, attempts, and the next retry."""
    with handle_errors():
        rows = list_failures(get_app(ctx))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No batch failures.")
        return
    given_up = sum(1 for r in rows if r["status"] == "given_up")
    table = Table(
        caption=f"{len(rows)} failure(s), {given_up} given up "
        "(retry them with `imagear batch reset --all-failed`)"
    )
    for name in ("record", "identifier", "state", "attempts", "kind"):
        table.add_column(name, no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    table.add_column("next try", no_wrap=True)
    for r in rows:
        state = {"given_up": "[red]given up[/]", "pending": "next run"}.get(r["status"], "retry")
        next_try = "never" if r["status"] == "given_up" else _when(r["next_attempt_at"])
        table.add_row(
            str(r["object_id"]),
            r["identifier"] or "",
            state,
            str(r["attempts"]),
            r["error_kind"] or "",
            r["error"] or "",
            "next run" if r["status"] == "pending" else next_try,
        )
    console.print(table)


@app.command("reset")
def reset(
    ctx: typer.Context,
    object_id: Annotated[
        list[int] | None,
        typer.Option("--object-id", "--id", min=1, help="A record to retry (repeatable)."),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed and given-up record.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Let failed or given-up records be retried by the next run (attempts start again at 0)."""
    with handle_errors():
        if bool(object_id) == all_failed:
            raise UsageError(
                "Give either --object-id N (repeatable) or --all-failed.",
                "See them with `imagear batch failures`.",
            )
        done = reset_failures(get_app(ctx), None if all_failed else object_id)
        missing = sorted(set(object_id or []) - set(done))
        if object_id and not done:
            raise NotFound(
                f"No batch failure to reset for record(s) {', '.join(map(str, missing))}.",
                "See them with `imagear batch failures`.",
            )
    if as_json:
        print_json({"reset": done, "not_failures": missing})
        return
    console.print(
        f"Reset {len(done)} record(s){': ' + ', '.join(map(str, done)) if done else ''}; "
        "the next `imagear batch` retries them.",
        highlight=False,
    )
    for oid in missing:
        err_console.print(f"[yellow]Warning:[/] record {oid} is not a batch failure; left alone.")


__all__ = ["app"]
