"""What a batch run would take now, read-only: the plan (``--dry-run``'s listing), its count,
and the state of records named by id. The job rows and the SQL pieces these queries share
(:class:`~imagear.db.jobs.Selection`, :func:`~imagear.db.jobs.candidate`, the clock) are
:mod:`imagear.db.jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    distinct,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.engine import MYSQL, family
from imagear.db.jobs import (
    DONE,
    FAILED,
    JOB,
    PENDING,
    RUNNING,
    Selection,
    as_utc,
    candidate,
    lenient,
    not_done_since,
    read_rows,
    sql_now,
)
from imagear.db.records import has_clip, has_master, is_master_file
from imagear.db.rows import NamedRow
from imagear.db.schema import FILES
from imagear.domain import PlannedRecord


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
    engine: Engine,
    sel: Selection,
    window: Sequence[int] | None,
    limit: int | None,
    every_file_a_record: bool = False,
) -> Select:
    """SELECT of how many records :func:`plan` would list for ``window`` (at most ``limit``).

    MySQL/MariaDB, over every record, without a limit: the records the selection covers (a
    master image, maybe no clip: :func:`_covered`) less those of them whose job row cannot be
    taken now (:func:`_held_back`). MariaDB has no hash join: the plan's form looked up each
    record's job row (a second per million records) where the rows held back are read from
    the job table alone, and few: at a million records, 4.47 s -> 2.9 s. Not when ``--all``
    resumes a run (``since``): every record it did since then is held back, most of them late
    in the run, and each would be looked up twice. Then, and with a limit: driven from the
    master images, joined to their record and job row, counted with ``COUNT(DISTINCT)`` (a
    record with several master images is counted once). ``every_file_a_record``: proven by
    :func:`_every_file_a_record`, so the covered records need no lookup of each record.
    """
    if window is not None or family(engine.dialect.name) != MYSQL:
        query = _plan_query(engine, sel, window).order_by(None)  # a count needs no order
        if limit is not None:
            query = query.limit(limit)
        return select(func.count()).select_from(query.subquery())
    if limit is None and sel.since is None:
        covered = _covered(engine, sel, every_file_a_record).scalar_subquery()
        return select(covered - _held_back(engine, sel).scalar_subquery())
    r, j = flavour.of(engine).records, JOB
    masters = FILES.join(r, r.c.id == FILES.c.object_id).outerjoin(j, j.c.object_id == r.c.id)
    conds = (
        is_master_file(r.c.id),
        candidate(r.c.id, sel, None, master=False),
        _takeable(engine),
        not_done_since(sel),
    )
    if limit is None:
        return select(func.count(distinct(r.c.id))).select_from(masters).where(*conds)
    ids = select(r.c.id).distinct().select_from(masters).where(*conds).limit(limit)
    return select(func.count()).select_from(ids.subquery())


def _covered(engine: Engine, sel: Selection, every_file_a_record: bool = False) -> Select:
    """MySQL/MariaDB: how many records the selection covers, whatever their job rows say:
    driven from the master images, joined to their record, counted with ``COUNT(DISTINCT)``
    (a record with several master images is counted once). ``every_file_a_record``: every
    file's ``object_id`` is known to be a record's id, so the files are counted alone: at a
    million records the join was two thirds of the count (a primary-key lookup per file, 1.1 s
    of 1.5 s; MariaDB has no hash join that helps)."""
    if every_file_a_record:
        oid = FILES.c.object_id
        conds = (is_master_file(oid), candidate(oid, sel, None, master=False))
        return select(func.count(distinct(oid))).where(*conds)
    r = flavour.of(engine).records
    masters = FILES.join(r, r.c.id == FILES.c.object_id)
    conds = (is_master_file(r.c.id), candidate(r.c.id, sel, None, master=False))
    return select(func.count(distinct(r.c.id))).select_from(masters).where(*conds)


def _every_file_a_record(conn: Connection, engine: Engine) -> bool:
    """Whether every file's ``object_id`` is the id of a record, proven cheaply: the records'
    ids leave no gap (as many records as ids from the least to the greatest: one pass over the
    primary key, 76 ms at a million) and the files' ``object_id`` lie within them (two index
    ends). True on imagear's own database, whose records are numbered in turn and never
    deleted; rarely on AtoM's, whose records share their ids with actors, terms and the rest,
    so that count keeps its join."""
    r = flavour.of(engine).records
    records = conn.execute(select(func.count(), func.min(r.c.id), func.max(r.c.id))).one()
    files = conn.execute(select(func.min(FILES.c.object_id), func.max(FILES.c.object_id))).one()
    (n, low, high), (first, last) = records, files
    if first is None:  # no file names a record: nothing to look up
        return True
    if not n or high - low + 1 != n:
        return False
    return bool(low <= first and last <= high)


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
    if family(engine.dialect.name) == MYSQL and limit is None and sel.ids is None:
        return _mysql_count(engine, sel)
    total = 0
    for window in sel.windows():
        counted = _counting(engine, sel, window, None if limit is None else limit - total)
        rows = read_rows(engine, counted, "The batch could not count the records to do")
        total += int(rows[0][0])
        if limit is not None and total >= limit:
            break
    return total


def _mysql_count(engine: Engine, sel: Selection) -> int:
    """MySQL/MariaDB, every record, no limit: :func:`_counting`'s count, in one repeatable-read
    transaction (one InnoDB snapshot: the proof of :func:`_every_file_a_record` holds for the
    count; not needed when ``--all`` resumes a run, which reads the files once anyway)."""
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            whole = sel.since is None and _every_file_a_record(conn, engine)
            return int(conn.execute(_counting(engine, sel, None, None, whole)).scalar_one())
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "The batch could not count the records to do", exc) from exc


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


__all__ = ["count", "named_rows", "plan"]
