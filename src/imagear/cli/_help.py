"""``--help`` in click's own conventions, for every command of the tree.

Typer's plain help writes an option's value as ``<str>`` / ``<int range>`` / ``<list[int]>``
and a required argument as ``{image}`` in the usage line. imagear's help reads as click's and
Typer's long-standing ones do instead: a value is an upper-case word (``--object-id ID``,
``--model NAME``; ``TEXT``, ``INTEGER``, ``PATH`` ... where a declaration names none), a flag
shows no value at all, and an argument is its upper-case name (``records add [OPTIONS] IMAGE``,
``settings reset [OPTIONS] [KEY]``). Text is wrapped at word boundaries only: a hyphenated
word (``--max-attempts``, ``only-missing``) is never broken at its hyphen.

:func:`click_conventions` applies this to a command tree once, when the root group is built
(:class:`imagear.cli._common.GuardedGroup`); it only sets attributes, so start-up stays fast.
It also shows a bounded argument's range (``ID  Record id.  [1<=x<=2147483647; required]``)
and makes every float option refuse nan and infinities, which pass click's range checks.
"""

from __future__ import annotations

import math
import re
from typing import Any

from typer.core import TyperArgument

_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_KEPT = "\ue000"  # a private-use character standing for a hyphen while the text is wrapped

# the name of a click parameter type -> click's word (Typer's own copy of click names them
# ``str``, ``int range``; click itself ``text``, ``integer range``)
_TYPE_WORDS = {
    "str": "TEXT",
    "text": "TEXT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "float": "FLOAT",
    "int range": "INTEGER RANGE",
    "integer range": "INTEGER RANGE",
    "float range": "FLOAT RANGE",
    "path": "PATH",
    "datetime": "DATETIME",
    "uuid": "UUID",
    "boolean": "BOOLEAN",
}


def _metavar(param: Any) -> str | None:
    """click's word for a value of ``param`` (None for a flag): the declared metavar, else
    TEXT / INTEGER / FLOAT / PATH / DATETIME (with RANGE for a bounded number), from its
    click type."""
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    return _type_word(param.type)


def _type_word(kind: Any) -> str | None:
    choices = getattr(kind, "choices", None)
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    return _TYPE_WORDS.get(str(getattr(kind, "name", "")))


_FINITE: dict[type, type] = {}


def _finite(kind: Any) -> None:
    """Make a float type (bounded or not; click's plain FLOAT is one shared instance) refuse
    nan and infinities: nan passes every bounds check, and an infinite threshold, wait or
    lease is never what was meant (Typer 0.29's pydantic coercion refused nan itself)."""
    base = type(kind)
    if getattr(base, "_imagear_finite", False):
        return
    if base not in _FINITE:

        def convert(self: Any, value: Any, param: Any, ctx: Any) -> Any:
            number = base.convert(self, value, param, ctx)
            if isinstance(number, float) and not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number.", param, ctx)
            return number

        _FINITE[base] = type(base.__name__, (base,), {"convert": convert, "_imagear_finite": True})
    kind.__class__ = _FINITE[base]


class ClickStyleArgument(TyperArgument):
    """A positional argument written as click writes one: ``IMAGE`` (required), ``[KEY]``
    (optional), ``IMAGE...`` (several), in the usage line and in the Arguments section."""

    def _word(self) -> str:
        return str(self.metavar or (self.name or "").upper())

    def _usage_display_name(self) -> str:
        word = self._word() if self.required else f"[{self._word()}]"
        return word + ("..." if self.nargs != 1 else "")

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self._usage_display_name()]

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return self._word() + ("..." if self.nargs != 1 else ""), self._with_range(record[1])

    def _with_range(self, help_text: str) -> str:
        """The help with a bounded number's range, as an option's shows it (Typer before 0.29
        shows it only for options): ``Record id.  [1<=x<=2147483647; required]``."""
        describe = getattr(self.type, "_describe_range", None)
        if describe is None or "<=x" in help_text or "<x" in help_text:
            return help_text
        if help_text.endswith("[required]"):
            return f"{help_text[: -len('[required]')]}[{describe()}; required]"
        return f"{help_text}  [{describe()}]" if help_text else f"[{describe()}]"


def _keep(text: str) -> str:
    return _HYPHEN.sub(_KEPT, text)


_CONTEXTS: dict[type, type] = {}


def _context_class(base: Any) -> Any:
    """``base`` (a click Context class) whose help formatter wraps without breaking a word at
    its hyphen (click's wraps with :class:`textwrap.TextWrapper`'s ``break_on_hyphens``)."""
    if getattr(base, "_imagear_help", False):
        return base
    if base not in _CONTEXTS:
        formatter = base.formatter_class

        class Formatter(formatter):  # type: ignore[valid-type, misc]
            def write_text(self, text: str) -> None:
                super().write_text(_keep(text))

            def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
                super().write_dl([(a, _keep(b)) for a, b in rows], *args, **kwargs)

            def write(self, string: str) -> None:
                super().write(string.replace(_KEPT, "-"))

        _CONTEXTS[base] = type(
            "Context", (base,), {"formatter_class": Formatter, "_imagear_help": True}
        )
    return _CONTEXTS[base]


def click_conventions(command: Any) -> None:
    """Give every option of ``command`` and its subcommands click's value word, and every
    argument click's spelling (see the module docstring). Idempotent."""
    command.context_class = _context_class(command.context_class)
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument):
            if type(param) is TyperArgument:
                param.__class__ = ClickStyleArgument
            if param.metavar is None:  # also in errors: "Missing argument 'IMAGE'."
                param.metavar = (param.name or "").upper()
            continue
        word = _metavar(param)
        if word is not None:
            param.metavar = word
        if getattr(param.type, "name", None) in ("float range", "float"):
            _finite(param.type)
    for sub in getattr(command, "commands", {}).values():
        click_conventions(sub)


__all__ = ["ClickStyleArgument", "click_conventions"]
