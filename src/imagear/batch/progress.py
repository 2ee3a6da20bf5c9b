"""How the batch is getting on: the service behind ``imagear batch status`` and the web
console's ``/batch`` page. Read from the database alone (:mod:`imagear.db.progress`), so it
shows runs started by cron, by other processes and on other hosts alike. Never prints.
"""

from __future__ import annotations

from imagear.app import App
from imagear.db import progress as progress_db
from imagear.db.jobs import DONE, FAILED, GIVEN_UP, PENDING, RUNNING
from imagear.domain import BatchProgress, JobCounts

STATUSES = (PENDING, RUNNING, DONE, FAILED, GIVEN_UP)


def progress_of(snap: progress_db.Snapshot) -> BatchProgress:
    """The batch's progress from a snapshot of ``image_ar_job``: the rate is over the last ten
    minutes (else the last hour); the time left is the rows still to do (pending, running and
    failed: retried later) at that rate."""
    counts = snap.counts
    to_do = sum(counts.get(s, 0) for s in (PENDING, RUNNING, FAILED))
    per_minute = snap.done_10min / 10.0 if snap.done_10min else snap.done_hour / 60.0
    eta = 60.0 * to_do / per_minute if to_do and per_minute else None
    return BatchProgress(
        now=snap.now,
        counts=JobCounts(**{s: counts.get(s, 0) for s in STATUSES}),
        total=sum(counts.values()),
        to_do=to_do,
        active=any(not claim.expired for claim in snap.running),
        running=snap.running,
        done_last_10_min=snap.done_10min,
        done_last_hour=snap.done_hour,
        per_minute=round(per_minute, 2),
        eta_secs=None if eta is None else round(eta),
        last_done=snap.last_done,
        next_retry_at=snap.next_retry_at,
    )


def progress(app: App) -> BatchProgress:
    """The batch's progress now (see :class:`~imagear.domain.BatchProgress`)."""
    return progress_of(progress_db.snapshot(app.engine))


__all__ = ["STATUSES", "BatchProgress", "progress", "progress_of"]
