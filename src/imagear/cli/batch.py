"""`imagear batch [OPTIONS]`, `imagear batch failures`, `imagear batch reset`.

The service is :mod:`imagear.batch`; this module parses options, runs it and prints a summary
(or one JSON object with ``--json``). The SIGINT/SIGTERM handlers (first signal: finish running
records, give back the rest, exit 130; second: give back everything and exit at once) and the
progress display (a Rich bar on a terminal, one log line per record otherwise, for cron) are in
:mod:`imagear.cli._batch_render`; the wording of results is in :mod:`imagear.cli.batch_text`.
The service and the progress display are imported when a command runs, not at start-up.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagear.cli import gen_options as gen
from imagear.cli._common import (
    LazyConsole,
    Said,
    console,
    err_console,
    error_lines,
    freeze_loaded,
    get_app,
    handle_errors,
    is_tty,
    print_json,
)
from imagear.cli._text import text
from imagear.cli.batch_text import (
    NAMED_ADVICE,
    given_back_line,
    given_up_earlier_note,
    given_up_lines,
    item_line,
    named_json,
    named_message,
    nothing_to_do_line,
    stamp,
    waiting_line,
)
from imagear.cli.wording import CLI, advice_of
from imagear.errors import Failure, ImagearError, NotFound, Refused, UsageError
from imagear.limits import MAX_COUNT, MAX_ID

MAX_WAIT_SECS = 30 * 86400.0  # backoffs and leases: 30 days (a larger timedelta overflows)
MAX_CONCURRENCY = 256

if TYPE_CHECKING:  # the service loads the database layer: imported when a command runs
    from imagear.batch import BatchSummary, NamedSkip, Preview

# The defaults of imagear.batch (DEFAULT_MAX_ATTEMPTS, DEFAULT_BACKOFF_SECS,
# DEFAULT_BACKOFF_CAP_SECS), repeated here so `--help` does not load the service;
# tests/test_startup_cli.py checks that they agree.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECS = 300.0
DEFAULT_BACKOFF_CAP_SECS = 6 * 3600.0

_EXIT_CODES = """Exit codes:

\b
  0    nothing failed (also: nothing to do)
  1    a record failed or was given up in this run
  2    a bad option or setting (--limit 0, --frames 99 for svd)
  3    not found: an unknown --model, a named record that does not exist
       or has no master image
  4    refused: ar_enabled is off
  5    the server is down, refuses the credentials or lacks the model
  6    the model cannot run here
  130  interrupted"""

app = typer.Typer(
    help="Animate every record with a master image and no animation (or --all of them).\n\n"
    "Records are claimed in the database, so several cron entries or hosts can run this at "
    "once, and a stopped or killed run is picked up by the next. Failures are retried by later "
    "runs with a growing wait and given up after --max-attempts (see `imagear batch "
    "failures`). --dry-run runs the same checks first and lists what would be animated.\n\n"
    + _EXIT_CODES,
    short_help="Animate every record that has no clip yet (cron-safe).",
    invoke_without_command=True,
    no_args_is_help=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _as_utc(value: datetime | None) -> datetime | None:
    """--since as aware UTC: a time without a zone is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _prefix(stamped: bool) -> str:
    """The timestamp that starts every line of a run's log (not on a terminal)."""
    return f"{stamp()} " if stamped else ""


def _print_stop(summary: "BatchSummary", stamped: bool) -> None:
    """The reason a run stopped early, on stderr (with --json too), timestamped in a log."""
    if summary.stopped is not None:
        error_lines(summary.stopped.message, advice_of(summary.stopped), _prefix(stamped))


def _errors(as_json: bool, stamped: bool, dry_run: bool = False) -> "AbstractContextManager[None]":
    """handle_errors() for a batch run: the error line is timestamped in a log, as every other
    line of the run, and a dry run says that the real run would stop the same way."""

    def reword(s: Said, err: ImagearError) -> Said:
        how = "be refused" if isinstance(err, Refused) else "stop before any record"
        return replace(s, message=f"dry run: the real run would {how}: {s.message}")

    return handle_errors(
        as_json,
        prefix=lambda: _prefix(stamped),
        wrap={"dry_run": True} if dry_run else None,
        reword=reword if dry_run else None,
    )


def _print_named(named: "list[NamedSkip]", out: LazyConsole) -> None:
    """Named records the run did not take, and why, one line each: a record that does not
    exist (or has no master image) is an error (exit 3), said on stderr with what to do."""
    for n in named:
        if n.not_found:
            error_lines(named_message(n), NAMED_ADVICE.get(n.reason), f"{stamp()} ")
            continue
        out.print(text(f"{stamp()} {named_message(n)}"), soft_wrap=True, highlight=False)


def _print_summary(summary: "BatchSummary", max_attempts: int, aborted: bool = False) -> None:
    d = summary.report()
    _print_named(summary.named, console)
    earlier = given_up_earlier_note(summary)
    if summary.planned == 0 and not summary.results:
        if summary.stopped is None and not summary.named:
            console.print(
                text(f"{stamp()} {nothing_to_do_line(summary)}"), soft_wrap=True, highlight=False
            )
    else:
        parts = [
            f"{d.done} done",
            f"{d.skipped} skipped",
            f"{d.failed} failed",
            f"{d.given_up} given up",
        ]
        if d.released:
            parts.append(f"{d.released} given back")
        console.print(
            f"{stamp()} batch {summary.runner}: {', '.join(parts)} "
            f"in {summary.elapsed_secs:.1f} s{earlier}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for r in summary.failures:
        console.print(text(f"  {item_line(r, max_attempts)}"), soft_wrap=True)
    if summary.planned or summary.results:  # else the nothing-to-do line said it
        for line in (given_back_line(summary), waiting_line(summary)):
            if line:
                console.print(text(f"  {line}"), soft_wrap=True, highlight=False)
    if summary.interrupted:
        what = "records in progress were given back" if aborted else "running records finished"
        err_console.print(f"[yellow]Interrupted[/]: {what}; the rest wait for the next run.")
    for line in given_up_lines(summary):
        console.print(text(line), highlight=False, soft_wrap=True)


def _print_plan(preview: "Preview", as_json: bool) -> None:
    if as_json:
        print_json(preview.report([named_json(n) for n in preview.named]))
        return
    _print_named(preview.named, console)
    rows = preview.rows
    if not rows:
        if not preview.named:
            console.print("Nothing would be animated.")
        return
    shown = f"{len(rows)} record(s)"
    if preview.total > len(rows):
        why = f"--limit {preview.limit}" if preview.limit else "the first ones; --limit N lists N"
        shown = f"{len(rows)} of the {preview.total} record(s) to do ({why})"
    from rich.table import Table

    table = Table(caption=f"{shown} would be animated (dry run: nothing changed)")
    for name in ("record", "identifier", "title", "state", "attempts"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            str(r.object_id),
            text(r.identifier),
            text(r.title),
            str(r.status),
            str(r.attempts),
        )
    console.print(table)


@app.callback()
def batch(
    ctx: typer.Context,
    only_missing: Annotated[
        bool,
        typer.Option(
            "--only-missing/--all",
            help="Only records without an animation (default), or all (re-animate, replacing; a clip a curator approved in `imagear web` is kept unless named).",
        ),
    ] = True,
    object_ids_file: Annotated[
        Path | None,
        typer.Option(
            "--object-ids",
            metavar="FILE",
            help="File of record ids: one per line (# comments, blank lines ignored) or a "
            "JSON list.",
        ),
    ] = None,
    object_id: Annotated[
        list[int] | None,
        typer.Option(
            "--object-id", "--id", metavar="ID", min=1, max=MAX_ID, help="A record id (repeatable)."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", metavar="N", min=1, max=MAX_COUNT, help="At most this many records this run."
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-j",
            metavar="N",
            min=1,
            max=MAX_CONCURRENCY,
            help="Generations at the server at once (its slots).",
        ),
    ] = 1,
    model: gen.ModelOpt = None,
    prompt: gen.PromptOpt = None,
    frames: gen.FramesOpt = None,
    fps: gen.FpsOpt = None,
    motion: gen.MotionOpt = None,
    seed: gen.SeedOpt = None,
    width: gen.WidthOpt = None,
    height: gen.HeightOpt = None,
    option: gen.OptionPairs = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            metavar="TIME",
            help="With --all: skip records this batch animated at or after this time (UTC "
            "unless it says otherwise); resumes a stopped --all run. Default: when the run starts.",
        ),
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            max=MAX_COUNT,
            help="Give a record up after this many failed attempts.",
        ),
    ] = DEFAULT_MAX_ATTEMPTS,
    backoff_secs: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0,
            max=MAX_WAIT_SECS,
            help="Wait before the first retry; doubles per attempt.",
        ),
    ] = DEFAULT_BACKOFF_SECS,
    backoff_cap_secs: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0,
            max=MAX_WAIT_SECS,
            help="Longest wait between retries (and the wait after a usage error).",
        ),
    ] = DEFAULT_BACKOFF_CAP_SECS,
    lease_secs: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            max=MAX_WAIT_SECS,
            help="How long a claim lasts without a heartbeat (default: 120; the heartbeat "
            "renews it every sixth of it, at most every 20 s).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be animated; change nothing.")
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="At the end, write the run's figures to this file in node-exporter's "
            "textfile format (atomically: a temp file, then a rename).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="For cron: print nothing when nothing failed (also: nothing to do); else "
            "only the summary (failures, records waiting for a retry and when).",
        ),
    ] = False,
    log_format: Annotated[
        str,
        typer.Option(help="The run's log on stderr: text (timestamped lines) or json (objects)."),
    ] = "text",
) -> None:
    """Animate every record that has a master image and no animation (or --all of them).

    Records are claimed in the database, so several cron entries or hosts can run this at
    once without animating a record twice; a stopped or killed run is picked up by the next
    one. Failures are retried by later runs with a growing wait, and given up after
    --max-attempts (see `imagear batch failures`). The exit codes are in the group's help.
    """
    if ctx.invoked_subcommand is not None:
        return
    from imagear.batch import BatchOptions, BatchRunner, read_ids_file
    from imagear.cli._batch_render import Reporter, json_summary, stop_signals
    from imagear.logs import log_format_name

    json_log = log_format.strip().lower() == "json"
    fancy = is_tty() and not as_json and not json_log  # else a log: lines start with the time
    with _errors(as_json, not fancy):
        log_format_name(log_format)  # text or json, else exit 2
        ids: list[int] | None = None
        if object_ids_file is not None or object_id:
            ids = read_ids_file(object_ids_file) if object_ids_file is not None else []
            ids = list(dict.fromkeys([*ids, *(object_id or [])]))
        if since is not None and only_missing:
            raise UsageError("--since only makes sense with --all.")
        if quiet and (as_json or dry_run):
            raise UsageError("--quiet goes with a real run's text output, not --json or --dry-run.")
        if metrics_file is not None and not metrics_file.parent.is_dir():
            raise NotFound(f"--metrics-file: there is no folder {metrics_file.parent}.")
        overrides, extra = gen.generation_values(
            option, frames, fps, motion, seed, prompt, width, height
        )
        options = BatchOptions(
            only_missing=only_missing,
            object_ids=ids,
            limit=limit,
            concurrency=concurrency,
            model=model,
            overrides=overrides,
            extra=extra,
            since=_as_utc(since),
            lease_secs=lease_secs,
            max_attempts=max_attempts,
            backoff_secs=backoff_secs,
            backoff_cap_secs=backoff_cap_secs,
            wording=CLI,
        )
        runner = BatchRunner(get_app(ctx, read_only=dry_run), options)
    if dry_run:
        with _errors(as_json, not fancy, dry_run=True):
            preview = runner.preview()
        _print_plan(preview, as_json)
        raise typer.Exit(preview.exit_code)
    out = err_console if as_json or json_log else console
    shown = out.real
    if quiet:  # no progress lines: cron mails only the summary of a run that went wrong
        from io import StringIO

        from rich.console import Console

        fancy, shown = False, Console(file=StringIO())
    reporter = Reporter(fancy, shown, max_attempts, json_log)
    runner.events = reporter
    freeze_loaded()  # the run's garbage collections skip the modules loaded by now
    try:
        with _errors(as_json, not fancy), stop_signals(runner, reporter.notice):
            summary = runner.run()
    finally:
        reporter.close()
    if metrics_file is not None:
        from imagear.metrics import write_batch_metrics

        with _errors(as_json, not fancy):
            try:
                write_batch_metrics(metrics_file, summary)
            except OSError as exc:
                raise Failure(f"Could not write --metrics-file {metrics_file}: {exc}") from exc
    if quiet and summary.exit_code == 0:
        pass  # nothing failed (or nothing to do): silence, so cron sends no mail
    elif json_log:  # the run's log as JSON lines on stderr, the --json report (if any) on stdout
        for line in json_summary(summary):
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        if as_json:
            print_json(summary.report([named_json(n) for n in summary.named]))
    elif as_json:
        _print_stop(summary, not fancy)
        _print_named(summary.named, err_console)
        print_json(summary.report([named_json(n) for n in summary.named]))
    else:
        _print_stop(summary, not fancy)
        _print_summary(summary, max_attempts, runner.aborted)
    if runner.aborted:  # workers may still be blocked on the network: leave now
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(summary.exit_code)
    raise typer.Exit(summary.exit_code)


__all__ = ["app"]
