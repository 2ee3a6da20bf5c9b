"""`imagear records add | import | list | show`.

The service, :mod:`imagear.records`, is imported inside each command (it loads the database
layer), so ``import imagear.cli`` stays fast."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from pathlib import Path
from typing import Annotated

import typer

from imagear.cli._common import (
    console,
    err_console,
    get_app,
    handle_errors,
    print_json,
    warn,
)
from imagear.cli._text import text
from imagear.limits import MAX_COUNT, MAX_ID

app = typer.Typer(help="Records and their master images.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("add", short_help="Add one record with IMAGE (or a IIIF image) as its master.")
def add(
    ctx: typer.Context,
    image: Annotated[
        Path | None, typer.Argument(help="Image file to make the new record's master.")
    ] = None,
    iiif: Annotated[
        str | None,
        typer.Option(
            "--iiif",
            metavar="URL",
            help="Instead of IMAGE: a IIIF Image service (base URI or info.json) to take the "
            "master from.",
        ),
    ] = None,
    identifier: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="Reference code (default: the file stem)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Title (default: the file stem).")
    ] = None,
    allow_duplicates: Annotated[
        bool,
        typer.Option("--allow-duplicates", help="Add it even when a record has this identifier."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy IMAGE under the images root and create a record with it as master; prints the id.
    With --iiif URL the master is fetched from a IIIF Image service instead (at the size the
    models need, kept in a cache) and the record names the service.

    When a record already has the identifier, nothing is added: a warning names it and its id
    is printed (as `records import` skips such a row), unless --allow-duplicates.
    """
    from imagear import records as svc
    from imagear.domain import json_object
    from imagear.errors import UsageError

    with handle_errors(as_json):
        if (image is None) == (iiif is None):
            raise UsageError(
                "Give either IMAGE or --iiif URL (one of them).",
                "See `imagear records add --help`.",
            )
        app = get_app(ctx)
        existing = None
        if iiif is not None and identifier and not allow_duplicates:
            existing = svc.find_identifier(app, identifier)
        if existing is not None:
            rec, added = svc.get_record(app, existing), False
        elif iiif is not None:
            rec, added = svc.add_iiif(app, iiif, identifier, title), True
        elif allow_duplicates:
            rec, added = svc.add_record(app, Path(str(image)), identifier, title), True
        else:
            rec, added = svc.add_unless_exists(app, Path(str(image)), identifier, title)
    if not added:
        warn(
            f"A record with the identifier {rec.identifier!r} already exists (record {rec.id}); "
            "nothing was added. Pass --allow-duplicates to add another."
        )
    if as_json:
        print_json({"status": "created" if added else "exists", **json_object(rec)})
    else:
        typer.echo(rec.id)


@app.command("import", short_help="Add many records from an AtoM-style CSV file.")
def import_(
    ctx: typer.Context,
    csv_file: Annotated[
        Path,
        typer.Argument(metavar="CSV", help="AtoM-style CSV: identifier, title, digitalObjectPath."),
    ],
    allow_duplicates: Annotated[
        bool,
        typer.Option(
            "--allow-duplicates", help="Also import rows whose identifier already exists."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import many records; each bad row is reported with its line number, the others go in.

    Rows whose identifier already exists are skipped, so a fixed file can simply be re-run.
    """
    from imagear import records_csv

    with handle_errors(as_json):
        report = records_csv.import_csv(get_app(ctx), csv_file, allow_duplicates)
    if as_json:
        print_json(report)
    else:
        for skip in report.skipped:
            err_console.print(
                text((f"line {skip.line}: skipped:", "yellow"), " ", skip.reason), soft_wrap=True
            )
        for bad in report.errors:
            err_console.print(text((f"line {bad.line}:", "red"), " ", bad.error), soft_wrap=True)
        skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
        console.print(
            f"Imported {len(report.added)} record(s){skipped}, {len(report.errors)} row(s) failed.",
            soft_wrap=True,
        )
    if report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=MAX_COUNT, help="How many to show.")
    ] = 100,
    offset: Annotated[
        int, typer.Option(metavar="N", min=0, max=MAX_COUNT, help="How many to skip.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Records with whether each has a master image and an animation."""
    from imagear import records as svc

    with handle_errors(as_json):
        rows, total = svc.list_records(get_app(ctx, read_only=True), limit, offset)
    if as_json:
        print_json({"total": total, "records": rows})
        return
    from rich.table import Table

    table = Table(caption=f"{len(rows)} of {total} record(s)")
    for name in ("id", "identifier", "title", "master", "animation"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            str(r.id),
            text(r.identifier),
            text(r.title),
            "yes" if r.has_master else "no",
            "yes" if r.has_animation else "no",
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    object_id: Annotated[int, typer.Argument(metavar="ID", help="Record id.", min=1, max=MAX_ID)],
    as_json: JsonOpt = False,
) -> None:
    """One record, its master image and its animation."""
    from imagear import records as svc

    with handle_errors(as_json):
        rec = svc.get_record(get_app(ctx, read_only=True), object_id, check_file=True)
    if as_json:
        print_json(rec)
        return
    console.print(
        text((f"Record {rec.id}", "bold"), "  ", rec.identifier, "  ", rec.title), soft_wrap=True
    )
    if rec.master:
        m = rec.master
        console.print(
            text(
                f"Master image: {m.file}  ({m.mime_type}, {m.byte_size} bytes, usage {m.usage_id})"
            ),
            soft_wrap=True,
        )
    else:
        console.print("Master image: none")
    if rec.animation:
        a = rec.animation
        parts = [a.dimensions or "size unknown"]  # Heratio writes rows without some values
        if a.mp4_fps is not None:
            parts[0] += f" @ {a.mp4_fps} fps"
        if a.mp4_duration_secs is not None:
            parts.append(f"{a.mp4_duration_secs} s")
        parts.append(f"model {a.ai_model or 'unknown'}")
        if a.ai_seed is not None:
            parts.append(f"seed {a.ai_seed}")
        console.print(
            text(f"Animation: {a.mp4_path or '(no video)'}  {', '.join(parts)}"), soft_wrap=True
        )
        from imagear.provenance.disclosure import sentence

        console.print(text(("Disclosure: ", "bold"), sentence(a.ai_model)), soft_wrap=True)
    else:
        console.print("Animation: none")
