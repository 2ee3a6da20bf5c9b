"""Which kind of database an engine points at, decided once on first use, and what follows.

Two kinds:

- ``imagear``: imagear's own database (its ``information_object`` carries a ``title``);
- ``atom``: an existing AtoM/Heratio database, recognised by AtoM's ``object`` and
  ``information_object_i18n`` tables. Titles are read from ``information_object_i18n`` as
  Heratio shows them (the configured ``culture``, then English; else the source culture, else
  any), AtoM's root description (the one without
  a parent) is not a record, timestamps written into Heratio's timezone-less DATETIME columns
  are UTC as Heratio writes them (or wall-clock times in the configured ``time_zone``),
  and every ``object_image_ar`` value is fitted to the column types Heratio's install made
  (:meth:`Flavour.fit`): MySQL in strict mode refuses a value that does not fit.

:func:`of` gives an engine's :class:`Flavour` (detected once, cached per engine);
:func:`set_time_zone` is how the caller hands in the configured zone before first use.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, func, inspect, literal_column, select, text
from sqlalchemy import types as sa_types
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import diagnose
from imagear.db.constants import ATOM_MARKERS
from imagear.db.engine import family
from imagear.db.fold import TRIGRAM_INDEXES
from imagear.db.schema import (
    ATOM_RECORDS,
    ATOM_TITLES,
    CLIP_COLUMNS,
    CLIPS,
    HERATIO_CLIPS,
    HERATIO_SETTINGS,
    RECORDS,
    SETTINGS,
    utcnow,
)
from imagear.errors import StorageError

IMAGEAR, ATOM = "imagear", "atom"
_INT_MAX = {"SMALLINT": 2**15 - 1, "MEDIUMINT": 2**23 - 1, "BIGINT": 2**63 - 1, "TINYINT": 127}


@dataclass(frozen=True)
class ColumnLimit:
    """What a column of ``object_image_ar`` can hold, as the database defines it."""

    name: str
    type_text: str  # e.g. DECIMAL(4,2)
    integer: bool = False
    scale: int | None = None  # decimals kept (DECIMAL)
    max_value: float | None = None
    length: int | None = None  # characters (VARCHAR)

    def describe(self) -> str:
        if self.max_value is not None:
            return f"{self.type_text}, at most {self.max_value:g}"
        if self.length is not None:
            return f"{self.type_text}, at most {self.length} characters"
        return self.type_text


def _limit(name: str, col_type: Any, dialect: Any) -> ColumnLimit:
    try:
        text = str(col_type.compile(dialect=dialect))
    except Exception:  # noqa: BLE001 - a type the dialect cannot print: its class name
        text = type(col_type).__name__
    text = text.replace(" ", "")
    base = text.split("(", 1)[0].upper()
    if isinstance(col_type, sa_types.Integer):
        top = _INT_MAX.get(base, 2**31 - 1)
        if getattr(col_type, "unsigned", False):
            top = top * 2 + 1
        return ColumnLimit(name, text, integer=True, max_value=float(top))
    if isinstance(col_type, sa_types.Numeric) and not isinstance(col_type, sa_types.Float):
        precision, scale = col_type.precision, col_type.scale
        if precision is not None:
            s = int(scale or 0)
            most = float(Decimal(10) ** (precision - s) - Decimal(10) ** -s)
            return ColumnLimit(name, text, scale=s, max_value=most)
    length = getattr(col_type, "length", None)
    if isinstance(col_type, sa_types.String) and length:
        return ColumnLimit(name, text, length=int(length))
    return ColumnLimit(name, text)


@dataclass(frozen=True)
class Flavour:
    """What kind of database an engine points at, and the rules that follow from it."""

    kind: str
    family: str  # sqlite | postgresql | mysql
    zone: tzinfo | None = None  # wall-clock zone of Heratio's DATETIMEs; None: UTC (Heratio's)
    clip_columns: Mapping[str, ColumnLimit] = field(default_factory=dict)
    culture: str = "en"  # the titles shown first (Heratio's interface culture), then English
    search_indexed: bool = False  # PostgreSQL: imagear's trigram indexes of titles (step 8)

    @property
    def is_atom(self) -> bool:
        return self.kind == ATOM

    # -- records --------------------------------------------------------------------------------

    @property
    def records(self) -> Table:
        """``information_object`` as this kind defines it (AtoM's has no title column)."""
        return ATOM_RECORDS if self.is_atom else RECORDS

    @property
    def clips(self) -> Table:
        """``object_image_ar`` typed as this kind defines it: Heratio's naive DATETIMEs and
        DECIMALs on an AtoM/Heratio database; imagear's own (aware UTC times) otherwise."""
        return HERATIO_CLIPS if self.is_atom else CLIPS

    @property
    def settings(self) -> Table:
        """``image_ar_settings`` typed as this kind defines it (see :attr:`clips`)."""
        return HERATIO_SETTINGS if self.is_atom else SETTINGS

    def title(self) -> Any:
        """SQL: the title of the :attr:`records` row of the enclosing statement. AtoM: from
        information_object_i18n as Heratio shows it, in :attr:`culture` (its interface
        culture), then English; where neither has one (Heratio would show none), in the
        record's source culture, then the first other culture (alphabetically) that has one."""
        if not self.is_atom:
            return RECORDS.c.title
        r, t = ATOM_RECORDS, ATOM_TITLES
        titled = and_(t.c.id == r.c.id, t.c.title.is_not(None), t.c.title != "")
        # separate lookups rather than one ORDER BY on the outer row: SQLite cannot order a
        # subquery by a column of the enclosing query
        firsts = [self.culture] + (["en"] if self.culture != "en" else [])
        lookups = [select(t.c.title).where(titled, t.c.culture == c) for c in firsts]
        lookups.append(select(t.c.title).where(titled, t.c.culture == r.c.source_culture))
        lookups.append(select(t.c.title).where(titled).order_by(t.c.culture).limit(1))
        return func.coalesce(*(q.correlate(r).scalar_subquery() for q in lookups))

    def listed(self) -> Any:
        """SQL: the :attr:`records` row is a record to list (AtoM: not the root description)."""
        if self.is_atom:
            return ATOM_RECORDS.c.parent_id.is_not(None)
        return RECORDS.c.id.is_not(None)

    # -- object_image_ar values -----------------------------------------------------------------

    def now(self) -> datetime:
        """The time to write into object_image_ar / image_ar_settings: aware UTC on imagear's
        own database (as before); on AtoM/Heratio's the naive wall-clock time in the configured
        zone, UTC when none is configured (Heratio writes UTC), never this machine's zone."""
        if not self.is_atom:
            return utcnow()
        return datetime.now(self.zone or UTC).replace(tzinfo=None, microsecond=0)

    def shown_time(self, value: Any) -> Any:
        """A time read back from object_image_ar: on AtoM/Heratio's, aware in the zone."""
        if not self.is_atom or not isinstance(value, datetime) or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=self.zone or UTC)

    def clip_row(self, values: Mapping[Any, Any]) -> dict[str, Any]:
        """An object_image_ar row as imagear shows it, whichever kind wrote it: its columns
        (None where ``values`` lacks one), Heratio's DECIMALs as numbers, times as
        :meth:`shown_time` shows them."""
        row = {name: values.get(name) for name in CLIP_COLUMNS}
        for name, value in row.items():
            if isinstance(value, Decimal):
                row[name] = float(value)
        for name in ("created_at", "updated_at"):
            row[name] = self.shown_time(row[name])
        return row

    def clip_limit(self, column: str) -> ColumnLimit | None:
        """The column's limit on this database (None: unknown or unbounded)."""
        found = self.clip_columns.get(column)
        return found if found is not None and (found.max_value or found.length) else None

    def fit(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` for object_image_ar as its columns hold them: a number rounded to the
        column's decimals (whole numbers for INT), or StorageError naming the column and its
        limit when it cannot be held (nothing is written)."""
        out = dict(values)
        for name, value in values.items():
            limit = self.clip_columns.get(name)
            if limit is None or value is None or isinstance(value, bool):
                continue
            if isinstance(value, int | float | Decimal) and (
                limit.integer or limit.scale is not None
            ):
                number = round(float(value)) if limit.integer else round(float(value), limit.scale)
                if limit.max_value is not None and abs(number) > limit.max_value:
                    raise _does_not_fit(name, value, limit)
                out[name] = number
            elif isinstance(value, str) and limit.length is not None and len(value) > limit.length:
                raise _does_not_fit(name, value, limit)
        return out


def _does_not_fit(name: str, value: Any, limit: ColumnLimit) -> StorageError:
    shown = f"{len(value)} characters" if isinstance(value, str) else f"{value}"
    return StorageError(
        f"The value of object_image_ar.{name} ({shown}) does not fit the column on this "
        f"database ({limit.describe()}); nothing was recorded.",
        "The previous clip is kept. Generate a clip whose values fit (e.g. a shorter clip).",
    )


# -- detection, cached per engine -----------------------------------------------------------------

_lock = threading.Lock()
_flavours: weakref.WeakKeyDictionary[Engine, Flavour] = weakref.WeakKeyDictionary()
_zones: weakref.WeakKeyDictionary[Engine, tzinfo | None] = weakref.WeakKeyDictionary()
_cultures: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def detect(conn: Connection) -> str:
    """``atom`` when AtoM's object and information_object_i18n tables exist, else ``imagear``."""
    insp = inspect(conn)
    return ATOM if all(insp.has_table(name) for name in ATOM_MARKERS) else IMAGEAR


def set_time_zone(engine: Engine, zone: tzinfo | None) -> None:
    """The wall-clock zone of Heratio's timestamps for ``engine`` (None: UTC)."""
    with _lock:
        _zones[engine] = zone
        _flavours.pop(engine, None)


def set_culture(engine: Engine, culture: str) -> None:
    """The AtoM culture whose titles ``engine``'s flavour shows first (then English)."""
    with _lock:
        _cultures[engine] = culture
        _flavours.pop(engine, None)


def zone_of(engine: Engine) -> tzinfo | None:
    """The zone handed in by :func:`set_time_zone` (None: UTC)."""
    with _lock:
        return _zones.get(engine)


def forget(engine: Engine) -> None:
    """Detect again on next use (after the tables changed: a migration)."""
    with _lock:
        _flavours.pop(engine, None)


def cached(engine: Engine) -> Flavour | None:
    """The flavour if it was already detected (no database access)."""
    with _lock:
        return _flavours.get(engine)


def of(engine: Engine) -> Flavour:
    """The engine's flavour: detected on first use (two catalogue lookups and one reflection
    of object_image_ar), then cached."""
    with _lock:
        found = _flavours.get(engine)
        zone = _zones.get(engine)
        culture = _cultures.get(engine, "en")
    if found is not None:
        return found
    try:
        with engine.connect() as conn:
            kind = detect(conn)
            insp = inspect(conn)
            columns = (
                {
                    c["name"]: _limit(c["name"], c["type"], engine.dialect)
                    for c in insp.get_columns("object_image_ar")
                }
                if insp.has_table("object_image_ar")
                else {}
            )
            indexed = kind != ATOM and _search_indexed(conn)
    except SQLAlchemyError as exc:
        raise diagnose.storage_error("Reading what kind of database this is failed", exc) from exc
    flavour = Flavour(kind, family(engine.dialect.name), zone, columns, culture, indexed)
    with _lock:
        _flavours[engine] = flavour
    return flavour


def _search_indexed(conn: Connection) -> bool:
    """PostgreSQL: whether imagear's records have every trigram index of the search (schema
    step 8 makes them where ``pg_trgm`` can be had)."""
    if conn.dialect.name != "postgresql":
        return False
    names = (
        select(func.count())
        .select_from(text("pg_indexes"))
        .where(
            literal_column("schemaname") == func.current_schema(),
            literal_column("indexname").in_(list(TRIGRAM_INDEXES)),
        )
    )
    return conn.execute(names).scalar_one() == len(TRIGRAM_INDEXES)


def failed(
    engine: Engine,
    failure: str,
    exc: BaseException,
    advice: str | None = None,
    *,
    table: str | None = None,
) -> StorageError:
    """:func:`imagear.db.diagnose.storage_error` for ``engine``: a missing table or column
    also says whether the database looks like an AtoM/Heratio one."""
    flavour = cached(engine)
    if flavour is None and diagnose.needs_kind(exc):
        try:
            with engine.connect() as conn:
                flavour = Flavour(detect(conn), family(engine.dialect.name))
        except SQLAlchemyError:
            flavour = None
    return diagnose.storage_error(failure, exc, advice, flavour=flavour, table=table)


__all__ = [
    "ATOM",
    "IMAGEAR",
    "ColumnLimit",
    "Flavour",
    "cached",
    "detect",
    "failed",
    "forget",
    "of",
    "set_culture",
    "set_time_zone",
    "zone_of",
]
