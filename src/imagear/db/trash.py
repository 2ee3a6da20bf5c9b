"""Deleted clips kept for a while so that a curator can undo (``imagear_trash``, imagear's own
table). One row per deletion: the record, the clip row as it was (JSON, times in ISO 8601),
the files moved into the trash folder (each with where it came from), who deleted it and when.
The files themselves are :mod:`imagear.trash`'s (``{storage_root}/trash/{id}/``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Engine, Integer, String, Table, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.jobs import as_utc, lenient
from imagear.db.schema import AWARE, OWN_METADATA, utcnow

# A deleted clip that can still be restored (schema v6).
TRASH = Table(
    "imagear_trash",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, nullable=False, index=True),
    Column("clip", Text, nullable=False),  # the row, JSON
    Column("files", Text, nullable=False),  # [[from, kept as], ...], JSON
    Column("deleted_by", String(255)),
    Column("deleted_at", AWARE, nullable=False, default=utcnow),
)


@dataclass(frozen=True)
class TrashRow:
    id: int
    object_id: int
    clip: str
    files: str
    deleted_by: str | None
    deleted_at: datetime


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> Exception:
    return flavour.failed(engine, what, exc, "Check the database and try again.")


def _rows(engine: Engine, query: object, what: str) -> list[TrashRow]:
    try:
        with engine.connect() as conn:
            found = conn.execute(query).all()  # type: ignore[call-overload]
    except SQLAlchemyError as exc:
        raise _failed(engine, what, exc) from exc
    return [
        TrashRow(int(r.id), int(r.object_id), r.clip, r.files, r.deleted_by, as_utc(r.deleted_at))  # type: ignore[arg-type]
        for r in found
    ]


_COLUMNS = (
    TRASH.c.id,
    TRASH.c.object_id,
    TRASH.c.clip,
    TRASH.c.files,
    TRASH.c.deleted_by,
    lenient(TRASH.c.deleted_at),
)


def put(engine: Engine, object_id: int, clip: str, files: str, by: str | None) -> int:
    """Keep a deleted clip; its trash id."""
    values = {"object_id": object_id, "clip": clip, "files": files, "deleted_by": by}
    try:
        with engine.begin() as conn:
            key = conn.execute(insert(TRASH).values(**values, deleted_at=utcnow()))
            return int(key.inserted_primary_key[0])  # type: ignore[index]
    except SQLAlchemyError as exc:
        raise _failed(
            engine, f"Keeping the deleted clip of record {object_id} failed", exc
        ) from exc


def latest(engine: Engine, object_id: int) -> TrashRow | None:
    """The record's last deleted clip still in the trash, or None."""
    query = (
        select(*_COLUMNS).where(TRASH.c.object_id == object_id).order_by(TRASH.c.id.desc()).limit(1)
    )
    found = _rows(engine, query, f"Reading the trash of record {object_id} failed")
    return found[0] if found else None


def older_than(engine: Engine, before: datetime) -> list[TrashRow]:
    """The kept clips deleted before ``before`` (to purge)."""
    query = select(*_COLUMNS).where(TRASH.c.deleted_at < before).order_by(TRASH.c.id)
    return _rows(engine, query, "Reading the trash failed")


def forget(engine: Engine, trash_id: int) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(delete(TRASH).where(TRASH.c.id == trash_id))
    except SQLAlchemyError as exc:
        raise _failed(engine, "Emptying the trash failed", exc) from exc


__all__ = ["TRASH", "TrashRow", "forget", "latest", "older_than", "put"]
