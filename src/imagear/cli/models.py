"""`imagear models [--json]` and `imagear models show NAME [--json]`.

The registry lists options by their option names; ``models show`` adds how the command line
takes each one (its flag, or ``-o KEY=VALUE``) from :mod:`imagear.cli.wording`.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from imagear.cli._common import console, handle_errors, is_tty, print_json, warn
from imagear.cli._text import text
from imagear.cli.wording import CLI

if TYPE_CHECKING:  # the registry (pydantic, entry-point plugins) loads when a command runs
    from imagear.models import ModelDescriptor

app = typer.Typer(
    help="List the image-to-video models and the options each one accepts.",
    invoke_without_command=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def _plugin_warnings() -> Iterator[None]:
    """Show plugin load problems as one warning line each instead of Python's warning format."""
    from imagear.models import PluginWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        try:
            yield
        finally:
            shown = list(caught)
    for item in shown:
        if issubclass(item.category, PluginWarning):
            warn(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _size(desc: "ModelDescriptor") -> str:
    size = f"{desc.native_width}x{desc.native_height}"
    return f"{size} fixed" if desc.fixed_size else f"{size} /{desc.divisible_by}"


def _show_default(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


COLUMNS = (
    "model",
    "aliases",
    "image",
    "prompt",
    "frames",
    "default",
    "fps",
    "native size",
    "memory",
    "licence",
)

TERMINAL_COLUMNS = ("model", "image", "prompt", "frames", "default", "fps", "native size")
WIDE = 160  # terminal columns from which every column is shown


def _row(m: "ModelDescriptor") -> tuple[str, ...]:
    return (
        m.name,
        ", ".join(m.aliases) or "-",
        _yes(m.takes_image),
        _yes(m.uses_prompt),
        m.frames_rule,
        str(m.default_frames),
        str(m.native_fps),
        _size(m),
        m.memory,
        m.licence,
    )


def _print_plain(rows: list[tuple[str, ...]]) -> None:
    """Not a terminal: one tab-separated line per model under a header line, never wrapped, so
    ``grep``, ``cut -f`` and ``awk -F'\\t'`` work on it."""
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(" ".join(cell.split()) for cell in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


@app.callback(invoke_without_command=True)
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every model (built-in and plugins): inputs, frames, fps, size, memory and licence."""
    if ctx.invoked_subcommand is not None:
        return
    from imagear.models import list_models

    with handle_errors(as_json), _plugin_warnings():
        models = list_models()
    if as_json:
        print_json([m.info() for m in models])
        return
    rows = [_row(m) for m in models]
    if not is_tty():
        _print_plain(rows)
        return
    # A narrow terminal gets the columns that fit 80 characters (aliases, memory and licence
    # are in `models show NAME`, the piped listing and --json); a model's name never breaks.
    wide = console.width >= WIDE
    columns = COLUMNS if wide else TERMINAL_COLUMNS
    shown = [COLUMNS.index(c) for c in columns]
    from rich.table import Table

    table = Table(caption=None if wide else "Aliases, memory and licence: imagear models show NAME")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in ("model", "native size"))
    for row in rows:
        table.add_row(*(text(row[i]) for i in shown))
    console.print(table)


@app.command("show", short_help="One model's options, their defaults and allowed values.")
def show(
    name: Annotated[str, typer.Argument(help="Model name or alias, e.g. svd.")],
    as_json: JsonOpt = False,
) -> None:
    """One model's options with their defaults, allowed values and descriptions."""
    from imagear.models import get_model
    from imagear.models.native import describe as frames_and_fps

    with handle_errors(as_json), _plugin_warnings():
        desc = get_model(name)
    specs = [{"name": s["name"], "flag": CLI.given_as(s["name"]), **s} for s in desc.option_specs()]
    if as_json:
        print_json({**desc.info(), "frames_and_fps": frames_and_fps(desc), "options": specs})
        return
    console.print(text((desc.name, "bold"), f" ({desc.family})"))
    facts = [
        ("aliases", ", ".join(desc.aliases) or "-"),
        ("takes the image", _yes(desc.takes_image)),
        ("uses a prompt", _yes(desc.uses_prompt)),
        ("weights", desc.hf_repo or "-"),
        ("frames and fps", frames_and_fps(desc)),
        ("memory", desc.memory),
        ("licence", desc.licence),
        ("notes", desc.notes or "-"),
    ]
    for label, value in facts:
        console.print(text(f"  {label}: {value}"), soft_wrap=True)
    from rich.table import Table

    table = Table()
    for column in ("option", "given as", "type", "default", "allowed", "description"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        description = spec["description"]
        if spec["ignored"]:
            description = f"(ignored by {desc.name}) {description}"
        cells = (spec["name"], spec["flag"], spec["type"], _show_default(spec["default"]))
        table.add_row(*(text(c) for c in cells), text(spec["allowed"]), text(description))
    console.print(table)
