"""`imagear audit`: the web console's audit trail (who generated, approved, rejected, deleted,
changed settings or users, and when), newest first. (`imagear check` re-audits clips; its
module is cli/check.py.)"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from typing import Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.limits import MAX_COUNT, MAX_ID


def audit(
    ctx: typer.Context,
    object_id: Annotated[
        int | None,
        typer.Option(
            "--object-id", metavar="ID", min=1, max=MAX_ID, help="Only the actions on this record."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=MAX_COUNT, help="How many, newest first.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who did what in the web console, and when (newest first)."""
    from imagear import auditlog

    with handle_errors(as_json):
        entries = auditlog.entries(get_app(ctx, read_only=True), object_id, limit)
    if as_json:
        print_json({"entries": entries})
        return
    from rich.table import Table

    table = Table(caption=f"{len(entries)} action(s)")
    for column in ("when (UTC)", "user", "role", "action", "record", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e.at.isoformat(timespec="seconds"),
            text(e.user),
            e.role,
            e.action,
            "" if e.object_id is None else str(e.object_id),
            text(e.detail),
        )
    console.print(table)
