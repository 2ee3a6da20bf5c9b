"""What every command shares: consoles, JSON output, and the one place errors become exit codes.

- :func:`said`: any exception -> :class:`Said` (message, advice in the CLI's words, exit code,
  the failure's JSON document); :func:`report` says it (stderr, ``--json`` document, exit).
  Every path goes through these two: :func:`handle_errors` (a command's block; a batch's
  timestamp, a dry run's wording and animate's ``object_id`` are its arguments), :func:`fail`,
  usage errors and :class:`GuardedGroup`.
- :class:`GuardedGroup`: the root command group. Anything else a command raises (a bug, a
  third-party exception nobody mapped) becomes one line on stderr naming the command and the
  exception, and exit 1; ``imagear --debug`` or ``IMAGEAR_DEBUG=1`` also prints the traceback.
  Click's own exits and usage errors, and Ctrl-C (exit 130), pass through unchanged. The
  command that failed is the last context made (each records itself in the chain's ``meta``),
  as is whether the command line has written its JSON document.
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

import typer
from typer.core import TyperGroup

from imagear.cli._help import click_conventions
from imagear.cli._text import text, visible
from imagear.cli.wording import advice_of
from imagear.errors import ImagearError, QualityRejected

if TYPE_CHECKING:
    from rich.console import Console

    from imagear.app import App


class _Usage(Protocol):
    """What a click usage error has (click's class is found at run time: :func:`_click_class`)."""

    ctx: typer.Context | None
    exit_code: int

    def format_message(self) -> str: ...


DEBUG_ENV = "IMAGEAR_DEBUG"
JsonDoc = dict[str, object]


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

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self.real, name, value)

    def __enter__(self) -> Console:
        return self.real.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.real.__exit__(*exc)


console = LazyConsole()
err_console = LazyConsole(stderr=True)


def is_tty() -> bool:
    return sys.stdout.isatty()


def one_line(message: str) -> str:
    """A message of click's on one line: its line breaks and tabs become one space (data in
    our own messages is shown with its control characters as escapes, by :func:`text`)."""
    return re.sub(r"[ \t]*[\r\n\t]+[ \t]*", " ", message).strip(" ")


def failure_json(kind: str, message: str, advice: str | None, exit_code: int) -> JsonDoc:
    """The JSON document of a failure (docs/json.md): the same five keys for every command."""
    return {
        "status": "failed",
        "kind": kind,
        "error": message,
        "advice": advice,
        "exit_code": exit_code,
    }


@dataclass(frozen=True)
class Said:
    """What the command line says for a failure: ``Error: message`` and the advice on stderr,
    the exit code, and (``--json``) the failure's JSON document, :meth:`doc`. ``advice_at``: where the advice goes on stderr:
    below the error line, on it (an unexpected exception's), or nowhere (``--debug`` has just
    printed the traceback)."""

    kind: str
    message: str
    advice: str | None
    exit_code: int
    details: JsonDoc = field(default_factory=dict)
    advice_at: str = "below"  # "inline": on the error line; "json": in the JSON document only

    def doc(self) -> JsonDoc:
        """The failure as JSON (docs/json.md), with the error's details (failed checks)."""
        return {
            **failure_json(self.kind, self.message, self.advice, self.exit_code),
            **self.details,
        }


def said(exc: BaseException, ctx: typer.Context | None = None) -> Said:
    """The one translation of an exception into what the command line says (:class:`Said`):
    an ImagearError in the CLI's words (:func:`imagear.cli.wording.advice_of`); a usage error
    of click's as every other error; anything else as an unexpected failure of the command of
    ``ctx``, with where to find the traceback."""
    if isinstance(exc, ImagearError):
        details: JsonDoc = exc.details() if isinstance(exc, QualityRejected) else {}
        return Said(exc.kind, exc.message, advice_of(exc), exc.exit_code, details)
    if isinstance(exc, _ClickUsageError):
        usage = cast(_Usage, exc)
        message = one_line(usage.format_message())
        if not message.endswith((".", "!", "?")):
            message += "."
        where = getattr(exc, "ctx", None)
        command = where.command_path if where is not None else "imagear"
        return Said("UsageError", message, f"See `{command} --help`.", usage.exit_code)
    command = (ctx.command_path if ctx is not None else "") or "imagear"
    what = _describe(exc)
    stop = "" if what.endswith((".", "!", "?")) else "."
    advice = f"Run `imagear --debug ...` (or set {DEBUG_ENV}=1) to see the traceback."
    line = f"{command} failed unexpectedly: {what}{stop}"
    return Said(
        type(exc).__name__, line, advice, 1, advice_at="json" if debug_wanted(ctx) else "inline"
    )


def report(
    s: Said, as_json: bool = False, prefix: str = "", wrap: JsonDoc | None = None
) -> NoReturn:
    """Say ``s``: its JSON document on stdout when ``as_json`` (inside ``wrap``, unless the
    command already wrote its document), the error lines on stderr (``prefix``: a log's
    timestamp), then exit with its code."""
    if as_json and not json_printed():
        print_json({**(wrap or {}), **s.doc()})
    if s.advice_at == "below":
        error_lines(s.message, s.advice, prefix)
    else:
        inline = s.advice if s.advice_at == "inline" else None
        error_lines(f"{s.message} {inline}" if inline else s.message, None, prefix)
    raise typer.Exit(s.exit_code)


def fail(err: ImagearError, as_json: bool = False) -> NoReturn:
    """Print one clear error line (plus advice) on stderr and exit with the error's code.

    With ``as_json`` the failure is also written to stdout as one JSON object (unless the
    command already wrote its JSON document), so scripts that asked for JSON always get one."""
    report(said(err), as_json)


def error_lines(message: str, advice: str | None = None, prefix: str = "") -> None:
    """``Error: message`` (one line) and the advice indented below it, on stderr."""
    head = text(prefix, ("Error:", "bold red"), " ", message)
    err_console.print(head, soft_wrap=True, highlight=False)
    if advice:
        err_console.print(text("  ", advice), soft_wrap=True, highlight=False)


@contextmanager
def handle_errors(
    as_json: bool = False,
    *,
    prefix: Callable[[], str] | None = None,
    wrap: JsonDoc | None = None,
    reword: Callable[[Said, ImagearError], Said] | None = None,
) -> Iterator[None]:
    """The one place an ImagearError raised inside becomes words and an exit code
    (:func:`said`, :func:`report`). ``prefix``: what starts the error line when it is said (a
    log's timestamp); ``wrap``: the keys the JSON document starts with (``object_id``);
    ``reword``: how this command says it (a dry run's "the real run would...")."""
    try:
        yield
    except ImagearError as err:
        s = said(err)
        if reword is not None:
            s = reword(s, err)
        report(s, as_json, prefix() if prefix is not None else "", wrap)


def debug_wanted(ctx: typer.Context | None = None) -> bool:
    """``--debug`` on the root command, or IMAGEAR_DEBUG set to 1 / true / yes / on."""
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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


_ClickUsageError: type[Exception] = _click_class(typer.BadParameter, "UsageError")
# `imagear records` (a group given no command) prints its help: not an error to reword
_NoArgsIsHelp: type[BaseException] | None = getattr(
    sys.modules[_ClickUsageError.__module__], "NoArgsIsHelpError", None
)
_click_globals = importlib.import_module(_ClickContext.__module__.rpartition(".")[0] + ".globals")
ARGS_KEY = "imagear.args"  # ctx.meta: the command line as given (for --json on usage errors)
CTX_KEY = "imagear.ctx"  # ctx.meta: the innermost command's context (whose command failed)
JSON_KEY = "imagear.json"  # ctx.meta: this command line has written its JSON document


def _wants_json(ctx: typer.Context | None, args: list[str] | None = None) -> bool:
    """The command of ``ctx`` takes ``--json`` and it was asked for (in ``args`` when the
    command line could not be parsed, else in the parsed parameters)."""
    if ctx is None:
        return False
    if args is None:
        return bool(ctx.params.get("as_json"))
    given = args[: args.index("--")] if "--" in args else args
    takes = any("--json" in getattr(p, "opts", ()) for p in ctx.command.params)
    return takes and "--json" in given


def usage_failed(err: Exception, args: list[str] | None) -> NoReturn:
    """A usage error (exit 2) said as every other error is: ``Error: ...`` on one line and
    where to look, instead of click's usage block; with ``--json``, one JSON document too."""
    report(said(err), _wants_json(cast(_Usage, err).ctx, args or []))


def _undecodable(arg: str) -> bool:
    """True when ``arg`` carries bytes that were not UTF-8 (Python's surrogate escapes)."""
    return any("\udc80" <= char <= "\udcff" for char in arg)


def _recording(base: type) -> type:
    """``base`` (a click Context class) that records itself in ``meta`` (shared by the whole
    chain) as it is made: the last one made is the command that runs, and fails."""

    class Recording(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.meta[CTX_KEY] = self

    Recording.__name__ = Recording.__qualname__ = base.__name__
    return Recording


def _record_contexts(command: object) -> None:
    setattr(command, "context_class", _recording(getattr(command, "context_class")))  # noqa: B009, B010
    for sub in getattr(command, "commands", {}).values():
        _record_contexts(sub)


class GuardedGroup(TyperGroup):
    """The root command group: no traceback reaches a user (see the module docstring). Usage
    errors read as every other error (:func:`said`); the whole tree's help follows click's
    conventions (:mod:`imagear.cli._help`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        click_conventions(self)
        _record_contexts(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = ctx.meta[ARGS_KEY] = list(args)  # parsing consumes ``args``
        try:
            # Text is stored and sent as UTF-8 (as Heratio does): refuse undecodable bytes
            # here, as a usage error (exit 2), rather than deep inside a command.
            for arg in args:
                if _undecodable(arg):
                    raise _ClickUsageError(
                        f"The argument '{visible(arg)}' is not valid UTF-8: imagear reads "
                        "names, titles and paths as UTF-8. Rename the file or re-type the text.",
                        ctx,
                    )
            return list(super().parse_args(ctx, args))
        except _ClickUsageError as err:
            if _NoArgsIsHelp is not None and isinstance(err, _NoArgsIsHelp):
                raise
            usage_failed(err, given)

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                ctx.close()  # close callbacks (App.close) run here, inside the guard
        except _ClickUsageError as err:
            if _NoArgsIsHelp is not None and isinstance(err, _NoArgsIsHelp):
                raise
            usage_failed(err, ctx.meta.get(ARGS_KEY))
        except typer.Exit as stop:
            failed = ctx.meta.get(CTX_KEY, ctx)
            code = stop.exit_code
            if code and _wants_json(failed) and not json_printed():  # the --json promise
                what = f"{failed.command_path or 'imagear'} stopped with exit code {code}."
                print_json(failure_json("Exit", what, None, code))
            raise
        except _CLICK_EXITS:
            raise  # typer.Abort and other click exits: Typer reports them as always
        except Exception as exc:  # KeyboardInterrupt is not an Exception: Typer exits 130
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # a closed pipe (`imagear ... | head`): Typer exits 1 quietly
            failed = ctx.meta.get(CTX_KEY, ctx)
            s = said(exc, failed)
            if not isinstance(exc, ImagearError) and debug_wanted(ctx):
                traceback.print_exception(exc, file=sys.stderr)
                sys.stderr.flush()
            report(s, _wants_json(failed))


def _meta() -> dict[str, object] | None:
    """The ``meta`` of the command line being run (None outside one)."""
    ctx = _click_globals.get_current_context(silent=True)
    return ctx.meta if ctx is not None else None


def json_printed() -> bool:
    """True once this command line wrote its JSON document (a second one is never added)."""
    meta = _meta()
    return bool(meta and meta.get(JSON_KEY))


def print_json(obj: object) -> None:
    """Write one JSON document to stdout (plain, so pipes and jq get exact bytes)."""
    import json

    from imagear.domain import to_json  # the one JSON convention (ISO 8601 times, paths as text)

    meta = _meta()
    if meta is not None:
        meta[JSON_KEY] = True
    out = json.dumps(to_json(obj), indent=2, ensure_ascii=False)
    # a lone surrogate (a byte that was not UTF-8, e.g. in a file name) is written as \udcXX
    sys.stdout.write(out.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    err_console.print(text(("Warning:", "yellow"), " ", message), soft_wrap=True)


def get_app(ctx: typer.Context, *, read_only: bool = False) -> App:
    """The App for this invocation, built once from the root --config option. A ``read_only``
    command (one that only shows data) says so when its database had to be created."""
    from imagear.app import App

    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    root.obj = obj
    if "app" not in obj:
        obj["app"] = App.load(obj.get("config_path"))
        if read_only:
            obj["app"].on_create = _created
        root.call_on_close(obj["app"].close)
    made: App = obj["app"]
    return made


def _created(where: str) -> None:
    """A command that only shows data met a database without imagear's tables and created
    them: said once (stderr), so that a mistyped database_url (`records list` against it) does
    not silently start an empty database."""
    err_console.print(
        text(
            ("Note:", "cyan"),
            f" first use of the database at {where}: imagear's tables were created there; "
            "check database_url (`imagear config show`) if you expected existing data.",
        ),
        soft_wrap=True,
        highlight=False,
    )


# -- the process: `imagear ...` as its own program, not a command invoked inside another --------

_OWN_PROCESS = [False]  # set by imagear.cli.main(); CliRunner and embedding callers leave it


def run_as_program(app: typer.Typer) -> None:
    """Run the CLI as this process's program (the console script, ``python -m imagear``). The
    process ends here: its last garbage collection would walk every object of the modules the
    command loaded (SQLAlchemy's alone: ~50 ms; a batch's: 100-250 ms, more than its start);
    frozen (:func:`gc.freeze`), they are left to the operating system. Nothing is lost: files
    and databases are closed by then, and objects outside reference cycles are still freed.
    First of all, numpy's BLAS is kept to one thread (:mod:`imagear.blas`)."""
    from imagear.blas import one_thread

    one_thread()
    _OWN_PROCESS[0] = True
    try:
        app()
    finally:
        gc.freeze()


def freeze_loaded() -> None:
    """A long command (a batch run), once its modules are loaded: when imagear is the process's
    program, move every object alive now (modules, classes, tables: they live as long as the
    process) out of the garbage collector's reach, so that the run's full collections no longer
    walk them (30-40 ms each, several per run). Inside another program (tests, an embedding
    application) nothing is frozen: its objects are its own."""
    if _OWN_PROCESS[0]:
        gc.freeze()
