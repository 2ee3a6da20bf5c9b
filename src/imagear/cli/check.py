"""`imagear check`: re-audit stored clips with the quality gate, one line per problem;
`imagear check --repair [--yes]`: the files in record folders no row names, removed only with
--yes.

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
EXIT_NOT_FOUND = 3
"""Exit code when the only problems are named records that do not exist or have no clip
(README: 3 is not found)."""

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
RepairOpt = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="List the clips, posters and previews in record folders that no row names "
        "(with --object-id: those records' folders); nothing is removed without --yes.",
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option(
        "--yes",
        help="With --repair: remove the files listed (never one younger than an hour).",
    ),
]
REPAIR_HINT = "`imagear check --repair` lists what it would remove"


def check(
    ctx: typer.Context,
    object_id: ObjectIdsOpt = None,
    check_all: AllOpt = False,
    as_json: JsonOpt = False,
    repair: RepairOpt = False,
    yes: YesOpt = False,
) -> None:
    """Re-check stored clips: the file exists and every frame decodes, and the quality gate's
    checks (black, blank, frozen, not of the master image, not what the row records) pass,
    and a clip's Content Credentials still match its bytes. Files in the record folders that no row names are reported too.

    One line per problem; exit 0 when every clip passes, 7 when any fails, 3 when the only
    problems are named records that do not exist or have no clip. Changes nothing,
    but with --repair --yes, which removes the files no row names.
    """
    from imagear.audit import audit_clips, leftovers
    from imagear.errors import UsageError

    if repair:
        run_repair(ctx, object_id, yes, as_json)
        return
    with handle_errors(as_json):
        if yes:
            raise UsageError("--yes goes with --repair.", "e.g. imagear check --repair --yes")
        if not object_id and not check_all:
            raise UsageError(
                "Name the clips to check with --object-id N (repeatable), or pass --all.",
                "e.g. imagear check --all",
            )
        app = get_app(ctx, read_only=True)
        audits = audit_clips(app, None if check_all else object_id)
        checked = failed = missing = 0
        results = []
        for audit in audits:
            checked += 1
            failed += 0 if audit.ok else 1
            missing += 1 if audit.problems and _not_found(audit.problems) else 0
            if as_json:
                results.append(audit)
                continue
            where = audit.file.name if audit.file else "-"
            for problem in audit.problems:
                console.print(
                    text(f"record {audit.object_id}: {where}: {problem['message']}"),
                    soft_wrap=True,
                )
        left = leftovers(app, None if check_all else object_id)
        for item in left if not as_json else []:
            console.print(
                text(f"record {item.object_id}: {item.file.name}: {item.reason}; {REPAIR_HINT}"),
                soft_wrap=True,
            )
    if as_json:
        print_json(
            {
                "checked": checked,
                "failed": failed,
                "clips": results,
                "leftovers": left,
            }
        )
    else:
        summary = f"Checked {checked} clip{'s' if checked != 1 else ''}: "
        summary += f"{failed} failed." if failed else "all pass."
        err_console.print(text(summary), soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_NOT_FOUND if failed == missing else EXIT_PROBLEMS)


def _not_found(problems: list[dict[str, object]]) -> bool:
    """The audit's problems only say that the record (or its clip) is not there."""
    return all(p["check"] == "row" for p in problems)


def run_repair(ctx: typer.Context, object_ids: list[int] | None, yes: bool, as_json: bool) -> None:
    """`check --repair`: list the files no row names; with ``yes``, remove them."""
    from imagear.audit import leftovers, repair

    with handle_errors(as_json):
        found = leftovers(get_app(ctx, read_only=True), object_ids or None)
        removed = repair(found) if yes else []
    doomed = [item for item in found if item.kept is None]
    kept = [item for item in found if item.kept is not None]
    if as_json:
        print_json(
            {
                "dry_run": not yes,
                "files": doomed,
                "kept": kept,
                "removed": [str(path) for path in removed],
            }
        )
        return
    gone = set(removed)
    for item in found:
        if item.kept is not None:
            state = f"kept: {item.kept}"
        elif not yes:
            state = "would be removed"
        else:
            state = "removed" if item.file in gone else "kept: changed meanwhile"
        console.print(
            text(f"record {item.object_id}: {item.file}: {item.reason}; {state}"),
            soft_wrap=True,
        )
    if yes:
        summary = f"Removed {len(removed)} file{'s' if len(removed) != 1 else ''}."
    elif doomed:
        summary = (
            f"{len(doomed)} file{'s' if len(doomed) != 1 else ''} no row names would be "
            "removed; nothing was. Remove them with `imagear check --repair --yes`."
        )
    else:
        summary = "No file to remove: every clip, poster and preview is named by a row."
    if kept:
        summary += f" {len(kept)} younger than an hour kept."
    err_console.print(text(summary), soft_wrap=True)
