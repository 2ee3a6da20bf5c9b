"""`imagear check`: re-audit stored clips with the quality gate, one line per problem.

The service, :mod:`imagear.audit`, is imported inside the command (it loads the database layer,
numpy and PyAV), so ``import imagear.cli`` stays fast.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from typing import Annotated

import typer

from imagear.cli._common import console, err_console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.limits import MAX_ID

EXIT_PROBLEMS = 7
"""Exit code when any clip fails the audit (QualityRejected's, imagear.errors)."""

ObjectIdsOpt = Annotated[
    list[int] | None,
    typer.Option(
        "--object-id",
        "--id",
        help="A record whose clip to check (repeat for several).",
        metavar="N",
        min=1,
        max=MAX_ID,
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Check every stored clip.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def check(
    ctx: typer.Context,
    object_id: ObjectIdsOpt = None,
    check_all: AllOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-check stored clips: the file exists and every frame decodes, and the quality gate's
    checks (black, blank, frozen, not of the master image, not what the row records) pass.

    One line per problem; exit 0 when every clip passes, 7 when any fails. Changes nothing.
    """
    from imagear.audit import audit_clips
    from imagear.errors import UsageError

    with handle_errors(as_json):
        if not object_id and not check_all:
            raise UsageError(
                "Name the clips to check with --object-id N (repeatable), or pass --all.",
                "e.g. imagear check --all",
            )
        audits = audit_clips(get_app(ctx, read_only=True), None if check_all else object_id)
        checked = failed = 0
        results = []
        for audit in audits:
            checked += 1
            failed += 0 if audit.ok else 1
            if as_json:
                results.append(audit)
                continue
            where = audit.file.name if audit.file else "-"
            for problem in audit.problems:
                console.print(
                    text(f"record {audit.object_id}: {where}: {problem['message']}"),
                    soft_wrap=True,
                )
    if as_json:
        print_json({"checked": checked, "failed": failed, "clips": results})
    else:
        summary = f"Checked {checked} clip{'s' if checked != 1 else ''}: "
        summary += f"{failed} failed." if failed else "all pass."
        err_console.print(text(summary), soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_PROBLEMS)
