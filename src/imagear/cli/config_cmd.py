"""`imagear config init | show`."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from pathlib import Path
from typing import Annotated

import typer

from imagear.cli._common import console, handle_errors, print_json
from imagear.cli._text import text

app = typer.Typer(help="Write or inspect imagear.toml.", no_args_is_help=True)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@app.command("init")
def init(
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            metavar="PATH",
            help="Where to write it; its folder must exist (default: the user config dir, "
            "made when missing).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starting imagear.toml."""
    from imagear.config import user_config_path, write_starting_file
    from imagear.errors import ConfigError

    target = path.expanduser() if path is not None else user_config_path()
    with handle_errors():
        if target.exists() and not force:
            raise ConfigError(f"{target} already exists.", "Pass --force to overwrite it.")
        written = write_starting_file(target, force=force, make_folder=path is None)
    console.print(text(f"Wrote {written}"), soft_wrap=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective value of every key and where it came from."""
    from imagear.config import KEYS, load_config
    from imagear.urls import redact_url

    with handle_errors(as_json):
        cfg = load_config(ctx.find_root().obj.get("config_path") if ctx.find_root().obj else None)
    rows = [
        {
            "key": k.name,
            # passwords in URLs are never shown (a screen share or a pasted bug report)
            "value": redact_url(_text(getattr(cfg, k.name))),
            "source": cfg.sources.get(k.name, "default"),
        }
        for k in KEYS
    ]
    if as_json:
        print_json({"config_file": str(cfg.path) if cfg.path else None, "keys": rows})
        return
    from rich.table import Table

    table = Table(title=text(f"Config file: {cfg.path or '(none: defaults and environment)'}"))
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("source")
    for row in rows:
        value = "***" if row["key"] == "server_token" and row["value"] else row["value"]
        table.add_row(row["key"], text(value), text(row["source"]))
    console.print(table)
