"""Curators' review of clips (the web console): ``imagear_review``, imagear's own table.

One row per record whose clip a curator approved or rejected: ``state`` (approved | rejected),
who, when, an optional note, and the clip it judged: ``clip_path`` (its ``mp4_path``) and
``clip_sha256`` (its file's checksum; NULL for verdicts from before schema v5). A verdict holds
only while the record's clip is that one (:func:`approved_sql`, :func:`bound`): Heratio replaces
a clip without knowing of imagear's table, and its new clip is unreviewed. The table is imagear's (its name cannot clash with an AtoM or
Heratio table); no column is ever added to Heratio's tables. A rejected record is also queued
for the batch with a new seed: its ``image_ar_job`` row becomes ``pending`` with the failure
kind ``quality`` (the batch draws a new seed for those, :mod:`imagear.batch.runner`).
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.records import RecordId, has_master
from imagear.db.rows import clip_of
from imagear.db.schema import AWARE, CLIPS, JOB, OWN_METADATA, utcnow
from imagear.domain import GridRow, Review

APPROVED, REJECTED = "approved", "rejected"
STATES = (APPROVED, REJECTED)
REQUEUE_KIND = "quality"  # the batch draws a new seed for this kind
REQUEUE_MESSAGE = "Rejected by a curator in the web console; to be made again with a new seed."


# A curator's verdict on a record's clip (schema v3), bound to the clip it judged (v5).
REVIEW = Table(
    "imagear_review",
    OWN_METADATA,
    Column("object_id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(20), nullable=False),
    Column("reviewed_by", String(255)),
    Column("note", String(1000)),
    Column("reviewed_at", AWARE, nullable=False, default=utcnow),
    Column("clip_path", String(500)),  # the mp4_path judged (v5)
    Column("clip_sha256", String(64)),  # its file's checksum (v5)
)
_VIDEO = CLIPS.c.mp4_path.is_not(None) & (CLIPS.c.mp4_path != "")


def approved_sql(oid: RecordId) -> ColumnElement[bool]:
    """SQL, on a ``REVIEW`` row: a curator approved record ``oid``'s clip, and the record's
    clip is still the one approved (its mp4_path; a clip Heratio made since is not)."""
    judged = select(CLIPS.c.id).where(
        CLIPS.c.object_id == oid, CLIPS.c.mp4_path == REVIEW.c.clip_path
    )
    judged = judged.correlate_except(CLIPS)  # the record and the verdict are the outer rows
    return and_(REVIEW.c.object_id == oid, REVIEW.c.state == APPROVED, exists(judged))


def rejected_sql(oid: RecordId) -> ColumnElement[bool]:
    """SQL: a curator rejected record ``oid``'s clip, and no other clip came since."""
    other = (
        select(CLIPS.c.id)
        .where(
            CLIPS.c.object_id == oid,
            _VIDEO,
            or_(REVIEW.c.clip_path.is_(None), CLIPS.c.mp4_path != REVIEW.c.clip_path),
        )
        .correlate_except(CLIPS)
    )  # the record and the verdict are the outer rows
    held = and_(REVIEW.c.object_id == oid, REVIEW.c.state == REJECTED, ~exists(other))
    return exists(select(REVIEW.c.object_id).where(held))


def bound(state: str, clip_path: object, current: str | None) -> bool:
    """Whether a verdict on the clip at ``clip_path`` holds for the record's clip at
    ``current`` (None: the record has no video): an approval holds for that clip only, a
    rejection until another clip comes."""
    if state == APPROVED:
        return current is not None and current == clip_path
    return current is None or current == clip_path


def add_clip_columns(conn: Connection) -> None:
    """Schema v5: the clip a verdict judged. Verdicts from before are bound to the clip their
    record has now (the one a curator saw, unless Heratio replaced it since: not knowable),
    with no checksum."""
    have = {c["name"] for c in inspect(conn).get_columns("imagear_review")}
    for name, length in (("clip_path", 500), ("clip_sha256", 64)):
        if name not in have:
            conn.execute(text(f"ALTER TABLE imagear_review ADD COLUMN {name} VARCHAR({length})"))
    current = select(CLIPS.c.mp4_path).where(CLIPS.c.object_id == REVIEW.c.object_id, _VIDEO)
    conn.execute(
        update(REVIEW)
        .where(REVIEW.c.clip_path.is_(None))
        .values(clip_path=current.limit(1).scalar_subquery())
    )


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> Exception:
    return flavour.failed(
        engine,
        what,
        exc,
        "Check database_url (`imagear config show`) and that the database is writable.",
    )


def get(engine: Engine, object_id: int) -> tuple[Review, str | None, str | None] | None:
    """The record's review, with the clip it judged (its mp4_path and checksum), or None."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(REVIEW).where(REVIEW.c.object_id == object_id)).first()
    except SQLAlchemyError as exc:
        raise _failed(engine, f"Reading the review of record {object_id} failed", exc) from exc
    if row is None:
        return None
    at = row.reviewed_at
    review = Review(
        int(row.object_id),
        row.state,
        row.reviewed_by,
        at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at,
    )
    return review, row.clip_path, row.clip_sha256


def set_state(
    engine: Engine,
    object_id: int,
    state: str,
    by: str | None,
    *,
    clip: tuple[str | None, str | None] = (None, None),
    requeue: bool = False,
) -> None:
    """Record ``state`` for the record's clip ``clip`` (its mp4_path and checksum), replacing
    an earlier verdict; ``requeue``: also make its batch job ``pending`` with the kind that
    draws a new seed. One transaction."""
    if state not in STATES:
        raise ValueError(f"unknown review state {state!r}")
    now = utcnow()
    try:
        with engine.begin() as conn:
            conn.execute(delete(REVIEW).where(REVIEW.c.object_id == object_id))
            conn.execute(
                REVIEW.insert().values(
                    object_id=object_id,
                    state=state,
                    reviewed_by=by,
                    reviewed_at=now,
                    clip_path=clip[0],
                    clip_sha256=clip[1],
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
    """Records whose current clip a curator approved (for ``batch --all`` to leave alone)."""
    try:
        with engine.connect() as conn:
            found = conn.execute(select(REVIEW.c.object_id).where(approved_sql(REVIEW.c.object_id)))
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
    "add_clip_columns",
    "approved_ids",
    "approved_sql",
    "bound",
    "clear",
    "get",
    "rejected_sql",
    "set_state",
    "unreviewed",
]
