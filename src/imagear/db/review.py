"""Curators' review of clips (the web console): ``imagear_review``, imagear's own table.

One row per record whose clip a curator approved or rejected: ``state`` (approved | rejected),
who, when, an optional note. The table is imagear's (its name cannot clash with an AtoM or
Heratio table); no column is ever added to Heratio's tables. A rejected record is also queued
for the batch with a new seed: its ``image_ar_job`` row becomes ``pending`` with the failure
kind ``quality`` (the batch draws a new seed for those, :mod:`imagear.batch.runner`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, Table, delete, exists, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel

from imagear.db import flavour
from imagear.db.records import has_master
from imagear.db.rows import clip_of
from imagear.db.schema import AWARE, JOB, utcnow
from imagear.domain import GridRow, Review

APPROVED, REJECTED = "approved", "rejected"
STATES = (APPROVED, REJECTED)
REQUEUE_KIND = "quality"  # the batch draws a new seed for this kind
REQUEUE_MESSAGE = "Rejected by a curator in the web console; to be made again with a new seed."


class ImagearReview(SQLModel, table=True):
    """A curator's verdict on a record's clip (schema v3)."""

    __tablename__ = "imagear_review"
    object_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    state: str = Field(max_length=20)
    reviewed_by: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, max_length=1000)
    reviewed_at: datetime = Field(default_factory=utcnow, sa_type=AWARE)


REVIEW: Table = ImagearReview.__table__  # type: ignore[attr-defined]


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> Exception:
    return flavour.failed(
        engine,
        what,
        exc,
        "Check database_url (`imagear config show`) and that the database is writable.",
    )


def get(engine: Engine, object_id: int) -> Review | None:
    """The review of a record, or None."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(REVIEW).where(REVIEW.c.object_id == object_id)).first()
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Reading the review of record {object_id} failed", exc) from exc
    if row is None:
        return None
    at = row.reviewed_at
    return Review(
        int(row.object_id),
        row.state,
        row.reviewed_by,
        at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at,
    )


def set_state(
    engine: Engine, object_id: int, state: str, by: str | None, *, requeue: bool = False
) -> None:
    """Record ``state`` for the record (replacing an earlier verdict); ``requeue``: also make
    its batch job ``pending`` with the kind that draws a new seed. One transaction."""
    if state not in STATES:
        raise ValueError(f"unknown review state {state!r}")
    now = utcnow()
    try:
        with engine.begin() as conn:
            conn.execute(delete(REVIEW).where(REVIEW.c.object_id == object_id))
            conn.execute(
                REVIEW.insert().values(
                    object_id=object_id, state=state, reviewed_by=by, reviewed_at=now
                )
            )
            if requeue:
                conn.execute(delete(JOB).where(JOB.c.object_id == object_id))
                conn.execute(
                    JOB.insert().values(
                        object_id=object_id,
                        status="pending",
                        attempts=0,
                        last_error=REQUEUE_MESSAGE,
                        last_error_kind=REQUEUE_KIND,
                        updated_at=now,
                    )
                )
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Recording the review of record {object_id} failed", exc) from exc


def clear(engine: Engine, object_id: int) -> None:
    """Forget a record's verdict (a new clip was stored)."""
    try:
        with engine.begin() as conn:
            conn.execute(delete(REVIEW).where(REVIEW.c.object_id == object_id))
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Clearing the review of record {object_id} failed", exc) from exc


def approved_ids(engine: Engine) -> set[int]:
    """Records whose clip a curator approved (for ``batch --all`` to leave alone)."""
    try:
        with engine.connect() as conn:
            found = conn.execute(select(REVIEW.c.object_id).where(REVIEW.c.state == APPROVED))
            return {int(row[0]) for row in found}
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading the approved records failed", exc) from exc


def unreviewed(engine: Engine, limit: int) -> tuple[list[GridRow], int]:
    """The review queue: records with a clip and no verdict, in id order (the first ``limit``,
    each with its clip), and how many there are."""
    fl = flavour.of(engine)
    r, c = fl.records, fl.clips
    waiting = (
        exists(select(c.c.object_id).where(c.c.object_id == r.c.id)),
        ~exists(select(REVIEW.c.object_id).where(REVIEW.c.object_id == r.c.id)),
        fl.listed(),
    )
    query = (
        select(r.c.id, r.c.identifier, fl.title().label("title"), has_master(r.c.id).label("m"))
        .where(*waiting)
        .order_by(r.c.id)
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(r).where(*waiting)).scalar_one()
            rows = conn.execute(query).all()
            ids = [int(row.id) for row in rows]
            clips = (
                {
                    int(m["object_id"]): clip_of(m, fl)
                    for m in conn.execute(select(c).where(c.c.object_id.in_(ids))).mappings()
                }
                if ids
                else {}
            )
    except SQLAlchemyError as exc:
        raise _failed(engine, "Reading the review queue failed", exc) from exc
    queue = [
        GridRow(int(row.id), row.identifier, row.title, bool(row.m), clips.get(int(row.id)))
        for row in rows
    ]
    return queue, int(total)


__all__ = [
    "APPROVED",
    "REJECTED",
    "REVIEW",
    "STATES",
    "ImagearReview",
    "approved_ids",
    "clear",
    "get",
    "set_state",
    "unreviewed",
]
