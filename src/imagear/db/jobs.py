"""The ``image_ar_job`` rows the batch keeps: their states, which records a run selects, one
clock, and the read-only queries (the plan, the named records, the failures).

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
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from imagear.db import flavour, locks
from imagear.db.engine import MYSQL, POSTGRES, family
from imagear.db.records import has_clip, has_master, is_master_file
from imagear.db.review import REVIEW, approved_sql
from imagear.db.rows import NamedRow
from imagear.db.schema import CLIPS, FILES, JOB
from imagear.domain import PlannedRecord

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


# -- the plan (--dry-run) and the named records ------------------------------------------------


def _plan_query(
    engine: Engine, sel: Selection, window: Sequence[int] | None, per_row: bool = False
) -> Select:
    """SELECT of the records a run would take now, in order (no job row yet = new).

    ``per_row`` (the listing on MySQL/MariaDB): the master / clip / verdict checks as scalar
    subqueries run for each record read in id order, so a listing of 1,000 stops after about
    1,000 records; as EXISTS, MariaDB turns them into semi-joins that first build a temporary
    table of every master image (half a million rows at a million records: 4.4 s instead of
    0.04 s). PostgreSQL plans the EXISTS form well and keeps it.

    A record is listed when the selection covers it and its job row (if any) is
    :func:`_takeable`.
    """
    fl = flavour.of(engine)
    r = fl.records
    j = JOB
    return (
        select(
            r.c.id,
            r.c.identifier,
            fl.title().label("title"),
            j.c.status,
            j.c.attempts,
            j.c.last_error_kind,
        )
        .select_from(r.outerjoin(j, j.c.object_id == r.c.id))
        .where(candidate(r.c.id, sel, window, per_row), _takeable(engine), not_done_since(sel))
        .order_by(r.c.id)
    )


def _takeable(engine: Engine) -> ColumnElement[bool]:
    """SQL: the record's job row (outer-joined; NULL: none yet) lets a claim take it now: no
    row, ``pending``, ``failed`` whose retry time has come, ``done`` (reopened by ``prepare``),
    or ``running`` with an expired claim (what the sweep reopens)."""
    now = sql_now(engine)
    j = JOB
    return or_(
        j.c.object_id.is_(None),
        and_(
            j.c.status.in_([PENDING, FAILED]),
            or_(j.c.next_attempt_at.is_(None), j.c.next_attempt_at <= now),
        ),
        j.c.status == DONE,
        and_(j.c.status == RUNNING, j.c.claim_expires_at < now),
    )


def plan(engine: Engine, sel: Selection, limit: int | None) -> list[PlannedRecord]:
    """What a run would take now, in order (no writes), for ``--dry-run``."""
    out: list[PlannedRecord] = []
    per_row = family(engine.dialect.name) == MYSQL
    for window in sel.windows():
        left = None if limit is None else limit - len(out)
        if left is not None and left <= 0:
            break
        query = _plan_query(engine, sel, window, per_row)
        if left is not None:
            query = query.limit(left)
        for r in read_rows(engine, query, "The batch could not list the records to do"):
            status = r.status or "new"
            out.append(
                PlannedRecord(
                    object_id=int(r.id),
                    identifier=r.identifier,
                    title=r.title,
                    status="expired claim" if status == RUNNING else status,
                    attempts=int(r.attempts or 0),
                    last_error_kind=r.last_error_kind,
                )
            )
    return out


def _counting(
    engine: Engine, sel: Selection, window: Sequence[int] | None, limit: int | None
) -> Select:
    """SELECT of how many records :func:`plan` would list for ``window`` (at most ``limit``).

    MySQL/MariaDB, over every record, without a limit: the records the selection covers (a
    master image, maybe no clip: :func:`_covered`) less those of them whose job row cannot be
    taken now (:func:`_held_back`). MariaDB has no hash join: the plan's form looked up each
    record's job row (a second per million records) where the rows held back are read from
    the job table alone, and few: at a million records, 4.47 s -> about 2.5 s. With a limit:
    driven from the master images, joined to their record and job row.
    """
    if window is not None or family(engine.dialect.name) != MYSQL:
        query = _plan_query(engine, sel, window).order_by(None)  # a count needs no order
        if limit is not None:
            query = query.limit(limit)
        return select(func.count()).select_from(query.subquery())
    if limit is None:
        covered = _covered(engine, sel).scalar_subquery()
        return select(covered - _held_back(engine, sel).scalar_subquery())
    r, j = flavour.of(engine).records, JOB
    masters = FILES.join(r, r.c.id == FILES.c.object_id).outerjoin(j, j.c.object_id == r.c.id)
    conds = (
        is_master_file(r.c.id),
        candidate(r.c.id, sel, None, master=False),
        _takeable(engine),
        not_done_since(sel),
    )
    ids = select(r.c.id).distinct().select_from(masters).where(*conds).limit(limit)
    return select(func.count()).select_from(ids.subquery())


def _covered(engine: Engine, sel: Selection) -> Select:
    """MySQL/MariaDB: how many records the selection covers, whatever their job rows say:
    driven from the master images, joined to their record, counted with ``COUNT(DISTINCT)``
    (a record with several master images is counted once)."""
    r = flavour.of(engine).records
    masters = FILES.join(r, r.c.id == FILES.c.object_id)
    conds = (is_master_file(r.c.id), candidate(r.c.id, sel, None, master=False))
    return select(func.count(distinct(r.c.id))).select_from(masters).where(*conds)


def _held_back(engine: Engine, sel: Selection) -> Select:
    """MySQL/MariaDB: how many of the records :func:`_covered` counts have a job row a claim
    cannot take now (or, ``--all`` since a time, one finished since then): read from the job
    table (every row: no index holds the retry times, 0.3 s at a million) and only for those
    rows (few) the record and its master image, in that order (``STRAIGHT_JOIN``: left to
    choose, MariaDB read every master image first, 2.7 s). ``IS NOT TRUE``: a row whose test is
    unknown (NULL) is not taken by the plan either."""
    r, j = flavour.of(engine).records, JOB
    rows = j.join(r, r.c.id == j.c.object_id).join(FILES, FILES.c.object_id == r.c.id)
    taken = and_(_takeable(engine), not_done_since(sel))
    conds = (
        taken.is_not(true()),
        is_master_file(r.c.id),
        candidate(r.c.id, sel, None, master=False),
    )
    query = select(func.count(distinct(r.c.id))).select_from(rows).where(*conds)
    return query.prefix_with("STRAIGHT_JOIN", dialect="mysql")


def count(engine: Engine, sel: Selection, limit: int | None) -> int:
    """How many records :func:`plan` would list (at most ``limit``)."""
    total = 0
    for window in sel.windows():
        counted = _counting(engine, sel, window, None if limit is None else limit - total)
        rows = read_rows(engine, counted, "The batch could not count the records to do")
        total += int(rows[0][0])
        if limit is not None and total >= limit:
            break
    return total


def named_rows(engine: Engine, window: Sequence[int]) -> dict[int, NamedRow]:
    """For the ids of ``window``: whether each exists, has a master image and a clip, and its
    job row's state, keyed by id (missing ids are absent)."""
    j = JOB
    r = flavour.of(engine).records
    query = (
        select(
            r.c.id,
            has_master(r.c.id).label("has_master"),
            has_clip(r.c.id).label("has_clip"),
            j.c.status,
            j.c.attempts,
            lenient(j.c.next_attempt_at),
            j.c.claimed_by,
            lenient(j.c.claim_expires_at),
            lenient(j.c.finished_at),
        )
        .select_from(r.outerjoin(j, j.c.object_id == r.c.id))
        .where(r.c.id.in_(list(window)))
    )
    rows = read_rows(engine, query, "The batch could not look up the named records")
    return {
        int(r.id): NamedRow(
            int(r.id),
            bool(r.has_master),
            bool(r.has_clip),
            r.status,
            int(r.attempts or 0),
            as_utc(r.next_attempt_at),
            r.claimed_by,
            as_utc(r.claim_expires_at),
            as_utc(r.finished_at),
        )
        for r in rows
    }


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
    "count",
    "is_failure",
    "is_postgres",
    "iso",
    "lenient",
    "mysql_now",
    "mysql_plus",
    "on_index",
    "named_rows",
    "not_done_since",
    "plan",
    "read_rows",
    "sql_now",
    "time_param",
    "write_tx",
]
