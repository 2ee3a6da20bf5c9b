"""Records (``information_object``) and their files (``digital_object``): the SQL, and the one
place the master-image rule is written.

The master image of a record is its top-level (``parent_id IS NULL``) ``image/*`` digital
object, preferring usage 140 (master), then 141 (reference), then 142 (thumbnail), then the
lowest id, exactly as Heratio picks it (REFERENCE.md section 2). :func:`is_master_file`,
:func:`has_master` and :func:`master_query` are that rule as SQL; everything that needs it
(record pages, the animate lookup, batch selection) builds on them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import (
    Case,
    ColumnElement,
    Connection,
    Engine,
    Exists,
    RowMapping,
    Select,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.rows import FileRow, clip_of, file_row
from imagear.db.schema import (
    CLIPS,
    FILES,
    RECORDS,
    USAGE_MASTER,
    USAGE_REFERENCE,
    USAGE_THUMBNAIL,
)
from imagear.domain import Clip, RecordSummary
from imagear.errors import ReadOnlyRecords, StorageError

RecordId = ColumnElement[int] | int  # a record's id: a column of a query, or a value


def is_master_file(oid: RecordId) -> ColumnElement[bool]:
    """SQL: a digital_object row that may be the master image of record ``oid``."""
    return (
        (FILES.c.object_id == oid) & FILES.c.mime_type.like("image/%") & FILES.c.parent_id.is_(None)
    )


def has_master(oid: RecordId) -> Exists:
    """SQL: record ``oid`` has a master image."""
    return exists(select(FILES.c.id).where(is_master_file(oid)))


def has_clip(oid: RecordId) -> Exists:
    """SQL: record ``oid`` has an animation: a row that names its video (Heratio treats a row
    without ``mp4_path`` as no video, and so a batch takes such a record again)."""
    video = CLIPS.c.mp4_path.is_not(None) & (CLIPS.c.mp4_path != "")
    return exists(select(CLIPS.c.id).where((CLIPS.c.object_id == oid) & video))


def _usage_rank() -> Case[int]:
    return case(
        (FILES.c.usage_id == USAGE_MASTER, 0),
        (FILES.c.usage_id == USAGE_REFERENCE, 1),
        (FILES.c.usage_id == USAGE_THUMBNAIL, 2),
        else_=3,
    )


def master_query(oid: RecordId) -> Select:
    """SELECT of record ``oid``'s candidate master images, best first."""
    return select(FILES).where(is_master_file(oid)).order_by(_usage_rank(), FILES.c.id)


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> StorageError:
    return flavour.failed(
        engine,
        f"Reading {what} from the database failed",
        exc,
        "Check database_url (`imagear config show`) and that its tables are imagear's or "
        "Heratio's.",
    )


def _record_columns(fl: flavour.Flavour) -> list[ColumnElement[object]]:
    r = fl.records
    return [r.c.id, r.c.identifier, fl.title().label("title")]


@dataclass
class RecordRows:
    """One record as stored: its id, identifier and title, its master image row and its clip
    (or None)."""

    id: int
    identifier: str | None
    title: str | None
    master: FileRow | None
    animation: Clip | None


def record_exists(conn: Connection, object_id: int) -> bool:
    return conn.execute(select(RECORDS.c.id).where(RECORDS.c.id == object_id)).first() is not None


def master_row(conn: Connection, object_id: int) -> FileRow | None:
    """The master image's digital_object row of a record, or None."""
    found = conn.execute(master_query(object_id).limit(1)).mappings().first()
    return file_row(found) if found is not None else None


def _record_row(conn: Connection, fl: flavour.Flavour, object_id: int) -> RowMapping | None:
    """The record's id, identifier and title, or None when it does not exist."""
    query = select(*_record_columns(fl)).where(fl.records.c.id == object_id)
    return conn.execute(query).mappings().first()


def get(engine: Engine, object_id: int) -> RecordRows | None:
    """A record with its master and animation rows; None when it does not exist."""
    fl = flavour.of(engine)
    try:
        with engine.connect() as conn:
            row = _record_row(conn, fl, object_id)
            if row is None:
                return None
            clips = fl.clips
            anim = conn.execute(select(clips).where(clips.c.object_id == object_id)).mappings()
            clip = anim.first()
            shown = clip_of(clip, fl) if clip is not None else None
            return RecordRows(
                int(row["id"]), row["identifier"], row["title"], master_row(conn, object_id), shown
            )
    except SQLAlchemyError as exc:
        raise _failed(engine, f"record {object_id}", exc) from exc


def named(engine: Engine, object_id: int) -> tuple[str | None, str | None] | None:
    """A record's identifier and title (one query; what a clip's credentials name), or None
    when it does not exist."""
    try:
        with engine.connect() as conn:
            row = _record_row(conn, flavour.of(engine), object_id)
    except SQLAlchemyError as exc:
        raise _failed(engine, f"record {object_id}", exc) from exc
    return None if row is None else (row["identifier"], row["title"])


def page(engine: Engine, limit: int, offset: int) -> tuple[list[RecordSummary], int]:
    """A page of records in id order, each with ``has_master`` / ``has_animation``, and the total."""
    fl = flavour.of(engine)
    r = fl.records
    query = (
        select(
            *_record_columns(fl),
            has_master(r.c.id).label("has_master"),
            has_clip(r.c.id).label("has_animation"),
        )
        .where(fl.listed())
        .order_by(r.c.id)
        .offset(offset)
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(r).where(fl.listed())
            ).scalar_one()
            rows = [
                RecordSummary(
                    int(row.id),
                    row.identifier,
                    row.title,
                    has_master=bool(row.has_master),
                    has_animation=bool(row.has_animation),
                )
                for row in conn.execute(query)
            ]
    except SQLAlchemyError as exc:
        raise _failed(engine, "the records", exc) from exc
    return rows, int(total)


def id_of_identifier(engine: Engine, identifier: str) -> int | None:
    """The id of a record with this identifier, or None."""
    query = select(RECORDS.c.id).where(RECORDS.c.identifier == identifier).limit(1)
    try:
        with engine.connect() as conn:
            found = conn.execute(query).scalar()
    except SQLAlchemyError as exc:
        raise _failed(engine, f"the identifier {identifier!r}", exc) from exc
    return int(found) if found is not None else None


class NewRecord:
    """A record being added (see :func:`adding`): its id, and the file row to attach."""

    def __init__(self, conn: Connection, record_id: int) -> None:
        self.conn = conn
        self.id = record_id

    def add_file(self, **values: object) -> int:
        """Insert the record's digital_object row; returns its id."""
        key = self.conn.execute(FILES.insert().values(object_id=self.id, **values))
        return int(key.inserted_primary_key[0])  # type: ignore[index]


def refuse_adding(engine: Engine) -> None:
    """ReadOnlyRecords on an AtoM/Heratio database: its records are AtoM's to make (with their
    ``object`` row, slug, nested-set position and i18n rows)."""
    if flavour.of(engine).is_atom:
        raise ReadOnlyRecords(
            "This is an AtoM/Heratio database: records (and their master images) are made in "
            "AtoM/Heratio, never by imagear."
        )


@contextlib.contextmanager
def adding(engine: Engine, identifier: str | None, title: str | None) -> Iterator[NewRecord]:
    """Insert a record in a transaction that commits when the block ends without an error (and
    rolls back, leaving no row, when it raises). Refused on an AtoM/Heratio database."""
    refuse_adding(engine)
    try:
        with engine.begin() as conn:
            key = conn.execute(RECORDS.insert().values(identifier=identifier, title=title))
            yield NewRecord(conn, int(key.inserted_primary_key[0]))  # type: ignore[index]
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Adding the record failed in the database",
            exc,
            "Check database_url (`imagear config show`) and that the database is writable.",
        ) from exc


__all__ = [
    "NewRecord",
    "RecordRows",
    "adding",
    "get",
    "has_clip",
    "has_master",
    "id_of_identifier",
    "is_master_file",
    "master_query",
    "master_row",
    "named",
    "page",
    "record_exists",
    "refuse_adding",
]
