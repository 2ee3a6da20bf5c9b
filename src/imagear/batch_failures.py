"""Batch failures after the fact: list them, count the given-up ones, reset them for a retry.

The services behind ``imagear batch failures`` and ``imagear batch reset``, and the given-up
count at the end of a run's summary. A failure is a job row that is ``failed`` (retried by a
later run), ``given_up`` (after ``--max-attempts``), or ``pending`` with an error (its runner
died, or a stopped run gave it back: the next run retries it); see :mod:`imagear.batch_jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select, update

from imagear.app import App
from imagear.batch_jobs import (
    GIVEN_UP,
    JOB,
    PENDING,
    RECORDS,
    is_failure,
    iso,
    read_rows,
    sql_now,
    write_tx,
)

_READ_FAILED = "Could not read the batch failures"


def _job_dict(row: Any) -> dict[str, Any]:
    return {
        "object_id": row.object_id,
        "identifier": row.identifier,
        "status": row.status,
        "attempts": row.attempts,
        "error_kind": row.last_error_kind,
        "error": row.last_error,
        "next_attempt_at": iso(row.next_attempt_at),
        "claimed_by": row.claimed_by,
        "updated_at": iso(row.updated_at),
    }


def list_failures(app: App) -> list[dict[str, Any]]:
    """Records whose last batch attempt failed: ``failed`` (will be retried) and ``given_up``.

    Also ``pending`` rows that carry an error (their runner died, or a stopped run gave them
    back): they are retried by the next run.
    """
    j = JOB
    query = (
        select(
            j.c.object_id,
            RECORDS.c.identifier,
            j.c.status,
            j.c.attempts,
            j.c.last_error_kind,
            j.c.last_error,
            j.c.next_attempt_at,
            j.c.claimed_by,
            j.c.updated_at,
        )
        .select_from(j.outerjoin(RECORDS, RECORDS.c.id == j.c.object_id))
        .where(is_failure())
        .order_by(case((j.c.status == GIVEN_UP, 0), else_=1), j.c.object_id)
    )
    return [_job_dict(r) for r in read_rows(app, query, _READ_FAILED)]


def count_given_up(app: App) -> int:
    """How many records the batch has given up on (waiting for `imagear batch reset`)."""
    query = select(func.count()).select_from(JOB).where(JOB.c.status == GIVEN_UP)
    return int(read_rows(app, query, _READ_FAILED)[0][0])


def reset_failures(app: App, object_ids: Sequence[int] | None = None) -> list[int]:
    """Let failed / given-up records be tried by the next run: attempts and error cleared.

    ``object_ids`` None means every such record (those `imagear batch failures` lists); ids
    that are not failures (done, running, never tried) are left alone. Returns the ids reset.
    """
    where = [is_failure()]
    if object_ids is not None:
        where.append(JOB.c.object_id.in_(list(object_ids)))
    with write_tx(app, "reset failures") as conn:
        rows = conn.execute(
            update(JOB)
            .where(*where)
            .values(
                status=PENDING,
                attempts=0,
                last_error=None,
                last_error_kind=None,
                next_attempt_at=None,
                updated_at=sql_now(app),
            )
            .returning(JOB.c.object_id)
        ).all()
    return sorted(int(r[0]) for r in rows)


__all__ = ["count_given_up", "list_failures", "reset_failures"]
