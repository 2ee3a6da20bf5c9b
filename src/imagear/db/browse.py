"""The web console's record grid: one page of records (LIMIT/OFFSET in SQL, never all of them),
searched by identifier or title and filtered by what happened to them.

Filters (:data:`FILTERS`): ``animated`` (has a clip), ``missing`` (no clip yet), ``failed``
(its last batch attempt failed, not by the quality gate), ``refused`` (the quality gate refused
its last clip: a batch job's last error, or a ``refused`` entry of ``imagear_audit``, written
by any front end, with no ``stored`` one after it), ``rejected`` (a curator rejected its clip).
Each row carries its clip row (or None), its review state and its batch job's status and error.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Engine, and_, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.auditlog import gate_refused_sql
from imagear.db.publication import published_sql
from imagear.db.records import RecordId, has_clip, has_master
from imagear.db.review import REJECTED, REVIEW
from imagear.db.rows import clip_of
from imagear.db.schema import JOB
from imagear.domain import Clip, GridRow

FILTERS = ("all", "animated", "missing", "failed", "refused", "rejected")
_FAILED = ("failed", "given_up")
QUALITY = "quality"
MAX_SEARCH = 200
"""Characters of a search that are used (no identifier or title search needs more; SQLite
refuses LIKE patterns over 50,000 bytes)."""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filter(oid: RecordId, name: str) -> ColumnElement[bool] | None:
    failed = and_(
        JOB.c.object_id == oid,
        or_(
            JOB.c.status.in_(_FAILED),
            and_(JOB.c.status == "pending", JOB.c.last_error.is_not(None)),
        ),
    )
    if name == "animated":
        return has_clip(oid)
    if name == "missing":
        return ~has_clip(oid)
    if name == "failed":
        kind = or_(JOB.c.last_error_kind.is_(None), JOB.c.last_error_kind != QUALITY)
        return exists(select(JOB.c.object_id).where(failed, kind))
    if name == "refused":  # by the batch (its job), or by any front end (the audit trail)
        refused = and_(failed, JOB.c.last_error_kind == QUALITY)
        by_any = or_(exists(select(JOB.c.object_id).where(refused)), gate_refused_sql(oid))
        return and_(by_any, ~rejected_sql(oid))
    if name == "rejected":
        return rejected_sql(oid)
    return None


def rejected_sql(oid: RecordId) -> ColumnElement[bool]:
    return exists(
        select(REVIEW.c.object_id).where(REVIEW.c.object_id == oid, REVIEW.c.state == REJECTED)
    )


def page(
    engine: Engine,
    query: str = "",
    show: str = "all",
    limit: int = 24,
    offset: int = 0,
    guest_public: bool | None = None,
) -> tuple[list[GridRow], int]:
    """(rows, total matching) for one page of the grid, in id order; ``guest_public`` not None:
    only the records a guest may see (:func:`imagear.db.publication.published_sql`)."""
    if show not in FILTERS:
        raise ValueError(f"unknown filter {show!r}")
    fl = flavour.of(engine)
    r = fl.records
    title = fl.title()
    where = [fl.listed()]
    if guest_public is not None:
        where.append(published_sql(fl, r.c.id, guest_public))
    # no NUL (PostgreSQL refuses one in a string), at most MAX_SEARCH characters
    text = query.replace("\0", "").strip()[:MAX_SEARCH].strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        where.append(
            or_(r.c.identifier.like(pattern, escape="\\"), title.like(pattern, escape="\\"))
        )
    chosen = _filter(r.c.id, show)
    if chosen is not None:
        where.append(chosen)
    columns = [
        r.c.id,
        r.c.identifier,
        title.label("title"),
        has_master(r.c.id).label("has_master"),
    ]
    listing = select(*columns).where(*where).order_by(r.c.id).offset(offset).limit(limit)
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(r).where(*where)).scalar_one()
            rows = [
                GridRow(int(row.id), row.identifier, row.title, bool(row.has_master))
                for row in conn.execute(listing)
            ]
            ids = [row.id for row in rows]
            clips = fl.clips
            clip_rows: dict[int, Clip] = {}
            reviews: dict[int, str] = {}
            job_rows: dict[int, tuple[str | None, str | None, str | None]] = {}
            if ids:
                for found in conn.execute(
                    select(clips).where(clips.c.object_id.in_(ids))
                ).mappings():
                    clip_rows[int(found["object_id"])] = clip_of(found, fl)
                for found in conn.execute(
                    select(REVIEW).where(REVIEW.c.object_id.in_(ids))
                ).mappings():
                    reviews[int(found["object_id"])] = found["state"]
                job = select(JOB.c.object_id, JOB.c.status, JOB.c.last_error, JOB.c.last_error_kind)
                for j in conn.execute(job.where(JOB.c.object_id.in_(ids))):
                    job_rows[int(j.object_id)] = (j.status, j.last_error, j.last_error_kind)
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Reading the records failed",
            exc,
            "Check database_url (`imagear config show`) and that its tables are imagear's or "
            "Heratio's.",
        ) from exc
    for row in rows:
        row.animation = clip_rows.get(row.id)
        row.review = reviews.get(row.id)
        row.job_status, row.job_error, row.job_error_kind = job_rows.get(row.id, (None,) * 3)
    return rows, int(total)


__all__ = ["FILTERS", "MAX_SEARCH", "page", "rejected_sql"]
