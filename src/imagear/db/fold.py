"""Accent- and case-insensitive search on every database, without extensions: "eglise" finds
"Église".

One folding, written twice: :func:`fold` in Python (for the search text) and :func:`folded` in
SQL (for a column), which agree on every letter of :data:`FOLD_FROM` (the accented Latin
letters of Latin-1 and Latin Extended-A: French, German, Spanish, Portuguese, Italian, Nordic,
Polish, Czech, Hungarian, Romanian, Turkish...), each to its base letter, and then lower-case.

- SQLite: a deterministic SQL function ``imagear_fold`` registered on every connection
  (:mod:`imagear.db.engine`), which is :func:`fold`;
- PostgreSQL: ``lower(translate(col, FROM, TO))``: ``translate`` is built in, where
  ``unaccent`` is an extension that may be missing (and needs rights to create);
- MySQL/MariaDB: the column in ``utf8mb4_unicode_ci``, a collation that already ignores
  accents and case (converted to utf8mb4 first, so a latin1 column works too), after
  ``REPLACE`` of the few letters that collation keeps apart (Ł, Ø, Đ...).
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import ColumnElement, String, cast, func
from sqlalchemy.dialects import mysql

_OWN_LETTERS = tuple(zip("ØøĐđŁłĦħıŦŧ", "OoDdLlHhiTt", strict=True))
"""Letters that Unicode does not decompose (and utf8mb4_unicode_ci sorts apart), folded too."""


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
UNICODE_CI = "utf8mb4_unicode_ci"


def fold(text: str | None) -> str | None:
    """``text`` with the accents of :data:`FOLD_FROM` removed, lower-cased (None stays None)."""
    return None if text is None else text.translate(_TABLE).lower()


def folded(dialect_name: str, column: ColumnElement[str]) -> ColumnElement[str]:
    """SQL: ``column`` folded as :func:`fold` folds, on the database ``dialect_name`` (as
    SQLAlchemy names it: this module sits below :mod:`imagear.db.engine`, which registers
    :func:`fold` on SQLite connections)."""
    if dialect_name == "postgresql":
        return func.lower(func.translate(column, FOLD_FROM, FOLD_TO))
    if dialect_name in ("mysql", "mariadb"):
        text: ColumnElement[str] = cast(column, mysql.CHAR(charset="utf8mb4"))
        for ch, base in _OWN_LETTERS:
            text = func.replace(text, ch, base, type_=String())
        return text.collate(UNICODE_CI)
    return func.imagear_fold(column, type_=String())


__all__ = ["FOLD_FROM", "FOLD_TO", "fold", "folded"]
