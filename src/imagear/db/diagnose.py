"""Database errors as one line that says what failed, why, and what to do.

Every database error the data layer meets becomes a :class:`~imagear.errors.StorageError`
here (exit 1), whatever the driver (sqlite3, psycopg, PyMySQL): :func:`storage_error`
recognises the common causes from the driver's error code or text and words them for a
person: a missing table or column (which one, and whether the database looks like an
AtoM/Heratio one), a value that does not fit its column, access refused, the server
unreachable, an unknown database, a lock held too long, a read-only database. Anything else
keeps the driver's own first line (:func:`reason`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from imagear.errors import StorageError


class Kind(Protocol):
    """What the words need to know of the database (:class:`imagear.db.flavour.Flavour` is one;
    a protocol, so this module, below flavour, imports nothing of it)."""

    @property
    def is_atom(self) -> bool: ...


_CHECK_URL = "Check database_url (`imagear config show`) and that the database server is running."


def _orig(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def code_of(exc: BaseException) -> int | str | None:
    """The driver's error code: MySQL's number, PostgreSQL's SQLSTATE; None for SQLite."""
    orig = _orig(exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate)
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0]
    return None


def reason(exc: BaseException) -> str:
    """The driver's own one-line reason for a database error (no SQL, no parameters)."""
    orig = _orig(exc)
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1]  # PyMySQL: (1054, "Unknown column ...")
    else:
        text = str(orig)
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(orig).__name__).strip().rstrip(".")


@dataclass(frozen=True)
class Cause:
    """What :func:`classify` recognised: a kind and the table/column it names."""

    kind: str  # missing_column | missing_table | does_not_fit | access | unreachable |
    #            unknown_database | busy | read_only | other
    table: str | None = None
    column: str | None = None


_MISSING_COLUMN = (
    re.compile(r"Unknown column '([^']+)'"),  # MySQL / MariaDB 1054
    re.compile(r'column "?([\w.]+)"? (?:of relation "(\w+)" )?does not exist'),  # PostgreSQL
    re.compile(r"no such column: ([\w.]+)"),  # SQLite
    re.compile(r"table (\w+) has no column named (\w+)"),  # SQLite INSERT
)
_MISSING_TABLE = (
    re.compile(r"Table '(?:[^'.]+\.)?([^']+)' doesn't exist"),  # MySQL 1146
    re.compile(r'relation "([\w.]+)" does not exist'),  # PostgreSQL
    re.compile(r"no such table: ([\w.]+)"),  # SQLite
)
_FIT = re.compile(
    r"Out of range value|Incorrect \w+ value|Data too long|Data truncated|value too long|"
    r"out of range|invalid input syntax",
    re.IGNORECASE,
)
_CODES = {
    "access": {1044, 1045, 1142, 1143, 1227, "42501", "28P01", "28000"},
    "unreachable": {2002, 2003, 2005, 2006, 2013, "08001", "08006", "57P01"},
    "unknown_database": {1049, "3D000"},
    "busy": {1205, 1213, "40P01", "55P03", "40001"},
    "read_only": {1290, 1792, 1036, "25006"},
    "does_not_fit": {1264, 1265, 1366, 1406, 1292, "22003", "22001", "22P02", "22007"},
}
_TEXTS = {
    "unreachable": ("Can't connect", "connection refused", "could not connect", "server closed"),
    "busy": ("database is locked", "deadlock"),
    "read_only": ("readonly database", "read-only"),
    "access": ("permission denied", "Access denied", "authentication failed"),
}


def classify(exc: BaseException) -> Cause:
    """Recognise the cause of a database error (see :class:`Cause`)."""
    text = reason(exc)
    code = code_of(exc)
    for pattern in _MISSING_COLUMN:
        found = pattern.search(text)
        if found:
            groups = [g for g in found.groups() if g]
            if pattern is _MISSING_COLUMN[3]:  # (table, column)
                return Cause("missing_column", groups[0], groups[1])
            name = groups[0]
            table = groups[1] if len(groups) > 1 else None
            if "." in name and table is None:
                table, name = name.rsplit(".", 1)
            return Cause("missing_column", table, name)
    if code in (1054, "42703"):
        return Cause("missing_column")
    for pattern in _MISSING_TABLE:
        found = pattern.search(text)
        if found:
            return Cause("missing_table", found.group(1))
    if code in (1146, "42P01"):
        return Cause("missing_table")
    for kind, codes in _CODES.items():
        if code in codes:
            return Cause(kind, column=_column_named(text))
    if _FIT.search(text):
        return Cause("does_not_fit", column=_column_named(text))
    lowered = text.lower()
    for kind, needles in _TEXTS.items():
        if any(n.lower() in lowered for n in needles):
            return Cause(kind)
    return Cause("other")


def _column_named(text: str) -> str | None:
    found = re.search(r"column [`'\"]?(?:[\w]+[`'\"]?\.[`'\"]?)*(\w+)[`'\"]?", text)
    return found.group(1) if found else None


def _kind_words(flavour: Kind | None) -> str:
    if flavour is None:
        return ""
    if flavour.is_atom:
        return (
            " This looks like an AtoM/Heratio database (AtoM's object and "
            "information_object_i18n tables are present): imagear reads AtoM 2.x's and "
            "Heratio's tables as they define them; bring AtoM's schema up to date "
            "(`php symfony tools:upgrade-sql`) and check Heratio's install of object_image_ar "
            "and image_ar_settings."
        )
    return (
        " This does not look like an AtoM database (no object / information_object_i18n "
        "tables), so imagear expects its own tables: point database_url at Heratio's "
        "database, or at a database imagear created."
    )


def storage_error(
    failure: str,
    exc: BaseException,
    advice: str | None = None,
    *,
    flavour: Kind | None = None,
    table: str | None = None,
) -> StorageError:
    """``"<failure>: <cause>."`` with advice for the cause (else ``advice``). ``table`` names
    the table the statement wrote, for drivers whose message names only the column."""
    cause = classify(exc)
    why = reason(exc)
    if cause.kind == "missing_column":
        where = cause.table or table
        column = f"{where}.{cause.column}" if where and cause.column else cause.column
        what = f"the column {column} does not exist" if column else why
        return StorageError(
            f"{failure}: {what}.", (_kind_words(flavour) or f" {_CHECK_URL}").strip()
        )
    if cause.kind == "missing_table":
        name = cause.table or table or "?"
        return StorageError(
            f"{failure}: the table {name} does not exist.",
            (_kind_words(flavour) or f" {_CHECK_URL}").strip(),
        )
    messages: dict[str, tuple[str, str]] = {
        "does_not_fit": (
            f"a value does not fit its column on this database ({why})",
            "Nothing was recorded and the previous clip is kept; please report this, "
            "imagear should have fitted the value to the column.",
        ),
        "access": (
            f"the database refused access ({why})",
            "Check the user and password in database_url. imagear needs SELECT on AtoM's "
            "tables; SELECT, INSERT, UPDATE and DELETE on object_image_ar, image_ar_settings, "
            "image_ar_job and imagear_schema; and CREATE for its own two tables on first use.",
        ),
        "unreachable": (f"cannot reach the database server ({why})", _CHECK_URL),
        "unknown_database": (
            f"the database named in database_url does not exist ({why})",
            "Check the database name in database_url (`imagear config show`).",
        ),
        "busy": (
            f"another process held the rows too long ({why})",
            "Nothing was changed; try again (a long transaction of another program, e.g. a "
            "Heratio import, may be holding them).",
        ),
        "read_only": (
            f"the database is read-only ({why})",
            "Point database_url at a writable database (a primary, not a replica), or make "
            "it writable.",
        ),
    }
    if cause.kind == "busy" and _sqlite(exc):  # one file, one writer: no server, no Heratio
        messages["busy"] = (
            f"another process holds the SQLite database's write lock ({why})",
            "Nothing was changed; try again once the other imagear command (a batch run, "
            "another animate) has finished writing.",
        )
    if cause.kind in messages:
        what, default_advice = messages[cause.kind]
        return StorageError(f"{failure}: {what}.", default_advice)
    return StorageError(f"{failure}: {why}.", advice)


def _sqlite(exc: BaseException) -> bool:
    return type(_orig(exc)).__module__.startswith("sqlite3")


def needs_kind(exc: BaseException) -> bool:
    """Whether the advice for ``exc`` depends on the kind of database (a missing table or
    column)."""
    return classify(exc).kind in ("missing_column", "missing_table")


__all__ = ["Cause", "classify", "code_of", "needs_kind", "reason", "storage_error"]
