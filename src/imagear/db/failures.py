"""The batch's failure rows (:func:`imagear.db.jobs.is_failure`): one page of them at a time,
their counts, and resetting them for a retry.

Paged in SQL: a site with 200,000 failed records must not load them all to show the first
fifty (``imagear batch failures``, ``/batch``, the admin page). Given-up rows come first, then
the rest, each by id; each part walks the (status, object_id) index, so a page reads only its
own rows plus one COUNT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, Select, and_, func, or_, select, update

from imagear.db import flavour
from imagear.db.jobs import (
    FAILED,
    GIVEN_UP,
    PENDING,
    PickAndUpdate,
    as_utc,
    is_failure,
    lenient,
    read_rows,
    sql_now,
    write_tx,
)
from imagear.db.schema import JOB
from imagear.domain import JobFailure

_READ_FAILED = "Could not read the batch failures"


def _not_given_up() -> object:
    """SQL: a failure that is not given up (``failed``, or ``pending`` with an error)."""
    return or_(JOB.c.status == FAILED, and_(JOB.c.status == PENDING, JOB.c.last_error.is_not(None)))


def _rows(engine: Engine, where: object, offset: int, limit: int | None) -> list[JobFailure]:
    j = JOB
    r = flavour.of(engine).records
    query: Select = (
        select(
            j.c.object_id,
            r.c.identifier,
            j.c.status,
            j.c.attempts,
            j.c.last_error_kind,
            j.c.last_error,
            lenient(j.c.next_attempt_at),
            j.c.claimed_by,
            lenient(j.c.updated_at),
        )
        .select_from(j.outerjoin(r, r.c.id == j.c.object_id))
        .where(where)  # type: ignore[arg-type]
        .order_by(j.c.object_id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        JobFailure(
            object_id=int(row.object_id),
            identifier=row.identifier,
            status=row.status,
            attempts=int(row.attempts or 0),
            error_kind=row.last_error_kind,
            error=row.last_error,
            next_attempt_at=as_utc(row.next_attempt_at),
            claimed_by=row.claimed_by,
            updated_at=as_utc(row.updated_at),
        )
        for row in read_rows(engine, query, _READ_FAILED)
    ]


def failures(
    engine: Engine, limit: int | None = None, offset: int = 0, given_up: int | None = None
) -> list[JobFailure]:
    """Failure rows ``offset`` .. ``offset + limit`` (None: all the rest), given-up ones first,
    then by id. ``given_up``: how many given-up rows there are, when the caller has counted
    them (:func:`counts`); counted here otherwise."""
    offset = max(0, int(offset))
    if given_up is None:
        given_up = count_given_up(engine)
    found: list[JobFailure] = []
    if offset < given_up:
        take = None if limit is None else min(limit, given_up - offset)
        found = _rows(engine, JOB.c.status == GIVEN_UP, offset, take)
    left = None if limit is None else limit - len(found)
    if left is None or left > 0:
        found += _rows(engine, _not_given_up(), max(0, offset - given_up), left)
    return found


def counts(engine: Engine, with_waiting: bool = True) -> tuple[int, int, int | None]:
    """(failures, given up, waiting for their retry time): counted on the (status, object_id)
    index; ``waiting`` reads every failed row's retry time, so only ``with_waiting`` (None
    otherwise: the web's pages show no such count)."""
    by_status = (
        select(JOB.c.status, func.count())
        .where(JOB.c.status.in_([FAILED, GIVEN_UP]))
        .group_by(JOB.c.status)
    )
    found = {str(status): int(n) for status, n in read_rows(engine, by_status, _READ_FAILED)}
    pending = select(func.count()).where(JOB.c.status == PENDING, JOB.c.last_error.is_not(None))
    total = sum(found.values()) + int(read_rows(engine, pending, _READ_FAILED)[0][0])
    waiting_n = waiting(engine)[0] if with_waiting else None
    return total, found.get(GIVEN_UP, 0), waiting_n


def waiting(engine: Engine) -> tuple[int, datetime | None]:
    """Failed records whose retry time has not come yet: how many, and the first retry time
    (UTC), so that a run with nothing to do can say when there will be."""
    query = select(func.count(), lenient(func.min(JOB.c.next_attempt_at))).where(
        JOB.c.status == FAILED, JOB.c.next_attempt_at > sql_now(engine)
    )
    n, first = read_rows(engine, query, _READ_FAILED)[0]
    return int(n), as_utc(first)


def count_given_up(engine: Engine) -> int:
    query = select(func.count()).select_from(JOB).where(JOB.c.status == GIVEN_UP)
    return int(read_rows(engine, query, _READ_FAILED)[0][0])


def reset_failures(engine: Engine, object_ids: Sequence[int] | None = None) -> list[int]:
    """Failure rows (of ``object_ids``, or all) back to ``pending`` with attempts and error
    cleared; returns the ids reset."""
    where = [is_failure()]
    if object_ids is not None:
        where.append(JOB.c.object_id.in_(list(object_ids)))
    reset = PickAndUpdate(
        select(JOB.c.object_id).where(*where).with_for_update(),
        update(JOB).values(
            status=PENDING,
            attempts=0,
            last_error=None,
            last_error_kind=None,
            next_attempt_at=None,
            updated_at=sql_now(engine),
        ),
    )
    with write_tx(engine, "reset failures") as conn:
        rows = reset.run(conn)
    return sorted(int(r[0]) for r in rows)


__all__ = ["count_given_up", "counts", "failures", "reset_failures", "waiting"]
