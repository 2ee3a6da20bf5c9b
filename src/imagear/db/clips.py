"""The ``object_image_ar`` rows (one clip per record, UNIQUE object_id): every read and write.

- :func:`lookup`: what animating a record reads first, in one statement: whether the record
  exists, its clip row, and its master image row (:func:`imagear.db.records.master_query`).
- :func:`replacing`: the per-record write transaction of the replace protocol
  (:mod:`imagear.clips`): lock the record (:func:`imagear.db.locks.lock_record`), read its
  row, let the caller rename the new file into place, insert or update the row, commit.
- :func:`delete` and :func:`recent`.

Database errors become :class:`~imagear.errors.StorageError` with a message that says which of
these failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import locks
from imagear.db.records import master_query
from imagear.db.schema import CLIPS, FILES, RECORDS
from imagear.errors import StorageError

COLUMNS = tuple(c.name for c in CLIPS.c)
_FILE_COLUMNS = tuple(c.name for c in FILES.c)

# Built once: the lookup and the commit path run once per record of a batch.
_ROW_OF = select(CLIPS).where(CLIPS.c.object_id == bindparam("object_id"))
_UPDATE = update(CLIPS).where(CLIPS.c.id == bindparam("row_id"))
_MASTER_ID = (  # the record's master image as master_query picks it, for the outer record
    master_query(RECORDS.c.id)
    .with_only_columns(FILES.c.id)
    .limit(1)
    .correlate(RECORDS)  # its digital_object is its own, not the one joined outside
    .scalar_subquery()
)
_LOOKUP = (
    select(
        RECORDS.c.id.label("record_id"),
        *[c.label(f"clip_{c.name}") for c in CLIPS.c],
        *[c.label(f"file_{c.name}") for c in FILES.c],
    )
    .select_from(
        RECORDS.outerjoin(CLIPS, CLIPS.c.object_id == RECORDS.c.id).outerjoin(
            FILES, FILES.c.id == _MASTER_ID
        )
    )
    .where(RECORDS.c.id == bindparam("object_id"))
)

_WRITE_ADVICE = "The previous clip is kept; check the database and try again."
_READ_ADVICE = "Check database_url (`imagear config show`) and that the database is reachable."


def row_dict(values: Mapping[Any, Any]) -> dict[str, Any]:
    """An object_image_ar row as a dict keyed by column; columns ``values`` lacks are None."""
    return {name: values.get(name) for name in COLUMNS}


@dataclass
class Lookup:
    """What :func:`lookup` found for one record."""

    record_exists: bool
    clip: dict[str, Any] | None
    master: dict[str, Any] | None  # the master image's digital_object row


def lookup(engine: Engine, object_id: int) -> Lookup:
    """The record's existence, clip row and master image row, in one statement."""
    try:
        # autocommit: one read, no transaction to begin and roll back
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(_LOOKUP, {"object_id": int(object_id)}).mappings().first()
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Reading record {object_id} from the database failed: {locks.reason(exc)}.",
            _READ_ADVICE,
        ) from exc
    if found is None:
        return Lookup(False, None, None)
    clip = {n: found[f"clip_{n}"] for n in COLUMNS} if found["clip_id"] is not None else None
    master = (
        {n: found[f"file_{n}"] for n in _FILE_COLUMNS} if found["file_id"] is not None else None
    )
    return Lookup(True, clip, master)


class ClipSlot:
    """A record's clip row inside its locked write transaction (see :func:`replacing`)."""

    def __init__(self, conn: Connection, object_id: int, row: dict[str, Any] | None) -> None:
        self._conn = conn
        self.object_id = object_id
        self.row = row  # the row as it was when the lock was taken, or None
        self.committed = False

    def write(self, columns: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Insert the row or update it in place; returns ("created" | "replaced", the row)."""
        if self.row is None:
            values = {**columns, "object_id": self.object_id}
            key = self._conn.execute(CLIPS.insert(), values).inserted_primary_key
            return "created", row_dict({**values, "id": key[0] if key else None})
        self._conn.execute(_UPDATE, {**columns, "row_id": self.row["id"]})
        return "replaced", row_dict({**self.row, **columns})

    def commit(self) -> None:
        self._conn.commit()
        self.committed = True


@contextlib.contextmanager
def replacing(engine: Engine, object_id: int) -> Iterator[ClipSlot]:
    """Lock the record, read its clip row, and yield a :class:`ClipSlot`. Nothing is written
    unless the caller calls :meth:`ClipSlot.commit`; an error rolls everything back."""
    try:
        with engine.connect() as conn:
            try:
                locks.lock_record(conn, object_id)
                found = conn.execute(_ROW_OF, {"object_id": object_id}).mappings().first()
                slot = ClipSlot(conn, object_id, row_dict(found) if found is not None else None)
                yield slot
                if not slot.committed:
                    conn.rollback()
            except BaseException:
                conn.rollback()
                raise
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Recording the clip in the database failed: {locks.reason(exc)}.", _WRITE_ADVICE
        ) from exc


def delete(engine: Engine, object_id: int) -> dict[str, Any] | None:
    """Delete the record's clip row under the record lock; returns the row, or None if none."""
    try:
        with engine.connect() as conn:
            try:
                locks.lock_record(conn, object_id)
                found = conn.execute(_ROW_OF, {"object_id": object_id}).mappings().first()
                if found is None:
                    conn.rollback()
                    return None
                conn.execute(sa_delete(CLIPS).where(CLIPS.c.id == found["id"]))
                conn.commit()
                return row_dict(found)
            except BaseException:
                conn.rollback()
                raise
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Deleting the clip row of record {object_id} failed: {locks.reason(exc)}.",
            "Nothing was deleted; check the database and try again.",
        ) from exc


def recent(engine: Engine, n: int) -> tuple[list[dict[str, Any]], int]:
    """The last ``n`` clip rows (newest first) with their record's identifier and title, and
    the total number of clips."""
    query = (
        select(CLIPS, RECORDS.c.identifier, RECORDS.c.title)
        .select_from(CLIPS.outerjoin(RECORDS, RECORDS.c.id == CLIPS.c.object_id))
        .order_by(CLIPS.c.updated_at.desc(), CLIPS.c.id.desc())
        .limit(max(0, int(n)))
    )
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(CLIPS)).scalar_one()
            rows = [
                {**row_dict(r), "identifier": r["identifier"], "title": r["title"]}
                for r in conn.execute(query).mappings()
            ]
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Reading the recent clips failed: {locks.reason(exc)}.", _READ_ADVICE
        ) from exc
    return rows, int(total)


__all__ = ["COLUMNS", "ClipSlot", "Lookup", "delete", "lookup", "recent", "replacing", "row_dict"]
