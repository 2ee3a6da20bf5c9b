"""What every command shares: consoles, JSON output, and the one place errors become exit codes.

- :func:`handle_errors` / :func:`fail`: an :class:`ImagearError` becomes one red line (plus its
  advice) on stderr and the error's exit code;
- :class:`GuardedGroup`: the root command group. Anything else a command raises (a bug, a
  third-party exception nobody mapped) becomes one line on stderr naming the command and the
  exception, and exit 1; ``imagear --debug`` or ``IMAGEAR_DEBUG=1`` also prints the traceback.
  Click's own exits and usage errors, and Ctrl-C (exit 130), pass through unchanged.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from imagear.errors import ImagearError

if TYPE_CHECKING:
    from rich.console import Console

DEBUG_ENV = "IMAGEAR_DEBUG"


def _click_class(cls: type, name: str) -> type:
    """The click class ``name`` among the bases of a Typer class: recent Typer releases carry
    their own copy of click (``typer._click``), older ones use the click package."""
    return [base for base in cls.__mro__ if base.__name__ == name][-1]


_ClickContext = _click_class(typer.Context, "Context")
# What click reports itself, unchanged: usage errors (exit 2), typer.Exit(code), Abort.
_CLICK_EXITS: tuple[type[BaseException], ...] = (
    _click_class(typer.BadParameter, "ClickException"),
    typer.Exit,
    typer.Abort,
)


def _width(stream: object) -> int | None:
    # Rich lays out for 80 columns when output is not a terminal; logs and pipes read better wide.
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return 200


class LazyConsole:
    """A Rich Console built on first use: importing Rich costs ~40 ms, which `imagear --version`
    and a usage error need not pay. Attributes are read from and set on the console itself
    (``console.print(...)``, ``console.width = 80``); hand ``.real`` to Rich objects that take a
    ``console=``."""

    __slots__ = ("_console", "_stderr")

    def __init__(self, stderr: bool = False) -> None:
        object.__setattr__(self, "_stderr", stderr)
        object.__setattr__(self, "_console", None)

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            made = Console(stderr=self._stderr, highlight=False, width=_width(stream))
            object.__setattr__(self, "_console", made)
        return self._console  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __dict__ etc.: copy.copy, pytest's monkeypatch see a proxy
            raise AttributeError(name)
        return getattr(self.real, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.real, name, value)

    def __enter__(self) -> Console:
        return self.real.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)


console = LazyConsole()
err_console = LazyConsole(stderr=True)


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


def debug_wanted(ctx: Any = None) -> bool:
    """``--debug`` on the root command, or IMAGEAR_DEBUG set to 1 / true / yes / on."""
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _failed_context(exc: BaseException, ctx: Any) -> Any:
    """The context of the command that was running when ``exc`` was raised (its
    ``command_path`` is e.g. ``imagear records list``): the innermost click context among the
    frames the exception went through."""
    found = ctx
    tb = exc.__traceback__
    while tb is not None:
        frame_locals = tb.tb_frame.f_locals
        for name in ("ctx", "self"):
            value = frame_locals.get(name)
            if isinstance(value, _ClickContext):
                found = value
        tb = tb.tb_next
    return found


def _describe(exc: BaseException) -> str:
    """``sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such column: x``: the
    exception's type and the first line of its message (some, like SQLAlchemy's, run on with
    the SQL statement)."""
    kind = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", "__main__"):
        kind = f"{type(exc).__module__}.{kind}"
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the report
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return kind
    first = lines[0] if len(lines[0]) <= 300 else lines[0][:297] + "..."
    return f"{kind}: {first}"


def fail_unexpected(exc: Exception, ctx: Any) -> NoReturn:
    """An exception that is not an ImagearError reached the CLI: one line on stderr that says
    which command failed and with what, then exit 1. With ``--debug`` / IMAGEAR_DEBUG=1 the
    traceback is printed first. A command run with ``--json`` also gets the failure as one JSON
    object on stdout, as :func:`fail` does."""
    failed = _failed_context(exc, ctx)
    command = failed.command_path or "imagear"
    debug = debug_wanted(ctx)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()
    what = _describe(exc)
    stop = "" if what.endswith((".", "!", "?")) else "."
    line = f"{command} failed unexpectedly: {what}{stop}"
    advice = f"Run `imagear --debug ...` (or set {DEBUG_ENV}=1) to see the traceback."
    if failed.params.get("as_json"):
        error = {"status": "failed", "kind": type(exc).__name__, "error": line}
        print_json({**error, "advice": advice, "exit_code": 1})
    if not debug:
        line += " " + advice
    from rich.markup import escape

    err_console.print(f"[bold red]Error:[/] {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


class GuardedGroup(TyperGroup):
    """The root command group: no traceback reaches a user (see the module docstring)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                ctx.close()  # close callbacks (App.close) run here, inside the guard
        except _CLICK_EXITS:
            raise  # usage errors, typer.Exit(code), Abort: Typer reports them as always
        except ImagearError as err:  # raised outside handle_errors(): still one clear line
            fail(err)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # a closed pipe (`imagear ... | head`): Typer exits 1 quietly
            fail_unexpected(exc, ctx)
        except Exception as exc:  # KeyboardInterrupt is not an Exception: Typer exits 130
            fail_unexpected(exc, ctx)


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout (plain, so pipes and jq get exact bytes)."""
    import json

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
