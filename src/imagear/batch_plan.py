"""What a batch run would take now, read-only: the ``--dry-run`` list and the planned count.

A record is takeable when this run's :class:`~imagear.batch_jobs.Selection` covers it and its
job row (if any) lets a claim take it: no row yet (new), ``pending``, ``failed`` whose retry
time has come, ``done`` (it qualifies anew: reopened by ``prepare``), or ``running`` with an
expired claim (what the sweep reopens). Nothing here writes; the claims themselves are taken
by :class:`imagear.claims.ClaimStore`. :func:`explain_named` says why records named with
``--object-id`` / ``--object-ids`` will not be taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from imagear.app import App
from imagear.batch_jobs import (
    CLIPS,
    DONE,
    FAILED,
    FILES,
    GIVEN_UP,
    JOB,
    PENDING,
    RECORDS,
    RUNNING,
    Selection,
    as_utc,
    candidate,
    not_done_since,
    read_rows,
    sql_now,
)
from imagear.batch_report import NamedSkip


def _plan_query(app: App, sel: Selection, window: Sequence[int] | None) -> Any:
    """SELECT of the records a run would take now, in order (no job row yet = new)."""
    now = sql_now(app)
    j = JOB
    takeable = or_(
        j.c.object_id.is_(None),
        and_(
            j.c.status.in_([PENDING, FAILED]),
            or_(j.c.next_attempt_at.is_(None), j.c.next_attempt_at <= now),
        ),
        j.c.status == DONE,
        and_(j.c.status == RUNNING, j.c.claim_expires_at < now),
    )
    return (
        select(
            RECORDS.c.id,
            RECORDS.c.identifier,
            RECORDS.c.title,
            j.c.status,
            j.c.attempts,
            j.c.last_error_kind,
        )
        .select_from(RECORDS.outerjoin(j, j.c.object_id == RECORDS.c.id))
        .where(candidate(RECORDS.c.id, sel, window), takeable, not_done_since(sel))
        .order_by(RECORDS.c.id)
    )


def plan(app: App, sel: Selection, limit: int | None) -> list[dict[str, Any]]:
    """What a run would take now, in order (no writes), for ``--dry-run``.

    Records with no job row yet count as new; expired claims as what the sweep reopens.
    """
    out: list[dict[str, Any]] = []
    for window in sel.windows():
        left = None if limit is None else limit - len(out)
        if left is not None and left <= 0:
            break
        query = _plan_query(app, sel, window)
        if left is not None:
            query = query.limit(left)
        for r in read_rows(app, query, "The batch could not list the records to do"):
            status = r.status or "new"
            out.append(
                {
                    "object_id": r.id,
                    "identifier": r.identifier,
                    "title": r.title,
                    "status": "expired claim" if status == RUNNING else status,
                    "attempts": r.attempts or 0,
                    "last_error_kind": r.last_error_kind,
                }
            )
    return out


def count(app: App, sel: Selection, limit: int | None) -> int:
    """How many records :func:`plan` would list (at most ``limit``)."""
    total = 0
    for window in sel.windows():
        query = _plan_query(app, sel, window)
        if limit is not None:
            query = query.limit(limit - total)
        counted = select(func.count()).select_from(query.subquery())
        rows = read_rows(app, counted, "The batch could not count the records to do")
        total += int(rows[0][0])
        if limit is not None and total >= limit:
            break
    return total


def _why_not(r: Any, sel: Selection, now: datetime, max_attempts: int) -> NamedSkip | None:
    """Why the named record of row ``r`` cannot be taken now (None: it can)."""
    oid = int(r.id)
    attempts = int(r.attempts or 0)
    if not r.has_master:
        return NamedSkip(oid, "no_master")
    if sel.only_missing and r.has_clip:
        return NamedSkip(oid, "has_clip")
    if r.status == GIVEN_UP:
        return NamedSkip(oid, "given_up", attempts, max_attempts)
    retry_at = as_utc(r.next_attempt_at)
    if r.status == FAILED and retry_at is not None and retry_at > now:
        return NamedSkip(oid, "waiting", attempts, max_attempts, retry_at)
    expires = as_utc(r.claim_expires_at)
    if r.status == RUNNING and expires is not None and expires >= now:
        return NamedSkip(oid, "running", attempts, max_attempts, expires, r.claimed_by)
    finished = as_utc(r.finished_at)
    if not sel.only_missing and sel.since is not None and finished and finished >= sel.since:
        return NamedSkip(oid, "done_since", attempts, max_attempts, finished)
    return None


def explain_named(app: App, sel: Selection, now: datetime, max_attempts: int) -> list[NamedSkip]:
    """For a run limited to named ids (``sel.ids``): the named records it will not take now,
    and why (missing, no master image, already animated, waiting for a retry, ...), by id."""
    if sel.ids is None:
        return []
    j = JOB
    has_master = exists(
        select(FILES.c.id).where(
            FILES.c.object_id == RECORDS.c.id,
            FILES.c.mime_type.like("image/%"),
            FILES.c.parent_id.is_(None),
        )
    )
    has_clip = exists(select(CLIPS.c.id).where(CLIPS.c.object_id == RECORDS.c.id))
    out: list[NamedSkip] = []
    for window in sel.windows():
        assert window is not None
        query = (
            select(
                RECORDS.c.id,
                has_master.label("has_master"),
                has_clip.label("has_clip"),
                j.c.status,
                j.c.attempts,
                j.c.next_attempt_at,
                j.c.claimed_by,
                j.c.claim_expires_at,
                j.c.finished_at,
            )
            .select_from(RECORDS.outerjoin(j, j.c.object_id == RECORDS.c.id))
            .where(RECORDS.c.id.in_(window))
        )
        rows = read_rows(app, query, "The batch could not look up the named records")
        found = {int(r.id): r for r in rows}
        for oid in window:
            if oid not in found:
                out.append(NamedSkip(oid, "missing"))
            elif (why := _why_not(found[oid], sel, now, max_attempts)) is not None:
                out.append(why)
    return out


__all__ = ["count", "explain_named", "plan"]
