"""Accent- and case-insensitive search on every database, without extensions: "eglise" finds
"Église".

One folding, written twice: :func:`fold` in Python (for the search text) and :func:`folded` in
SQL (for a column), which agree on every letter of :data:`FOLD_FROM` (the accented Latin
letters of Latin-1 and Latin Extended-A: French, German, Spanish, Portuguese, Italian, Nordic,
Polish, Czech, Hungarian, Romanian, Turkish...), each to its base letter, and then lower-case.

- SQLite: a deterministic SQL function ``imagear_fold`` registered on every connection
  (:mod:`imagear.db.engine`), which is :func:`fold`;
- PostgreSQL: with imagear's trigram indexes of the folded title and identifier (schema step
  8, :data:`TRIGRAM_INDEXES`, where the ``pg_trgm`` extension could be had), ``LIKE`` on the
  folded column (``lower(translate(...))``, the index's own expression), which the index
  answers: a few milliseconds over a million records, match or not. Without them the column
  matched case-insensitively (``~*``) against a regular expression made from the folded
  search text, each letter a class of its accented forms ("eglise":
  ``[eéèêë...]gl[iíìîï...]s[eéèêë...]``): no extension (``unaccent`` may be missing and needs
  rights to create), and no function run on every value (``translate`` on a million titles
  took 24 s; the expression 0.5 s, less than ``ILIKE``; a trigram index cannot narrow such
  classes down);
- MySQL/MariaDB: the column's own collation, which already ignores accents and case
  (AtoM's utf8mb4_unicode_ci, the server's utf8mb4_general_ci; connections compare in the
  database's collation, :mod:`imagear.db.engine`), and the search text as typed
  (:func:`search_text`). Letters that collation keeps apart (Ł, Ø, Đ) stay apart there:
  converting and folding each value in SQL (CAST, COLLATE, a REPLACE per letter) made a
  search over a million titles 4x slower (3.0 s instead of 0.7 s), for a few letters.
  A column of short codes (the identifier: ``codes``) is first tested by its length: LIKE
  there matches one character of the value for each character of the text (as MySQL's manual
  says, ``'ä' LIKE 'ae'`` is false where ``'ä' = 'ae'`` is true; checked on every utf8mb4
  collation of MariaDB, tests/test_grid_paging.py), so a value of fewer bytes than the text
  has characters cannot match, and ``LENGTH`` (bytes, kept with the value) is far cheaper than
  a collation's LIKE: a phrase longer than every identifier skips the identifiers' LIKE, a
  sixth of a search over a million records (332 -> 279 ms on one core; a text no longer than
  the identifiers pays about 5 %).
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, String, and_, func, literal_column

_OWN_LETTERS = tuple(zip("ØøĐđŁłĦħıŦŧ", "OoDdLlHhiTt", strict=True))
"""Letters that Unicode does not decompose, folded too (not on MySQL/MariaDB: see above)."""


def _pairs() -> tuple[str, str]:
    src, dst = [], []
    for code in range(0xC0, 0x180):
        ch = chr(code)
        base = unicodedata.normalize("NFKD", ch)
        if len(base) > 1 and base[0].isascii() and base[0].isalpha():
            if all(unicodedata.combining(c) for c in base[1:]):
                src.append(ch)
                dst.append(base[0])
    for ch, base in _OWN_LETTERS:
        src.append(ch)
        dst.append(base)
    return "".join(src), "".join(dst)


FOLD_FROM, FOLD_TO = _pairs()
_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)
_MYSQL = ("mysql", "mariadb")


def fold(text: str | None) -> str | None:
    """``text`` with the accents of :data:`FOLD_FROM` removed, lower-cased (None stays None)."""
    return None if text is None else text.translate(_TABLE).lower()


def _classes() -> dict[str, str]:
    """Each base letter (lower case) -> a regular-expression class of it and its accented
    forms, both cases."""
    forms: dict[str, set[str]] = {}
    for ch, base in zip(FOLD_FROM, FOLD_TO, strict=True):
        forms.setdefault(base.lower(), {base.lower(), base.upper()}).add(ch)
    return {b: "[" + "".join(sorted(chars)) + "]" for b, chars in forms.items()}


_CLASSES = _classes()


def pattern_of(text: str) -> str:
    """A PostgreSQL regular expression (for ``~*``) that finds ``text`` with any accents."""
    out = []
    for ch in fold(text) or "":
        out.append(_CLASSES.get(ch) or re.escape(ch))
    return "".join(out)


TRIGRAM_INDEXES = {
    "ix_information_object_title_fold": "title",
    "ix_information_object_identifier_fold": "identifier",
}
"""PostgreSQL, imagear's own ``information_object``: GIN trigram indexes (``pg_trgm``) of the
folded value of these columns (:func:`folded`), made by schema step 8."""


def contains(
    dialect_name: str,
    column: ColumnElement[str],
    text: str,
    *,
    indexed: bool = False,
    codes: bool = False,
) -> ColumnElement[bool]:
    """SQL: ``column`` contains ``text``, accents and case ignored (see the module).
    ``indexed``: PostgreSQL, the column has its :data:`TRIGRAM_INDEXES` index. ``codes``: the
    column holds short codes; on MySQL/MariaDB a value shorter than ``text`` is passed over by
    its length before LIKE reads it (the same rows, see the module)."""
    if dialect_name == "postgresql" and not indexed:
        return column.regexp_match(pattern_of(text), flags="i")
    wanted = search_text(dialect_name, text)
    match = folded(dialect_name, column).like(f"%{_escape_like(wanted)}%", escape="\\")
    if codes and dialect_name in _MYSQL:
        return and_(func.length(column) >= len(wanted), match)
    return match


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def folded(dialect_name: str, column: ColumnElement[str]) -> ColumnElement[str]:
    """SQL: ``column`` folded as :func:`fold` folds, on the database ``dialect_name`` (as
    SQLAlchemy names it: this module sits below :mod:`imagear.db.engine`, which registers
    :func:`fold` on SQLite connections)."""
    if dialect_name == "postgresql":  # constants written out: the expression a trigram index has
        return func.lower(func.translate(column, _constant(FOLD_FROM), _constant(FOLD_TO)))
    if dialect_name in _MYSQL:
        return column
    return func.imagear_fold(column, type_=String())


def _constant(text: str) -> ColumnElement[str]:
    """A string constant written into the SQL itself, not bound: an index on an expression is
    used only for that same expression, which a bound parameter is not (in a generic plan)."""
    return literal_column("'" + text.replace("'", "''") + "'", String())


def search_text(dialect_name: str, text: str) -> str:
    """The search text to compare with :func:`folded` columns on ``dialect_name``."""
    return text if dialect_name in _MYSQL else fold(text) or ""


__all__ = [
    "FOLD_FROM",
    "FOLD_TO",
    "TRIGRAM_INDEXES",
    "contains",
    "fold",
    "folded",
    "pattern_of",
    "search_text",
]
