"""The ``image_ar_job`` rows the batch keeps: their states, which records a run selects, one clock.

One row per record (``image_ar_job``, see :class:`imagear.db.ImageArJob`) says what a batch did
with it last: ``pending`` (to do), ``running`` (held by ``claimed_by`` until
``claim_expires_at``), ``done``, ``failed`` (retry at ``next_attempt_at``) or ``given_up``.

This module holds what the claim protocol (:mod:`imagear.claims`), the read-only plan
(:mod:`imagear.batch_plan`) and the failure commands (:mod:`imagear.batch_failures`) share:

- the tables and the status names;
- :class:`Selection` (which records a run is about) and the SQL that says whether a record is
  one of them;
- the clock: PostgreSQL's ``now()`` when the database is PostgreSQL (hosts with skewed clocks
  still agree), Python's clock on SQLite (one machine);
- short write transactions and reads that turn database errors into :class:`StorageError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.app import App
from imagear.db import DigitalObject, ImageArJob, InformationObject, ObjectImageAr
from imagear.errors import StorageError

JOB: Table = ImageArJob.__table__  # type: ignore[attr-defined]
RECORDS: Table = InformationObject.__table__  # type: ignore[attr-defined]
FILES: Table = DigitalObject.__table__  # type: ignore[attr-defined]
CLIPS: Table = ObjectImageAr.__table__  # type: ignore[attr-defined]

PENDING, RUNNING, DONE, FAILED, GIVEN_UP = "pending", "running", "done", "failed", "given_up"
RUNNER_LOST = "RunnerLost"
ID_WINDOW = 500  # ids per IN (...) list when the run is limited to given ids


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive values that were written as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    aware = as_utc(value)
    return aware.isoformat() if aware else None


@dataclass(frozen=True)
class Selection:
    """Which records a run is about.

    ``only_missing``: records with a master image and no animation. Otherwise (``--all``):
    every record with a master image, except those this batch already re-animated at or after
    ``since`` (so runners started with the same ``since`` share the work, and a stopped run can
    be resumed). ``ids``: only these records.
    """

    only_missing: bool = True
    since: datetime | None = None
    ids: tuple[int, ...] | None = None

    def windows(self) -> list[tuple[int, ...] | None]:
        """The id lists to work through in order (``[None]``: no id filter)."""
        if self.ids is None:
            return [None]
        ids = sorted(set(self.ids))
        return [tuple(ids[i : i + ID_WINDOW]) for i in range(0, len(ids), ID_WINDOW)]


# -- SQL building blocks -----------------------------------------------------------------------


def candidate(oid: Any, sel: Selection, window: Any) -> Any:
    """SQL: the record ``oid`` is one this selection is about (master image, maybe no clip)."""
    conds: list[Any] = [
        exists(
            select(FILES.c.id).where(
                FILES.c.object_id == oid,
                FILES.c.mime_type.like("image/%"),
                FILES.c.parent_id.is_(None),
            )
        )
    ]
    if sel.only_missing:
        conds.append(~exists(select(CLIPS.c.id).where(CLIPS.c.object_id == oid)))
    if window is not None:
        conds.append(oid.in_(window))
    return and_(*conds)


def not_done_since(sel: Selection, since: Any = None) -> Any:
    """SQL (``--all``): the job row was not finished at or after ``since``."""
    if sel.only_missing or sel.since is None:
        return literal(True)
    return or_(
        JOB.c.finished_at.is_(None), JOB.c.finished_at < (sel.since if since is None else since)
    )


def is_failure() -> Any:
    """SQL: the row is a batch failure (``failed``, ``given_up``, or ``pending`` with an error:
    its runner died or a stopped run gave it back)."""
    return or_(
        JOB.c.status.in_([FAILED, GIVEN_UP]),
        and_(JOB.c.status == PENDING, JOB.c.last_error.is_not(None)),
    )


def time_param(name: str) -> Any:
    """A bound parameter holding an aware time."""
    return bindparam(name, type_=DateTime(timezone=True))


# -- the clock and the connection --------------------------------------------------------------


def is_postgres(app: App) -> bool:
    return app.engine.dialect.name == "postgresql"


def sql_now(app: App, plus_secs: float = 0.0) -> Any:
    """SQL for "now (+ seconds)": the database's clock on PostgreSQL, Python's on SQLite."""
    if is_postgres(app):
        now = func.now()
        return now + timedelta(seconds=plus_secs) if plus_secs else now
    return literal(datetime.now(UTC) + timedelta(seconds=plus_secs), DateTime(timezone=True))


@contextlib.contextmanager
def write_tx(app: App, what: str) -> Iterator[Connection]:
    """One short write transaction (SQLite: ``BEGIN IMMEDIATE``); DB errors -> StorageError
    saying "The batch could not ``what``"."""
    try:
        with app.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    except SQLAlchemyError as exc:
        raise StorageError(f"The batch could not {what}: {exc}.") from exc


def read_rows(app: App, query: Any, failure: str) -> list[Any]:
    """The rows of a read-only query; DB errors -> StorageError ``"<failure>: <error>."``."""
    try:
        with app.engine.connect() as conn:
            return list(conn.execute(query).all())
    except SQLAlchemyError as exc:
        raise StorageError(f"{failure}: {exc}.") from exc


__all__ = [
    "CLIPS",
    "DONE",
    "FAILED",
    "FILES",
    "GIVEN_UP",
    "ID_WINDOW",
    "JOB",
    "PENDING",
    "RECORDS",
    "RUNNER_LOST",
    "RUNNING",
    "Selection",
    "as_utc",
    "candidate",
    "is_failure",
    "is_postgres",
    "iso",
    "not_done_since",
    "read_rows",
    "sql_now",
    "time_param",
    "write_tx",
]
