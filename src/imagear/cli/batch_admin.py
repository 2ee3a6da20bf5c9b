"""`imagear batch failures | status | reset`: the batch's bookkeeping, read from (and, for
reset, written to) image_ar_job; the run itself is in :mod:`imagear.cli.batch`."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start.
from typing import Annotated

import typer

from imagear.cli._common import console, err_console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.cli.batch import JsonOpt, app
from imagear.cli.batch_text import (
    failure_lines,
    failures_count_line,
    failures_more_line,
    progress_lines,
)
from imagear.errors import NotFound, UsageError
from imagear.limits import MAX_COUNT, MAX_ID


@app.command("failures", short_help="List the records whose last attempt failed.")
def failures(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    limit: Annotated[
        int,
        typer.Option(
            help="Show at most N failures (given-up ones first, then by id); 0 shows them all.",
            min=0,
            max=MAX_COUNT,
        ),
    ] = 50,
    offset: Annotated[
        int, typer.Option(help="Skip the first N failures (the next page).", min=0, max=MAX_COUNT)
    ] = 0,
) -> None:
    """Records whose last batch attempt failed: the error, attempts, and the next retry; a page
    at a time (--limit, --offset), with how many there are in all."""
    from imagear.batch import failure_page

    with handle_errors(as_json):
        page = failure_page(get_app(ctx, read_only=True), limit or None, offset)
    if as_json:
        print_json(page)
        return
    if not page.total:
        console.print("No batch failures.")
        return
    for row in page.failures:
        head, error = failure_lines(row)
        style = "red" if row.status == "given_up" else None
        console.print(text(head), style=style or "", soft_wrap=True, highlight=False)
        console.print(text(error), soft_wrap=True, highlight=False)
    more = failures_more_line(page)
    if more:
        console.print(text(more), soft_wrap=True, highlight=False)
    console.print(text(failures_count_line(page)), soft_wrap=True, highlight=False)


@app.command("status", short_help="How the batch is getting on (from the database).")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Records done, to do, running (and by which runner), failed and given up; the rate over
    the run's own window (the records finished in the last ten minutes, first to last) and,
    while a run is going, the time left at it. Read from the database, so it shows runs
    started by cron, by other processes and on other hosts."""
    from imagear.batch import progress

    with handle_errors(as_json):
        now = progress(get_app(ctx, read_only=True))
    if as_json:
        print_json(now)
        return
    for line in progress_lines(now):
        console.print(text(line), soft_wrap=True, highlight=False)


@app.command("reset", short_help="Let failed records be retried by the next run.")
def reset(
    ctx: typer.Context,
    object_id: Annotated[
        list[int] | None,
        typer.Option(
            "--object-id",
            "--id",
            metavar="ID",
            min=1,
            max=MAX_ID,
            help="A record to retry (repeatable).",
        ),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed and given-up record.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Let failed or given-up records be retried by the next run (attempts start again at 0)."""
    from imagear.batch import reset_failures

    with handle_errors(as_json):
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


__all__ = ["failures", "reset", "status"]
