"""What a batch run would take now, read-only: the ``--dry-run`` list and the planned count.

A record is takeable when this run's :class:`~imagear.batch_jobs.Selection` covers it and its
job row (if any) lets a claim take it: no row yet (new), ``pending``, ``failed`` whose retry
time has come, ``done`` (it qualifies anew: reopened by ``prepare``), or ``running`` with an
expired claim (what the sweep reopens). Nothing here writes; the claims themselves are taken
by :class:`imagear.claims.ClaimStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select

from imagear.app import App
from imagear.batch_jobs import (
    DONE,
    FAILED,
    JOB,
    PENDING,
    RECORDS,
    RUNNING,
    Selection,
    candidate,
    not_done_since,
    read_rows,
    sql_now,
)


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


__all__ = ["count", "plan"]
