"""`imagear config init | show`."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from pathlib import Path
from typing import Annotated

import typer

from imagear.cli._common import console, handle_errors, print_json

app = typer.Typer(help="Write or inspect imagear.toml.", no_args_is_help=True)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@app.command("init")
def init(
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Where to write it (default: the user config dir)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starting imagear.toml."""
    from imagear.config import user_config_path, write_starting_file

    with handle_errors():
        written = write_starting_file(path or user_config_path(), force=force)
    console.print(f"Wrote {written}")


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective value of every key and where it came from."""
    from imagear.config import KEYS, load_config

    with handle_errors():
        cfg = load_config(ctx.find_root().obj.get("config_path") if ctx.find_root().obj else None)
    rows = [
        {
            "key": k.name,
            "value": _text(getattr(cfg, k.name)),
            "source": cfg.sources.get(k.name, "default"),
        }
        for k in KEYS
    ]
    if as_json:
        print_json({"config_file": str(cfg.path) if cfg.path else None, "keys": rows})
        return
    from rich.table import Table

    table = Table(title=f"Config file: {cfg.path or '(none: defaults and environment)'}")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("source")
    for row in rows:
        value = "***" if row["key"] == "server_token" and row["value"] else row["value"]
        table.add_row(row["key"], value, row["source"])
    console.print(table)
