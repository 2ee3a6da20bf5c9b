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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from imagear.cli import animate as animate_cli
from imagear.cli._common import (
    LazyConsole,
    console,
    err_console,
    get_app,
    handle_errors,
    is_tty,
    print_json,
)
from imagear.cli.batch_text import (
    failure_lines,
    failures_count_line,
    given_up_earlier_note,
    given_up_lines,
    item_line,
    stamp,
)
from imagear.cli.models import OptionPairs, parse_options
from imagear.errors import ImagearError, NotFound, Refused, UsageError

if TYPE_CHECKING:  # the service loads the database layer: imported when a command runs
    from imagear.batch import BatchSummary, NamedSkip, Preview

# The defaults of imagear.batch (DEFAULT_MAX_ATTEMPTS, DEFAULT_BACKOFF_SECS,
# DEFAULT_BACKOFF_CAP_SECS), repeated here so `--help` does not load the service;
# tests/test_startup_cli.py checks that they agree.
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECS = 300.0
DEFAULT_BACKOFF_CAP_SECS = 6 * 3600.0

_EXIT_CODES = (
    "Exit 0: nothing failed (also: nothing to do); 1: a record failed or was given up in "
    "this run; 2: a bad option or setting (--limit 0, --frames 99 for svd); 3: not found (an "
    "unknown --model, a named record that does not exist or has no master image); 4: refused "
    "(ar_enabled or ar_user_button is off); 5: the server is down, refuses the credentials or "
    "lacks the model; 6: the model cannot run here; 130: interrupted."
)

app = typer.Typer(
    help="Animate every record with a master image and no animation (or --all of them). "
    "Records are claimed in the database, so several cron entries or hosts can run this at "
    "once, and a stopped or killed run is picked up by the next. Failures are retried by later "
    "runs with a growing wait and given up after --max-attempts (see `imagear batch "
    "failures`). " + _EXIT_CODES,
    invoke_without_command=True,
    no_args_is_help=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _as_utc(value: datetime | None) -> datetime | None:
    """--since as aware UTC: a time without a zone is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _print_stop(summary: "BatchSummary") -> None:
    """The reason a run stopped early, on stderr (with --json too)."""
    if summary.stopped is not None:
        err = summary.stopped
        err_console.print(f"[bold red]Error:[/] {err.message}", soft_wrap=True, highlight=False)
        if err.advice:
            err_console.print(f"  {err.advice}", soft_wrap=True, markup=False, highlight=False)


def _print_named(named: "list[NamedSkip]", out: LazyConsole) -> None:
    """Named records the run did not take, and why, one line each."""
    for n in named:
        out.print(
            f"{stamp()} {n.message}",
            style="red" if n.not_found else None,
            markup=False,
            soft_wrap=True,
            highlight=False,
        )


def _print_summary(summary: "BatchSummary", max_attempts: int, aborted: bool = False) -> None:
    d = summary.as_dict()
    _print_named(summary.named, console)
    earlier = given_up_earlier_note(summary)
    if summary.planned == 0 and not summary.results:
        if summary.stopped is None and not summary.named:
            console.print(
                f"{stamp()} Nothing to do: no record needs an animation now.{earlier}",
                markup=False,
                soft_wrap=True,
            )
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
            f"{stamp()} batch {summary.runner}: {', '.join(parts)} "
            f"in {summary.elapsed_secs:.1f} s{earlier}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for r in summary.failures:
        console.print(f"  {item_line(r, max_attempts)}", markup=False, soft_wrap=True)
    if summary.interrupted:
        what = "records in progress were given back" if aborted else "running records finished"
        err_console.print(f"[yellow]Interrupted[/]: {what}; the rest wait for the next run.")
    for line in given_up_lines(summary):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_plan(preview: "Preview", as_json: bool) -> None:
    if as_json:
        print_json(preview.as_dict())
        return
    _print_named(preview.named, console)
    rows = preview.rows
    if not rows:
        if not preview.named:
            console.print("Nothing would be animated.")
        return
    shown = f"{len(rows)} record(s)"
    if preview.total > len(rows):
        shown = f"{len(rows)} of the {preview.total} record(s) to do (--limit {preview.limit})"
    from rich.table import Table

    table = Table(caption=f"{shown} would be animated (dry run: nothing changed)")
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


def _dry_run_refused(err: ImagearError) -> NoReturn:
    """The pre-flight of a dry run failed: say that the real run would stop the same way."""
    how = "be refused" if isinstance(err, Refused) else "stop before any record"
    err_console.print(
        f"[bold red]Error:[/] dry run: the real run would {how}: {err.message}",
        soft_wrap=True,
        highlight=False,
    )
    if err.advice:
        err_console.print(f"  {err.advice}", soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(err.exit_code)


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
        int | None, typer.Option("--limit", min=1, help="At most this many records this run.")
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
    --max-attempts (see `imagear batch failures`). The exit codes are in the group's help.
    """
    if ctx.invoked_subcommand is not None:
        return
    from imagear.batch import BatchOptions, BatchRunner, read_ids_file
    from imagear.cli._batch_render import Reporter, stop_signals

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
            since=_as_utc(since),
            lease_secs=lease_secs,
            max_attempts=max_attempts,
            backoff_secs=backoff_secs,
            backoff_cap_secs=backoff_cap_secs,
        )
        runner = BatchRunner(get_app(ctx), options)
        if dry_run:
            try:
                preview = runner.preview()
            except ImagearError as err:
                _dry_run_refused(err)
            _print_plan(preview, as_json)
            raise typer.Exit(preview.exit_code)
    fancy = is_tty() and not as_json
    out = err_console if as_json else console
    reporter = Reporter(fancy, out.real, max_attempts)
    runner.events = reporter
    try:
        with handle_errors(), stop_signals(runner, reporter.notice):
            summary = runner.run()
    finally:
        reporter.close()
    _print_stop(summary)
    if as_json:
        _print_named(summary.named, err_console)
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
    from imagear.batch import list_failures

    with handle_errors():
        rows = list_failures(get_app(ctx))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No batch failures.")
        return
    for row in rows:
        head, error = failure_lines(row)
        style = "red" if row["status"] == "given_up" else None
        console.print(head, style=style, markup=False, soft_wrap=True, highlight=False)
        console.print(error, markup=False, soft_wrap=True, highlight=False)
    console.print(failures_count_line(rows), markup=False, soft_wrap=True, highlight=False)


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
    from imagear.batch import reset_failures

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
