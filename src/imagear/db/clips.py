"""The ``object_image_ar`` rows (one clip per record, UNIQUE object_id): every read and write.

- :func:`lookup`: what animating a record reads first, in one statement: whether the record
  exists, its clip row, and its master image row (:func:`imagear.db.records.master_query`).
- :func:`replacing`: the per-record write transaction of the replace protocol
  (:mod:`imagear.clips`): lock the record (:func:`imagear.db.locks.lock_record`), read its
  row, let the caller rename the new file into place, delete the old row and insert the new
  one (a new id, as Heratio replaces a clip), commit.
- :func:`delete` and :func:`recent`.

On an AtoM/Heratio database (:mod:`imagear.db.flavour`) values are fitted to Heratio's column
types before they are written (:meth:`~imagear.db.flavour.Flavour.fit`), timestamps are the
configured zone's wall-clock time (:func:`now`) and come back aware in that zone, and titles
come from ``information_object_i18n``. :func:`limit` tells a caller, before it generates
anything, what a column can hold.

Database errors become :class:`~imagear.errors.StorageError` with a message that says which of
these failed (:mod:`imagear.db.diagnose`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, Delete, Engine, Select, Table, bindparam, func, select
from sqlalchemy import delete as sa_delete
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour, locks
from imagear.db.flavour import ColumnLimit
from imagear.db.records import master_query
from imagear.db.review import REVIEW
from imagear.db.rows import FileRow, clip_of, file_row, text
from imagear.db.schema import CLIP_COLUMNS, FILES, RECORDS
from imagear.domain import Clip, RecentClip

COLUMNS = CLIP_COLUMNS  # what imagear reads and writes, on both kinds
_FILE_COLUMNS = tuple(c.name for c in FILES.c)
_MASTER_ID = (  # the record's master image as master_query picks it, for the outer record
    master_query(RECORDS.c.id)
    .with_only_columns(FILES.c.id)
    .limit(1)
    .correlate(RECORDS)  # its digital_object is its own, not the one joined outside
    .scalar_subquery()
)


@dataclass(frozen=True)
class _Statements:
    """The hot statements on one object_image_ar table handle (built once per handle: the
    lookup and the commit path run once per record of a batch)."""

    columns: tuple[Column[object], ...]
    row_of: Select
    remove: Delete
    lookup: Select


@functools.cache
def _statements(table: Table) -> _Statements:
    """Statements on ``table``: imagear's own object_image_ar, or Heratio's (whose naive
    DATETIMEs and DECIMALs are typed as Heratio made them; see :attr:`Flavour.clips`)."""
    columns = tuple(table.c[name] for name in COLUMNS)
    lookup = (
        select(
            RECORDS.c.id.label("record_id"),
            *[c.label(f"clip_{c.name}") for c in columns],
            *[c.label(f"file_{c.name}") for c in FILES.c],
        )
        .select_from(
            RECORDS.outerjoin(table, table.c.object_id == RECORDS.c.id).outerjoin(
                # the object_id term ties the file to the record for SQLAlchemy's FROM linter
                # too (without it MySQL's compilation warns of a cartesian product)
                FILES,
                (FILES.c.object_id == RECORDS.c.id) & (FILES.c.id == _MASTER_ID),
            )
        )
        .where(RECORDS.c.id == bindparam("object_id"))
    )
    return _Statements(
        columns,
        select(*columns).where(table.c.object_id == bindparam("object_id")),
        sa_delete(table).where(table.c.id == bindparam("row_id")),
        lookup,
    )


_WRITE_ADVICE = "The previous clip is kept; check the database and try again."
_READ_ADVICE = "Check database_url (`imagear config show`) and that the database is reachable."


def columns_of(clip: Clip) -> dict[str, object]:
    """A :class:`~imagear.domain.Clip` as object_image_ar's column values."""
    return {name: getattr(clip, name) for name in COLUMNS}


def now(engine: Engine) -> datetime:
    """The time to write into object_image_ar on this database (see
    :meth:`imagear.db.flavour.Flavour.now`)."""
    return flavour.of(engine).now()


def limit(engine: Engine, column: str) -> ColumnLimit | None:
    """What ``object_image_ar.<column>`` can hold on this database (None: no limit known)."""
    return flavour.of(engine).clip_limit(column)


def is_heratio(engine: Engine) -> bool:
    """Whether ``engine`` is an AtoM/Heratio database (object_image_ar is shared with Heratio)."""
    return flavour.of(engine).is_atom


@dataclass
class Lookup:
    """What :func:`lookup` found for one record."""

    record_exists: bool
    clip: Clip | None
    master: FileRow | None  # the master image's digital_object row


def lookup(engine: Engine, object_id: int) -> Lookup:
    """The record's existence, clip row and master image row, in one statement."""
    fl = flavour.of(engine)
    try:
        # autocommit: one read, no transaction to begin and roll back
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = (
                conn.execute(_statements(fl.clips).lookup, {"object_id": int(object_id)})
                .mappings()
                .first()
            )
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine, f"Reading record {object_id} from the database failed", exc, _READ_ADVICE
        ) from exc
    if found is None:
        return Lookup(False, None, None)
    clip = (
        clip_of({n: found[f"clip_{n}"] for n in COLUMNS}, fl)
        if found["clip_id"] is not None
        else None
    )
    master = (
        file_row({n: found[f"file_{n}"] for n in _FILE_COLUMNS})
        if found["file_id"] is not None
        else None
    )
    return Lookup(True, clip, master)


class ClipSlot:
    """A record's clip row inside its locked write transaction (see :func:`replacing`)."""

    def __init__(
        self,
        conn: Connection,
        object_id: int,
        row: Clip | None,
        fl: flavour.Flavour | None = None,
    ) -> None:
        self._conn = conn
        self._flavour = fl or flavour.Flavour(flavour.IMAGEAR, "")
        self.object_id = object_id
        self.row = row  # the row as it was when the lock was taken, or None
        self.committed = False

    def write(self, columns: Mapping[str, object]) -> tuple[str, Clip]:
        """Insert the record's new row; returns ("created" | "replaced", the row). A row the
        record had is deleted first, in the same transaction, as Heratio replaces a clip: the
        new row has a new id (Heratio's admin page lists the recent clips by id). Values are
        fitted to the columns first (StorageError, nothing written, when one cannot be held)."""
        fl = self._flavour
        columns = fl.fit(columns)
        # a curator's verdict was on the clip this one replaces
        self._conn.execute(sa_delete(REVIEW).where(REVIEW.c.object_id == self.object_id))
        if self.row is not None:
            self._conn.execute(_statements(fl.clips).remove, {"row_id": self.row.id})
        values = {**columns, "object_id": self.object_id}
        key = self._conn.execute(fl.clips.insert(), values).inserted_primary_key
        status = "created" if self.row is None else "replaced"
        return status, clip_of({**values, "id": key[0] if key else None}, fl)

    def commit(self) -> None:
        self._conn.commit()
        self.committed = True


@contextlib.contextmanager
def replacing(engine: Engine, object_id: int) -> Iterator[ClipSlot]:
    """Lock the record, read its clip row, and yield a :class:`ClipSlot`. Nothing is written
    unless the caller calls :meth:`ClipSlot.commit`; an error rolls everything back."""
    fl = flavour.of(engine)
    try:
        with engine.connect() as conn:
            try:
                locks.lock_record(conn, object_id)
                found = (
                    conn.execute(_statements(fl.clips).row_of, {"object_id": object_id})
                    .mappings()
                    .first()
                )
                row = clip_of(found, fl) if found is not None else None
                slot = ClipSlot(conn, object_id, row, fl)
                yield slot
                if not slot.committed:
                    conn.rollback()
            except BaseException:
                conn.rollback()
                raise
            finally:
                locks.release(conn)
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Recording the clip in the database failed",
            exc,
            _WRITE_ADVICE,
            table="object_image_ar",
        ) from exc


def record_of_clip(engine: Engine, clip_id: int) -> int | None:
    """The record whose clip row is ``clip_id`` (``object_image_ar.id``), or None."""
    clips = flavour.of(engine).clips
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(clips.c.object_id).where(clips.c.id == clip_id)
            ).scalar_one_or_none()
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine, f"Reading clip {clip_id} from the database failed", exc, _READ_ADVICE
        ) from exc
    return int(found) if found is not None else None


def delete(engine: Engine, object_id: int, clip_id: int | None = None) -> Clip | None:
    """Delete the record's clip row under the record lock; returns the row, or None if none
    (or, with ``clip_id``, when the record's row is no longer that one)."""
    fl = flavour.of(engine)
    try:
        with engine.connect() as conn:
            try:
                locks.lock_record(conn, object_id)
                found = (
                    conn.execute(_statements(fl.clips).row_of, {"object_id": object_id})
                    .mappings()
                    .first()
                )
                if found is None or clip_id is not None and found["id"] != clip_id:
                    conn.rollback()
                    return None
                conn.execute(sa_delete(fl.clips).where(fl.clips.c.id == found["id"]))
                conn.execute(sa_delete(REVIEW).where(REVIEW.c.object_id == object_id))
                conn.commit()
                return clip_of(found, fl)
            except BaseException:
                conn.rollback()
                raise
            finally:
                locks.release(conn)
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            f"Deleting the clip row of record {object_id} failed",
            exc,
            "Nothing was deleted; check the database and try again.",
        ) from exc


def recent(engine: Engine, n: int) -> tuple[list[RecentClip], int]:
    """The last ``n`` clip rows (newest first) with their record's identifier and title, and
    the total number of clips."""
    fl = flavour.of(engine)
    r, clips = fl.records, fl.clips
    query = (
        select(*_statements(clips).columns, r.c.identifier, fl.title().label("title"))
        .select_from(clips.outerjoin(r, r.c.id == clips.c.object_id))
        .order_by(clips.c.updated_at.desc(), clips.c.id.desc())
        .limit(max(0, int(n)))
    )
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(clips)).scalar_one()
            rows = [
                RecentClip(clip_of(row, fl), text(row["identifier"]), title=text(row["title"]))
                for row in conn.execute(query).mappings()
            ]
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Reading the recent clips failed", exc, _READ_ADVICE) from exc
    return rows, int(total)


def rows(engine: Engine, object_ids: Sequence[int] | None = None) -> list[Clip]:
    """The clip rows of ``object_ids`` (None: every clip), by object_id (``imagear check``)."""
    fl = flavour.of(engine)
    clips = fl.clips
    query = select(*_statements(clips).columns).order_by(clips.c.object_id)
    if object_ids is not None:
        query = query.where(clips.c.object_id.in_([int(i) for i in object_ids]))
    try:
        with engine.connect() as conn:
            return [clip_of(row, fl) for row in conn.execute(query).mappings()]
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Reading the clips failed", exc, _READ_ADVICE) from exc


__all__ = [
    "COLUMNS",
    "ClipSlot",
    "ColumnLimit",
    "Lookup",
    "clip_of",
    "columns_of",
    "delete",
    "is_heratio",
    "limit",
    "lookup",
    "now",
    "recent",
    "replacing",
    "rows",
]
