"""`imagear settings list | get | set | reset`: the image_ar_settings table.

The service, :mod:`imagear.settings`, is imported inside each command, so ``import imagear.cli``
stays fast."""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from typing import Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json, warn
from imagear.cli._text import text, visible

app = typer.Typer(help="Read and change the image_ar_settings table.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(_redacted(value))


def _redacted(value: object) -> object:
    """A value as shown: a URL's ``user:password@`` as ``user:***@`` (ar_server_url,
    ar_server_pool); the stored value keeps it."""
    from imagear.urls import redact_url

    return redact_url(value) if isinstance(value, str) else value


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every setting with its value, default and allowed values."""
    from imagear import settings as svc

    with handle_errors(as_json):
        app = get_app(ctx, read_only=True)
        found = svc.stored(app.config.database_url, lambda: app.engine)
    rows = [dict(d, value=found.values.value(d["key"])) for d in svc.describe()]
    for problem in found.warnings:  # stored values imagear does not use as given: on stderr
        warn(visible(problem))
    if as_json:
        print_json({r["key"]: _redacted(r["value"]) for r in rows})
        return
    from rich.table import Table

    table = Table()
    for name in ("key", "value", "default", "allowed", "description"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            *(text(v) for v in (r["key"], _show(r["value"]), _show(r["default"]))),
            text(r["allowed"]),
            text(r["description"]),
        )
    console.print(table)


@app.command("get")
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Setting key, e.g. ar_model.")],
    as_json: JsonOpt = False,
) -> None:
    """Print one setting's value."""
    from imagear import settings as svc

    with handle_errors(as_json):
        svc.spec(key)  # an unknown key is said before any database is opened
        app = get_app(ctx, read_only=True)
        value = svc.stored(app.config.database_url, lambda: app.engine).values.value(key)
    if as_json:
        print_json({key: _redacted(value)})
    else:
        typer.echo(visible(_show(value)))


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Setting key.")],
    value: Annotated[str, typer.Argument(help="New value (checked against the allowed range).")],
) -> None:
    """Validate and store one setting. Nothing is written when the value is refused."""
    from imagear import settings as svc

    with handle_errors():
        stored = svc.set_value(get_app(ctx).engine, key, value)
    console.print(text(f"{key} = {_show(stored)}"), soft_wrap=True)


@app.command("reset")
def reset(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="Key to reset; all keys when omitted.")] = None,
) -> None:
    """Put one setting, or all of them, back to the default."""
    from imagear import settings as svc

    with handle_errors():
        keys = svc.reset(get_app(ctx).engine, key)
    console.print(text(f"Reset {', '.join(keys)}"))
