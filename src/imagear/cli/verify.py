"""`imagear verify (--object-id N | FILE) [--json]`: a clip's Content Credentials validated
with c2pa's Reader (signature, hash binding, ingredients), and what made the clip.

Exit codes: 0 valid; 8 no credentials (also "unsigned by choice" when ar_provenance is 0);
9 invalid: the clip was changed, or the signature or manifest does not validate. Errors
(no such record, no clip, the provenance extra missing) keep their usual codes.
"""

# No `from __future__ import annotations` (see HACKING.md, CLI start-up).
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json
from imagear.cli._text import text
from imagear.limits import MAX_ID

if TYPE_CHECKING:
    from imagear.provenance.read import Credentials

HEADLINE = {
    "valid": ("Content Credentials valid", "green"),
    "invalid": ("Content Credentials INVALID: the clip was changed or does not validate", "red"),
    "missing": ("No Content Credentials", "yellow"),
    "unsigned": ("No Content Credentials: unsigned by choice (ar_provenance is 0)", "yellow"),
}


def verify(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="A clip (MP4), poster or preview file.", show_default=False),
    ] = None,
    object_id: Annotated[
        int | None,
        typer.Option(
            "--object-id",
            "--id",
            help="The record whose clip to verify.",
            metavar="N",
            min=1,
            max=MAX_ID,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate a clip's Content Credentials (C2PA) and show what made it.

    Exit 0 when they are valid, 8 when the clip has none (or is unsigned by choice:
    ar_provenance 0), 9 when they are invalid (the clip was changed after signing).
    """
    with handle_errors(as_json):
        from imagear.provenance.service import verify as verify_clip

        found = verify_clip(get_app(ctx, read_only=True), object_id, file)
    if as_json:
        print_json(found)
    else:
        show(found)
    if found.exit_code:
        raise typer.Exit(found.exit_code)


def show(found: "Credentials") -> None:
    """One screen: the verdict, then what made the clip."""
    headline, style = HEADLINE[found.state]
    console.print(text((headline, f"bold {style}")), soft_wrap=True)
    console.print(text("file: ", str(found.file)), soft_wrap=True)
    for problem in found.problems:
        console.print(text(("  problem: ", "red"), problem), soft_wrap=True)
    if found.state in ("missing", "unsigned"):
        return
    gen = found.generation
    made = (
        "AI-generated (trainedAlgorithmicMedia)"
        if found.ai_generated
        else "an animated pan over the photograph (no AI)"
    )
    trust = "trusted" if found.trusted else "untrusted: its CA is not on this validator's list"
    record = gen.get("record") if isinstance(gen.get("record"), dict) else {}
    master = gen.get("master") if isinstance(gen.get("master"), dict) else {}
    assert isinstance(record, dict) and isinstance(master, dict)
    rows = [
        ("made", made),
        ("signer", f"{found.signer or '?'} (issuer {found.issuer or '?'}; {trust})"),
        ("by", found.claim_generator),
        ("actions", ", ".join(found.actions)),
        ("model", gen.get("model")),
        ("checkpoint", gen.get("checkpoint")),
        ("seed", gen.get("seed")),
        ("prompt", gen.get("prompt")),
        ("frames", f"{gen.get('frames')} at {gen.get('fps')} fps" if gen.get("frames") else None),
        ("motion", gen.get("motion")),
        ("server", gen.get("server")),
        ("when", gen.get("created")),
        ("record", " ".join(str(record[k]) for k in ("object_id", "identifier") if k in record)),
        ("title", record.get("title")),
        ("archive", record.get("archive")),
    ]
    for item in found.ingredients:
        rows.append(
            (
                "ingredient",
                f"{item.get('title')} ({item.get('format')}, {item.get('relationship')})",
            )
        )
    if master.get("sha256"):
        rows.append(("master sha256", master["sha256"]))
    for label, value in rows:
        if value not in (None, ""):
            console.print(text((f"{label:>14}: ", "bold"), str(value)), soft_wrap=True)
