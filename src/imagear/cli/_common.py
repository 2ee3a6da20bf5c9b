"""What every command shares: consoles, JSON output, and the one place errors become exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from imagear.errors import ImagearError


def _width(stream: object) -> int | None:
    # Rich lays out for 80 columns when output is not a terminal; logs and pipes read better wide.
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return 200


console = Console(highlight=False, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def is_tty() -> bool:
    return sys.stdout.isatty()


def fail(err: ImagearError, as_json: bool = False) -> NoReturn:
    """Print one clear error line (plus advice) on stderr and exit with the error's code.

    With ``as_json`` the failure is also written to stdout as one JSON object, so scripts that
    asked for JSON always get JSON."""
    if as_json:
        print_json(
            {
                "status": "failed",
                "kind": err.kind,
                "error": err.message,
                "advice": err.advice,
                "exit_code": err.exit_code,
            }
        )
    err_console.print(f"[bold red]Error:[/] {err.message}", markup=True, soft_wrap=True)
    if err.advice:
        err_console.print(f"  {err.advice}", soft_wrap=True, markup=False)
    raise typer.Exit(err.exit_code)


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn any ImagearError raised inside into a message and an exit code."""
    try:
        yield
    except ImagearError as err:
        fail(err, as_json)


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout (plain, so pipes and jq get exact bytes)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    err_console.print(f"[yellow]Warning:[/] {message}", soft_wrap=True)


def get_app(ctx: typer.Context) -> Any:
    """The App for this invocation, built once from the root --config option."""
    from imagear.app import App

    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    root.obj = obj
    if "app" not in obj:
        obj["app"] = App.load(obj.get("config_path"))
        root.call_on_close(obj["app"].close)
    return obj["app"]
