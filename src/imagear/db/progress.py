"""How the batch is getting on, read from ``image_ar_job`` alone: batches run from cron in other
processes and on other hosts, so the database is the only place that knows.

One :func:`snapshot` reads, in one connection: the rows per status (one ``GROUP BY`` on the
``(status, object_id)`` index), the claims held now (and whether each has expired: its runner
is gone and the next run's sweep reopens it), how many finished in the last ten minutes and the
last hour (the rate), the last records finished, and the first retry time of those waiting.
Time comes from the database's clock, as the claims use it (:func:`imagear.db.jobs.sql_now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.jobs import DONE, FAILED, RUNNING, as_utc, lenient, sql_now
from imagear.db.schema import JOB
from imagear.domain import Finished, RunningClaim

RUNNING_SHOWN = 50  # claims listed (a pool of servers rarely has more slots)
LAST_SHOWN = 10  # finished records listed


@dataclass
class Snapshot:
    """What :func:`snapshot` read."""

    now: datetime
    counts: dict[str, int]
    running: list[RunningClaim]
    done_10min: int
    done_hour: int
    last_done: list[Finished]
    next_retry_at: datetime | None
    window: tuple[datetime, datetime] | None = None  # first and last finish of the rate's rows


def snapshot(engine: Engine) -> Snapshot:
    """The batch's state now: ``counts`` (status -> rows), ``running`` (the claims, lowest
    ids first, at most :data:`RUNNING_SHOWN`), ``done_10min`` / ``done_hour``, ``last_done``
    (newest first), ``next_retry_at`` and ``now`` (the database's clock, aware UTC)."""
    j = JOB
    now_sql = sql_now(engine)
    try:
        with engine.connect() as conn:
            now = as_utc(conn.execute(select(now_sql)).scalar_one())
            assert now is not None
            counts = {
                str(status): int(n)
                for status, n in conn.execute(select(j.c.status, func.count()).group_by(j.c.status))
            }
            running = [
                RunningClaim(
                    object_id=int(r.object_id),
                    runner=r.claimed_by,
                    attempts=int(r.attempts or 0),
                    since=as_utc(r.updated_at),
                    expires_at=as_utc(r.claim_expires_at),
                )
                for r in conn.execute(
                    select(j.c.object_id, j.c.claimed_by, j.c.attempts, lenient(j.c.updated_at))
                    .add_columns(lenient(j.c.claim_expires_at))
                    .where(j.c.status == RUNNING)
                    .order_by(j.c.object_id)
                    .limit(RUNNING_SHOWN)
                )
            ]
            recent = j.c.finished_at >= now - timedelta(minutes=10)
            done_hour, done_10 = conn.execute(  # both windows in one read of the done rows
                select(func.count(), func.coalesce(func.sum(case((recent, 1), else_=0)), 0))
                .select_from(j)
                .where(j.c.status == DONE, j.c.finished_at >= now - timedelta(hours=1))
            ).one()
            # the rate's rows: the last ten minutes when two finished there, else the hour
            since = now - (timedelta(minutes=10) if int(done_10) >= 2 else timedelta(hours=1))
            first, last_at = conn.execute(
                select(
                    lenient(func.min(j.c.finished_at)), lenient(func.max(j.c.finished_at))
                ).where(j.c.status == DONE, j.c.finished_at >= since)
            ).one()
            last = [
                Finished(int(r.object_id), as_utc(r.finished_at))
                for r in conn.execute(
                    select(j.c.object_id, lenient(j.c.finished_at))
                    .where(j.c.status == DONE, j.c.finished_at.is_not(None))
                    .order_by(j.c.finished_at.desc(), j.c.object_id.desc())
                    .limit(LAST_SHOWN)
                )
            ]
            next_retry = conn.execute(
                select(lenient(func.min(j.c.next_attempt_at))).where(
                    j.c.status == FAILED, j.c.next_attempt_at > now
                )
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Reading the batch's progress failed",
            exc,
            "Check database_url (`imagear config show`) and that the database is reachable.",
        ) from exc
    for claim in running:
        claim.expired = claim.expires_at is not None and claim.expires_at < now
    span = (as_utc(first), as_utc(last_at))
    window = (span[0], span[1]) if span[0] is not None and span[1] is not None else None
    return Snapshot(
        now, counts, running, int(done_10), int(done_hour), last, as_utc(next_retry), window
    )


__all__ = ["LAST_SHOWN", "RUNNING_SHOWN", "Snapshot", "snapshot"]
