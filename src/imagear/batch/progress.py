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
    """The batch's progress from a snapshot of ``image_ar_job``.

    The rate is over the run's actual window, not a fixed ten minutes: the records finished in
    the last ten minutes (else the last hour), from the first of them to the last (to ``now``
    while a runner holds a claim): ``n`` finishes span ``n - 1`` intervals, so eight records in
    29 s are about 16 a minute, never 0.8. The time left is only given while a run is going
    (some claim not expired) and something is pending or running, at that rate; failures
    waiting for their retry time are not counted in it (the next retry is shown apart)."""
    counts = snap.counts
    to_do = sum(counts.get(s, 0) for s in (PENDING, RUNNING, FAILED))
    active = any(not claim.expired for claim in snap.running)
    n = snap.done_10min if snap.done_10min >= 2 else snap.done_hour
    per_minute = 0.0
    if snap.window is not None and n >= 2:
        first, last = snap.window
        end = max(last, snap.now) if active else last
        span = (end - first).total_seconds()
        per_minute = 60.0 * (n - 1) / span if span > 0 else 0.0
    left = counts.get(PENDING, 0) + counts.get(RUNNING, 0)
    eta = 60.0 * left / per_minute if active and left and per_minute else None
    return BatchProgress(
        now=snap.now,
        counts=JobCounts(**{s: counts.get(s, 0) for s in STATUSES}),
        total=sum(counts.values()),
        to_do=to_do,
        active=active,
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
