"""Batch failures after the fact: list them (a page at a time), count them, reset them.

The services behind ``imagear batch failures`` and ``imagear batch reset``, the failure lists
of ``/batch`` and the admin page, and the given-up count at the end of a run's summary. A
failure is a job row that is ``failed`` (retried by a later run), ``given_up`` (after
``--max-attempts``), or ``pending`` with an error (its runner died, or a stopped run gave it
back: the next run retries it); see :mod:`imagear.db.jobs`. Pages are cut in SQL
(:mod:`imagear.db.failures`): 200,000 failures never load at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from imagear.app import App
from imagear.db import failures as failures_db
from imagear.domain import JobFailure

PAGE = 50
"""Failures shown at once when a caller names no limit (``batch failures``, the web)."""


@dataclass(frozen=True)
class FailurePage:
    """One page of failures and the counts of them all: ``total`` failures, ``given_up``,
    ``waiting`` (their retry time is ahead; None when not counted); ``more`` after this
    page."""

    total: int
    given_up: int
    waiting: int | None
    offset: int
    limit: int | None
    more: int
    failures: list[JobFailure] = field(default_factory=list)


def failure_counts(app: App) -> FailurePage:
    """The counts alone (an empty page): what a visitor who is not signed in sees."""
    return failure_page(app, limit=0, with_waiting=False)


def failure_page(
    app: App, limit: int | None = PAGE, offset: int = 0, with_waiting: bool = True
) -> FailurePage:
    """Failures ``offset`` .. ``offset + limit`` (None: all), given-up ones first, then by id,
    with the counts of them all (``waiting`` reads every failed row: ``with_waiting`` False
    leaves it None, for the web's pages)."""
    limit = None if limit is None else max(0, int(limit))
    offset = max(0, int(offset))
    total, given_up, waiting_n = failures_db.counts(app.engine, with_waiting)
    rows: list[JobFailure] = []
    if limit != 0 and offset < total:
        rows = failures_db.failures(app.engine, limit, offset, given_up=given_up)
    more = max(0, total - offset - len(rows)) if limit is not None else 0
    return FailurePage(total, given_up, waiting_n, offset, limit, more, rows)


def list_failures(app: App, limit: int | None = None, offset: int = 0) -> list[JobFailure]:
    """Records whose last batch attempt failed, given-up ones first: ``failed`` (will be
    retried), ``given_up``, and ``pending`` rows that carry an error; all of them unless
    ``limit``."""
    return failures_db.failures(app.engine, limit, offset)


def waiting_retries(app: App) -> tuple[int, datetime | None]:
    """Failed records waiting for their retry time: how many, and the first retry time (UTC)."""
    return failures_db.waiting(app.engine)


def count_given_up(app: App) -> int:
    """How many records the batch has given up on (waiting for `imagear batch reset`)."""
    return failures_db.count_given_up(app.engine)


def reset_failures(app: App, object_ids: Sequence[int] | None = None) -> list[int]:
    """Let failed / given-up records be tried by the next run: attempts and error cleared.

    ``object_ids`` None means every such record (those `imagear batch failures` lists); ids
    that are not failures (done, running, never tried) are left alone. Returns the ids reset.
    """
    return failures_db.reset_failures(app.engine, object_ids)


__all__ = [
    "PAGE",
    "FailurePage",
    "count_given_up",
    "failure_counts",
    "failure_page",
    "list_failures",
    "reset_failures",
    "waiting_retries",
]
