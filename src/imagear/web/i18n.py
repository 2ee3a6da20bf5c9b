"""The console in French and English: message catalogs (``web/locales/{lang}.po``, read and
compiled by Babel on first use, so nothing has to be built), the language of a request (a
choice made with the page's switch, kept in a cookie, else the browser's Accept-Language,
else English), and numbers and dates in that language (Babel's CLDR data)."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

LANGS = {"en": "English", "fr": "Français"}
DEFAULT = "en"
COOKIE = "imagear_lang"
LOCALES = Path(__file__).parent / "locales"


@functools.cache
def catalog(lang: str) -> Callable[[str], str]:
    """``gettext`` for ``lang``: its .po compiled in memory (English: the text itself)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    path = LOCALES / f"{lang}.po"
    if lang == DEFAULT or not path.is_file():
        return lambda text: text
    with path.open("rb") as fp:
        po = read_po(fp, locale=lang)
    mo = io.BytesIO()
    write_mo(mo, po)
    mo.seek(0)
    return Translations(mo).gettext


def negotiate(accept_language: str | None, chosen: str | None) -> str:
    """The page's language: the switch's choice, else the first of Accept-Language's ranges
    (by quality) that the console speaks, else English."""
    if chosen in LANGS:
        return str(chosen)
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranges.append((-quality, index, tag.strip().lower()))
    for quality, _index, tag in sorted(ranges):
        base = tag.split("-")[0]
        if quality < 0 and base in LANGS:
            return base
    return DEFAULT


def number(value: float | int, lang: str, digits: int | None = None) -> str:
    """``value`` written as ``lang`` writes numbers (``1,234.5`` / ``1 234,5``)."""
    from babel.numbers import format_decimal

    if digits is None:
        return format_decimal(value, locale=lang)
    return format_decimal(value, format=f"#,##0.{'0' * digits}", locale=lang)


def when(value: datetime | None, lang: str) -> str:
    """A time as ``lang`` writes it (the server's view; the page's script shows it in the
    reader's own zone)."""
    from babel.dates import format_datetime

    return format_datetime(value, "medium", locale=lang) if value else ""


__all__ = ["COOKIE", "DEFAULT", "LANGS", "catalog", "negotiate", "number", "when"]
