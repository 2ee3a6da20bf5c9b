"""Text that comes from data or from a server, shown as text: the one place the CLI does it.

Titles, identifiers, paths, prompts, model names, setting values, error messages (which quote
all of these) and whatever a server answered are never read as Rich markup (``[/]`` would crash
the command, ``[bold]`` or ``[link=...]`` would restyle it) nor as emoji codes, and their control
characters (ESC, CR, NUL, C1, bidi overrides, ...) are shown as escapes (``\\x1b``) instead of
reaching the terminal. Bytes that were not UTF-8 (Python's surrogate escapes, from file names and
arguments) are shown as ``\\xNN`` too.

- :func:`visible` -> a plain ``str`` (for ``typer.echo`` and plain lines);
- :func:`text` -> a Rich ``Text`` built from data, optionally with styled labels of our own:
  ``text(("Error:", "bold red"), " ", err.message)``; use it for table cells too.

Rich is imported by :func:`text` only, so importing this module stays free.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 (tab and newline included: a value is shown on one line), DEL, C1, the bidi and line
# separators a terminal would act on, and lone surrogates (undecodable bytes).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(value: object) -> str:
    """``str(value)`` with every control character shown as an escape (``None`` -> "")."""
    if value is None:
        return ""
    try:
        string = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break what is printed
        string = f"<{type(value).__name__}>"
    return _UNSAFE.sub(_escape, string)


def text(*parts: object) -> Text:
    """A Rich Text from ``parts``: each part is data (shown as text, see :func:`visible`) or a
    ``(data, style)`` pair. Nothing in it is read as markup or emoji."""
    from rich.text import Text

    out = Text()
    for part in parts:
        if isinstance(part, tuple) and len(part) == 2:
            out.append(visible(part[0]), style=part[1] or None)
        else:
            out.append(visible(part))
    return out


__all__ = ["text", "visible"]
