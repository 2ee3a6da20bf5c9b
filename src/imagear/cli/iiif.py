"""`imagear iiif export`: the IIIF manifests and collection as static files."""

# No `from __future__ import annotations` (see HACKING.md, CLI start-up).
from pathlib import Path
from typing import Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.limits import MAX_ID

app = typer.Typer(help="IIIF Presentation 3 manifests of the clips.", no_args_is_help=True)


@app.command("export", short_help="Write the IIIF manifests and collection as static files.")
def export(
    ctx: typer.Context,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="Where the files will be published, and where imagear web serves the clips "
            "(/image-ar/ID/video), e.g. https://archive.example.org.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write into.")],
    object_id: Annotated[
        int | None,
        typer.Option("--object-id", min=1, max=MAX_ID, help="Only this record's manifest."),
    ] = None,
    all_records: Annotated[
        bool, typer.Option("--all", help="Every manifest and the collection's pages.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write {DIR}/iiif/{id}/manifest.json for the records a guest may see, and with --all
    {DIR}/iiif/collection.json and its pages: the documents `imagear web` serves at /iiif/."""
    from imagear.domain import to_json
    from imagear.errors import UsageError
    from imagear.iiif import export as svc
    from imagear.iiif.service import site_of

    with handle_errors(as_json):
        if (object_id is None) == (not all_records):
            raise UsageError("Give either --object-id N or --all.")
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"--base-url must be an http(s) URL, not {base_url!r}.")
        app = get_app(ctx)
        site = site_of(app, base_url)
        if object_id is not None:
            report = svc.export_one(app, site, out, object_id)
        else:
            report = svc.export_all(app, site, out)
    if as_json:
        print_json(to_json(report))
        return
    console.print(
        text(
            f"Wrote {len(report.manifests)} manifest(s) and {report.pages} collection page(s) "
            f"under {report.out}."
        )
    )
    if report.skipped:
        console.print(text(f"Skipped (clip file missing): {report.skipped}"))
