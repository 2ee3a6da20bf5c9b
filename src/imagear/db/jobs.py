"""The ``image_ar_job`` rows the batch keeps: their states, which records a run selects, one
clock, and the SQL pieces the queries over them share (the plan and the named records are
:mod:`imagear.db.runplan`).

One row per record (:class:`imagear.db.schema.ImageArJob`) says what a batch did with it last:
``pending`` (to do), ``running`` (held by ``claimed_by`` until ``claim_expires_at``), ``done``,
``failed`` (retry at ``next_attempt_at``) or ``given_up``. The claim protocol that writes them
is :mod:`imagear.db.claims`.

Time comes from one clock: the database server's when it has one (PostgreSQL ``now()``,
MySQL/MariaDB ``UTC_TIMESTAMP(6)``: hosts with skewed clocks still agree), Python's clock on
SQLite (one machine).

``UPDATE ... RETURNING`` of the rows a locked ``SELECT`` picks is :class:`PickAndUpdate`: one
statement where the database can (PostgreSQL, SQLite); on MySQL/MariaDB, which have no
``UPDATE ... RETURNING`` and refuse an UPDATE that selects from its own table, the same
transaction selects the ids ``FOR UPDATE SKIP LOCKED``, updates them, and reads them back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    Row,
    Select,
    Update,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from imagear.db import flavour, locks
from imagear.db.engine import MYSQL, POSTGRES, family
from imagear.db.records import has_clip, has_master, is_master_file
from imagear.db.review import REVIEW, approved_sql
from imagear.db.schema import CLIPS, FILES, JOB

PENDING, RUNNING, DONE, FAILED, GIVEN_UP = "pending", "running", "done", "failed", "given_up"
RUNNER_LOST = "RunnerLost"
ID_WINDOW = 500  # ids per IN (...) list when the run is limited to given ids


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive values that were written as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LenientTime(TypeDecorator[datetime]):
    """A job time as read back: a time another tool wrote badly (``0000-00-00 00:00:00``,
    ``garbage`` in SQLite's text) reads as None (unknown) instead of failing the page or the
    command that shows it. Reads only (:func:`lenient`); the columns keep their own type."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: object) -> Any:
        inner = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)

        def process(value: object) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            try:
                out = inner(value) if inner is not None else value
            except (ValueError, TypeError, OverflowError):
                return None
            return out if isinstance(out, datetime) else None

        return process


def lenient(column: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """``column`` (a job time) read with :class:`LenientTime`, under its own name."""
    return type_coerce(column, LenientTime()).label(getattr(column, "name", None))


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
    be resumed) and those whose clip a curator approved (unless named in ``ids``).
    ``ids``: only these records.
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

Window = Sequence[int] | BindParameter[list[int]] | None  # the ids a statement is limited to
Params = Mapping[str, object]  # a statement's bound parameters
_Stmt = TypeVar("_Stmt", Select, Update)


def candidate(
    oid: ColumnElement[int],
    sel: Selection,
    window: Window,
    per_row: bool = False,
    master: bool = True,
) -> ColumnElement[bool]:
    """SQL: the record ``oid`` is one this selection is about (master image, maybe no clip).

    ``per_row``: for a statement that reads a few rows of an index walk (a claim): the tests
    are scalar subqueries, run for each row visited. As EXISTS they become joins, which read
    digital_object / object_image_ar from their first row, so a claim would cost more the
    further a run has got (PostgreSQL: 46 ms instead of 3 ms, 4% into a million records).
    ``master=False``: without the master image's test (a statement that reads the master
    images itself: :func:`count` on MySQL/MariaDB).
    """
    approved = approved_sql(oid)  # a verdict on the record's current clip only
    keep_approved = not sel.only_missing and sel.ids is None  # a named record is redone
    if per_row:
        first = select(FILES.c.id).where(is_master_file(oid)).limit(1).scalar_subquery()
        video = CLIPS.c.mp4_path.is_not(None) & (CLIPS.c.mp4_path != "")  # as has_clip
        clip = select(CLIPS.c.id).where(CLIPS.c.object_id == oid, video).limit(1).scalar_subquery()
        conds: list[ColumnElement[bool]] = [first.is_not(None)] if master else []
        if sel.only_missing:
            conds.append(clip.is_(None))
        if keep_approved:
            verdict = select(REVIEW.c.object_id).where(approved).limit(1).scalar_subquery()
            conds.append(verdict.is_(None))
    else:
        conds = [has_master(oid)] if master else []
        if sel.only_missing:
            conds.append(~has_clip(oid))
        if keep_approved:
            conds.append(~select(REVIEW.c.object_id).where(approved).exists())
    if window is not None:
        conds.append(oid.in_(window))
    return and_(*conds)


def not_done_since(
    sel: Selection, since: datetime | ColumnElement[datetime] | None = None
) -> ColumnElement[bool]:
    """SQL (``--all``): the job row was not finished at or after ``since``."""
    if sel.only_missing or sel.since is None:
        return literal(True)
    return or_(
        JOB.c.finished_at.is_(None), JOB.c.finished_at < (sel.since if since is None else since)
    )


def is_failure() -> ColumnElement[bool]:
    """SQL: the row is a batch failure (``failed``, ``given_up``, or ``pending`` with an error:
    its runner died or a stopped run gave it back)."""
    return or_(
        JOB.c.status.in_([FAILED, GIVEN_UP]),
        and_(JOB.c.status == PENDING, JOB.c.last_error.is_not(None)),
    )


def time_param(name: str) -> BindParameter[datetime]:
    """A bound parameter holding an aware time."""
    return bindparam(name, type_=DateTime(timezone=True))


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def clock(engine: Engine) -> str:
    """Whose clock claims use: ``postgresql`` | ``mysql`` (the server's) | ``python``."""
    fam = family(engine.dialect.name)
    return fam if fam in (POSTGRES, MYSQL) else "python"


def mysql_now() -> ColumnElement[datetime]:
    """SQL: MySQL/MariaDB's UTC clock, to the microsecond."""
    return func.utc_timestamp(literal_column("6"))


def mysql_plus(microseconds: int | ColumnElement[int]) -> ColumnElement[datetime]:
    """SQL: MySQL/MariaDB's UTC clock plus ``microseconds`` (an int or a bound parameter)."""
    return func.timestampadd(text("MICROSECOND"), microseconds, mysql_now())


def sql_now(engine: Engine, plus_secs: float = 0.0) -> ColumnElement[datetime]:
    """SQL for "now (+ seconds)": the database's clock on PostgreSQL and MySQL/MariaDB,
    Python's on SQLite."""
    which = clock(engine)
    if which == POSTGRES:
        now = func.now()
        return now + timedelta(seconds=plus_secs) if plus_secs else now
    if which == MYSQL:
        return mysql_plus(literal(int(plus_secs * 1e6), Integer())) if plus_secs else mysql_now()
    return literal(datetime.now(UTC) + timedelta(seconds=plus_secs), DateTime(timezone=True))


def on_index(stmt: _Stmt, index: str = "PRIMARY") -> _Stmt:
    """``stmt`` (a SELECT or UPDATE of image_ar_job) with MySQL's ``FORCE INDEX (index)``;
    unchanged elsewhere. InnoDB locks every row a locking statement reads, if only for a
    moment: a table scan would make the other runners' ``SKIP LOCKED`` claims skip rows that
    were never theirs to skip. Walking an index reads (and locks) only the rows meant."""
    hint = f"FORCE INDEX ({index})"
    for dialect in ("mysql", "mariadb"):
        if isinstance(stmt, Select):
            stmt = stmt.with_hint(JOB, hint, dialect_name=dialect)
        else:  # UPDATE: the hint text comes first
            stmt = stmt.with_hint(hint, JOB, dialect_name=dialect)
    return stmt


class PickAndUpdate:
    """``UPDATE image_ar_job SET ... WHERE object_id IN (<pick>) RETURNING <returning>`` on
    every database (see the module docstring). ``pick`` selects ``object_id`` (locked, e.g.
    ``FOR UPDATE SKIP LOCKED``); ``stmt`` is the UPDATE without that condition. Build once,
    :meth:`run` with the parameters of both."""

    _IDS = "picked_ids"

    def __init__(
        self,
        pick: Select,
        stmt: Update,
        returning: tuple[ColumnElement[object], ...] = (JOB.c.object_id,),
    ):
        self.pick = pick
        self.one = stmt.where(JOB.c.object_id.in_(pick)).returning(*returning)
        ids: BindParameter[list[int]] = bindparam(self._IDS, expanding=True)
        self.by_ids = on_index(stmt.where(JOB.c.object_id.in_(ids)))
        self.read = select(*returning).where(JOB.c.object_id.in_(ids))

    def run(self, conn: Connection, params: Params | None = None) -> list[Row]:
        params = params or {}
        if conn.dialect.update_returning:
            return list(conn.execute(self.one, params).all())
        picked = [row[0] for row in conn.execute(self.pick, params)]
        if not picked:
            return []
        both = {**params, self._IDS: picked}
        conn.execute(self.by_ids, both)
        return list(conn.execute(self.read, both).all())


@contextlib.contextmanager
def write_tx(engine: Engine, what: str) -> Iterator[Connection]:
    """One short write transaction; errors say "The batch could not ``what``"."""
    with locks.write_tx(engine, f"The batch could not {what}") as conn:
        yield conn


def read_rows(engine: Engine, query: Select, failure: str) -> list[Row]:
    """The rows of a read-only query; DB errors -> StorageError ``"<failure>: <cause>."``."""
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, failure, exc) from exc


__all__ = [
    "DONE",
    "FAILED",
    "GIVEN_UP",
    "ID_WINDOW",
    "JOB",
    "PENDING",
    "PickAndUpdate",
    "RUNNER_LOST",
    "RUNNING",
    "LenientTime",
    "Selection",
    "as_utc",
    "candidate",
    "clock",
    "is_failure",
    "is_postgres",
    "iso",
    "lenient",
    "mysql_now",
    "mysql_plus",
    "on_index",
    "not_done_since",
    "read_rows",
    "sql_now",
    "time_param",
    "write_tx",
]
