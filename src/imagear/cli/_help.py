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
"""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from typer.core import TyperArgument

_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_KEPT = "\ue000"  # a private-use character standing for a hyphen while the text is wrapped

_WORDS = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}


def _metavar(param: Any) -> str | None:
    """click's word for a value of ``param`` (None for a flag): the declared metavar, else
    TEXT / INTEGER / FLOAT / PATH / DATETIME (with RANGE for a bounded number)."""
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    if desc.is_path:
        return "PATH"
    if desc.is_datetime:
        return "DATETIME"
    if desc.is_choice and desc.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    annotation = desc.annotation
    while get_origin(annotation) is not None and get_args(annotation):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    word = _WORDS.get(annotation, "TEXT")
    info = desc.parameter_info
    if word in ("INTEGER", "FLOAT") and (info.min is not None or info.max is not None):
        word += " RANGE"
    return word


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
        return self._word() + ("..." if self.nargs != 1 else ""), record[1]


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
    for sub in getattr(command, "commands", {}).values():
        click_conventions(sub)


__all__ = ["ClickStyleArgument", "click_conventions"]
