"""Batch failures after the fact: list them, count the given-up ones, reset them for a retry.

The services behind ``imagear batch failures`` and ``imagear batch reset``, and the given-up
count at the end of a run's summary. A failure is a job row that is ``failed`` (retried by a
later run), ``given_up`` (after ``--max-attempts``), or ``pending`` with an error (its runner
died, or a stopped run gave it back: the next run retries it); see :mod:`imagear.db.jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from imagear.app import App
from imagear.db import jobs
from imagear.domain import JobFailure


def list_failures(app: App) -> list[JobFailure]:
    """Records whose last batch attempt failed, given-up ones first: ``failed`` (will be
    retried), ``given_up``, and ``pending`` rows that carry an error."""
    return jobs.failures(app.engine)


def waiting_retries(app: App) -> tuple[int, datetime | None]:
    """Failed records waiting for their retry time: how many, and the first retry time (UTC)."""
    return jobs.waiting(app.engine)


def count_given_up(app: App) -> int:
    """How many records the batch has given up on (waiting for `imagear batch reset`)."""
    return jobs.count_given_up(app.engine)


def reset_failures(app: App, object_ids: Sequence[int] | None = None) -> list[int]:
    """Let failed / given-up records be tried by the next run: attempts and error cleared.

    ``object_ids`` None means every such record (those `imagear batch failures` lists); ids
    that are not failures (done, running, never tried) are left alone. Returns the ids reset.
    """
    return jobs.reset_failures(app.engine, object_ids)


__all__ = ["count_given_up", "list_failures", "reset_failures", "waiting_retries"]
