"""Who animates which record: claims on ``image_ar_job`` rows, safe across processes and hosts.

One row per record (``image_ar_job``, see :class:`imagear.db.ImageArJob`) says what a batch did
with it last: ``pending`` (to do), ``running`` (held by ``claimed_by`` until
``claim_expires_at``), ``done``, ``failed`` (retry at ``next_attempt_at``) or ``given_up``.

The rules that make several runners (cron entries, hosts) safe against one database:

- A runner only animates a record while it holds an unexpired claim on its row. A claim is
  taken by one conditional ``UPDATE ... WHERE object_id IN (SELECT ... FOR UPDATE SKIP LOCKED
  LIMIT n) RETURNING`` in a short transaction (shared with recording finished records): on
  PostgreSQL ``SKIP LOCKED`` makes two runners take disjoint rows without waiting on each
  other; on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the database's one write
  lock, waited for by ``busy_timeout``), so the select-and-update cannot interleave with
  another runner's on the same machine.
- Claims are leases: ``claim_expires_at = now + lease``, renewed by the runner's heartbeat for
  the rows it holds (by id). A runner that dies stops renewing; any later runner's *sweep* turns
  its expired rows back into ``pending`` (counting the lost attempt, ``RunnerLost``), so nothing
  stays stuck and the next run picks them up with no flag.
- Every write is guarded by ``claimed_by = me AND status = 'running'``: a runner that lost its
  claim (it stalled longer than the lease) cannot overwrite the new holder's bookkeeping.
- Time comes from one clock: PostgreSQL's ``now()`` when the database is PostgreSQL (hosts
  with skewed clocks still agree), Python's clock on SQLite (one machine).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    Interval,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.app import App
from imagear.db import DigitalObject, ImageArJob, InformationObject, ObjectImageAr
from imagear.errors import StorageError

JOB: Table = ImageArJob.__table__  # type: ignore[attr-defined]
_IO: Table = InformationObject.__table__  # type: ignore[attr-defined]
_DO: Table = DigitalObject.__table__  # type: ignore[attr-defined]
_AR: Table = ObjectImageAr.__table__  # type: ignore[attr-defined]

PENDING, RUNNING, DONE, FAILED, GIVEN_UP = "pending", "running", "done", "failed", "given_up"
RUNNER_LOST = "RunnerLost"
ID_WINDOW = 500  # ids per IN (...) list when the run is limited to given ids
_PG_ENQUEUE_LOCK = 7243102  # pg_advisory_xact_lock key of enqueue (db.py boots on 7243100)

_runner_lock = threading.Lock()
_runner_count = 0


def new_runner_id() -> str:
    """``host:pid`` (plus ``#n`` for a second runner in the same process)."""
    global _runner_count
    with _runner_lock:
        _runner_count += 1
        n = _runner_count
    base = f"{socket.gethostname()}:{os.getpid()}"
    return base if n == 1 else f"{base}#{n}"


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive values that were written as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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


@dataclass(frozen=True)
class Claim:
    """A record this runner holds; ``attempts`` counts this one."""

    object_id: int
    attempts: int


def _candidate(oid: Any, sel: Selection, window: Any) -> Any:
    """SQL: the record ``oid`` is one this selection is about (master image, maybe no clip)."""
    conds: list[Any] = [
        exists(
            select(_DO.c.id).where(
                _DO.c.object_id == oid,
                _DO.c.mime_type.like("image/%"),
                _DO.c.parent_id.is_(None),
            )
        )
    ]
    if sel.only_missing:
        conds.append(~exists(select(_AR.c.id).where(_AR.c.object_id == oid)))
    if window is not None:
        conds.append(oid.in_(window))
    return and_(*conds)


def _not_done_since(sel: Selection, since: Any = None) -> Any:
    """SQL (``--all``): the job row was not finished at or after ``since``."""
    if sel.only_missing or sel.since is None:
        return literal(True)
    return or_(
        JOB.c.finished_at.is_(None), JOB.c.finished_at < (sel.since if since is None else since)
    )


def _time_param(name: str) -> Any:
    return bindparam(name, type_=DateTime(timezone=True))


class ClaimStore:
    """The claim protocol for one runner. Thread-safe: every call uses its own connection."""

    def __init__(self, app: App, runner_id: str, *, lease_secs: float, max_attempts: int) -> None:
        self.app = app
        self.runner_id = runner_id
        self.lease_secs = float(lease_secs)
        self.max_attempts = int(max_attempts)
        self._cache: dict[tuple[Any, ...], Any] = {}  # hot statements, built once

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _pg(self) -> bool:
        return self.app.engine.dialect.name == "postgresql"

    def _at(self, plus_secs: float = 0.0) -> Any:
        """SQL for "now (+ seconds)": the database's clock on PostgreSQL, Python's on SQLite."""
        if self._pg:
            now = func.now()
            return now + timedelta(seconds=plus_secs) if plus_secs else now
        return literal(datetime.now(UTC) + timedelta(seconds=plus_secs), DateTime(timezone=True))

    def _times(self) -> dict[str, Any]:
        """Values of the time parameters of cached statements (see :meth:`_now_expr`)."""
        if self._pg:
            return {"lease": timedelta(seconds=self.lease_secs)}
        now = datetime.now(UTC)
        return {"now": now, "expires": now + timedelta(seconds=self.lease_secs)}

    def _now_expr(self, lease: bool = False) -> Any:
        """Now (+ the lease) as SQL for a cached statement: ``now()`` on PostgreSQL, a
        parameter filled by :meth:`_times` on SQLite."""
        if self._pg:
            return func.now() + bindparam("lease", type_=Interval()) if lease else func.now()
        return _time_param("expires" if lease else "now")

    @contextlib.contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        """One short write transaction (SQLite: ``BEGIN IMMEDIATE``); DB errors -> StorageError."""
        try:
            with self.app.engine.connect() as conn:
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

    def transaction(self, what: str) -> contextlib.AbstractContextManager[Connection]:
        """A short write transaction to pass as ``conn`` to several calls (one commit)."""
        return self._tx(what)

    def _use(self, conn: Connection | None, what: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(conn) if conn is not None else self._tx(what)

    def db_now(self) -> datetime:
        """The current time on the clock claims use."""
        if not self._pg:
            return datetime.now(UTC)
        with self._tx("read the database clock") as conn:
            value = conn.execute(select(func.now())).scalar_one()
        return as_utc(value) or datetime.now(UTC)

    # -- once per run --------------------------------------------------------------------------

    def prepare(self, sel: Selection) -> None:
        """Make sure every selected record has a job row, and reopen finished ones that qualify.

        New records get a ``pending`` row. A ``done`` row becomes ``pending`` again when the
        record qualifies anew (``--only-missing``: its clip was deleted; ``--all``: it was not
        re-animated since ``since``). With ``--only-missing``, a record whose runner died after
        storing its clip is marked done. Serialised between runners (advisory lock / SQLite
        lock).
        """
        with self._tx("prepare its job list") as conn:
            if self._pg:
                conn.execute(select(func.pg_advisory_xact_lock(_PG_ENQUEUE_LOCK)))
            now = self._at()
            for window in sel.windows():
                has_job = exists(select(JOB.c.object_id).where(JOB.c.object_id == _IO.c.id))
                source = (
                    select(_IO.c.id, literal(PENDING), literal(0), now)
                    .where(_candidate(_IO.c.id, sel, window), ~has_job)
                    .order_by(_IO.c.id)
                )
                conn.execute(
                    insert(JOB).from_select(
                        ["object_id", "status", "attempts", "updated_at"], source
                    )
                )
                conn.execute(
                    update(JOB)
                    .where(
                        JOB.c.status == DONE,
                        _not_done_since(sel),
                        _candidate(JOB.c.object_id, sel, window),
                    )
                    .values(status=PENDING, attempts=0, updated_at=now)
                )
            if sel.only_missing:  # died after storing the clip, before recording it: done
                has_clip = exists(select(_AR.c.id).where(_AR.c.object_id == JOB.c.object_id))
                conn.execute(
                    update(JOB)
                    .where(JOB.c.status == PENDING, JOB.c.last_error_kind == RUNNER_LOST, has_clip)
                    .values(
                        status=DONE,
                        attempts=0,
                        last_error=None,
                        last_error_kind=None,
                        finished_at=now,
                        updated_at=now,
                    )
                )

    def sweep(self) -> list[int]:
        """Reopen rows whose holder's claim expired (it died); return their ids.

        The lost attempt counts: a record that keeps killing its runner is given up after
        ``max_attempts`` like any other failure.
        """
        now = self._at()
        expired = (
            select(JOB.c.object_id)
            .where(JOB.c.status == RUNNING, JOB.c.claim_expires_at < now)
            .with_for_update(skip_locked=True)
        )
        message = (
            literal("The runner ")
            + func.coalesce(JOB.c.claimed_by, "?")
            + literal(" stopped (killed or crashed) while holding this record; its claim expired.")
        )
        stmt = (
            update(JOB)
            .where(JOB.c.object_id.in_(expired))
            .values(
                status=case((JOB.c.attempts >= self.max_attempts, GIVEN_UP), else_=PENDING),
                last_error=message,
                last_error_kind=RUNNER_LOST,
                claim_expires_at=None,
                next_attempt_at=None,
                updated_at=now,
            )
            .returning(JOB.c.object_id)
        )
        with self._tx("release expired claims") as conn:
            return sorted(row[0] for row in conn.execute(stmt))

    # -- per chunk / per record ---------------------------------------------------------------

    def _claim_stmt(self, phase: int, sel: Selection, windowed: bool) -> Any:
        """The claim statement of one phase (built once per shape, run with parameters).

        Phase 0 takes new work (``pending``); phase 1 ``failed`` rows whose retry time has
        come, except those that failed during this run (``updated_at >= started``): a run
        tries each record once. Each phase walks one range of the (status, object_id) index
        in order, so a claim reads a few rows however many records there are.
        """
        key = ("claim", phase, sel.only_missing, sel.since is not None, windowed)
        if key not in self._cache:
            now = self._now_expr()
            if phase == 0:
                cond = JOB.c.status == PENDING
            else:
                due = or_(JOB.c.next_attempt_at.is_(None), JOB.c.next_attempt_at <= now)
                cond = and_(JOB.c.status == FAILED, due, JOB.c.updated_at < _time_param("started"))
            window: Any = bindparam("window", expanding=True) if windowed else None
            pick = (
                select(JOB.c.object_id)
                .where(
                    cond,
                    _not_done_since(sel, _time_param("since")),
                    _candidate(JOB.c.object_id, sel, window),
                )
                .order_by(JOB.c.status, JOB.c.object_id)
                .limit(bindparam("n", type_=Integer()))
                .with_for_update(skip_locked=True)
            )
            self._cache[key] = (
                update(JOB)
                .where(JOB.c.object_id.in_(pick))
                .values(
                    status=RUNNING,
                    claimed_by=bindparam("me"),
                    claim_expires_at=self._now_expr(lease=True),
                    attempts=JOB.c.attempts + 1,
                    updated_at=now,
                )
                .returning(JOB.c.object_id, JOB.c.attempts)
            )
        return self._cache[key]

    def claim(
        self,
        n: int,
        sel: Selection,
        window: Sequence[int] | None,
        started: datetime,
        conn: Connection | None = None,
    ) -> list[Claim]:
        """Claim up to ``n`` records: new ones first, then due retries, lowest ids first.
        Each claim counts one attempt (given back by :meth:`release` if never started)."""
        if n <= 0:
            return []
        rows: list[Any] = []
        params: dict[str, Any] = {"me": self.runner_id, "started": started, "since": sel.since}
        if window is not None:
            params["window"] = list(window)
        with self._use(conn, "claim records") as tx:
            for phase in (0, 1):
                left = n - len(rows)
                if left <= 0:
                    break
                stmt = self._claim_stmt(phase, sel, window is not None)
                rows.extend(tx.execute(stmt, {**params, **self._times(), "n": left}).all())
        return sorted((Claim(int(r[0]), int(r[1])) for r in rows), key=lambda c: c.object_id)

    def _mine(self, ids: Sequence[int]) -> Any:
        return and_(
            JOB.c.object_id.in_(list(ids)),
            JOB.c.claimed_by == self.runner_id,
            JOB.c.status == RUNNING,
        )

    def renew(self, ids: Sequence[int]) -> int:
        """Heartbeat: push the claims on ``ids`` forward by one lease; return how many held."""
        if not ids:
            return 0
        with self._tx("renew its claims") as conn:
            result = conn.execute(
                update(JOB)
                .where(self._mine(ids))
                .values(claim_expires_at=self._at(self.lease_secs))
            )
        return int(result.rowcount or 0)

    def finish_done(self, object_ids: Sequence[int], conn: Connection | None = None) -> set[int]:
        """Record successes (one statement); returns the ids recorded. An id missing from the
        result had lost its claim (it expired and another runner took the record over)."""
        if not object_ids:
            return set()
        if ("done",) not in self._cache:
            now = self._now_expr()
            self._cache[("done",)] = (
                update(JOB)
                .where(
                    JOB.c.object_id.in_(bindparam("ids", expanding=True)),
                    JOB.c.claimed_by == bindparam("me"),
                    JOB.c.status == RUNNING,
                )
                .values(
                    status=DONE,
                    attempts=0,
                    claim_expires_at=None,
                    finished_at=now,
                    last_error=None,
                    last_error_kind=None,
                    next_attempt_at=None,
                    updated_at=now,
                )
                .returning(JOB.c.object_id)
            )
        params = {"ids": list(object_ids), "me": self.runner_id, **self._times()}
        with self._use(conn, "record finished records") as tx:
            rows = tx.execute(self._cache[("done",)], params).all()
        return {int(r[0]) for r in rows}

    def finish_failed(
        self, object_id: int, *, kind: str, message: str, retry_in: float | None
    ) -> bool:
        """Record a failure: retry after ``retry_in`` seconds, or give up when it is None."""
        now = self._at()
        with self._tx("record a failure") as conn:
            result = conn.execute(
                update(JOB)
                .where(self._mine([object_id]))
                .values(
                    status=FAILED if retry_in is not None else GIVEN_UP,
                    claim_expires_at=None,
                    last_error=message,
                    last_error_kind=kind[:64],
                    next_attempt_at=None if retry_in is None else self._at(retry_in),
                    updated_at=now,
                )
            )
        return bool(result.rowcount)

    def release(self, ids: Sequence[int]) -> int:
        """Give back claims on records not (fully) tried: ``pending``, the attempt not counted."""
        if not ids:
            return 0
        with self._tx("release its claims") as conn:
            result = conn.execute(
                update(JOB)
                .where(self._mine(ids))
                .values(
                    status=PENDING,
                    attempts=case((JOB.c.attempts > 0, JOB.c.attempts - 1), else_=0),
                    claim_expires_at=None,
                    updated_at=self._at(),
                )
            )
        return int(result.rowcount or 0)

    # -- read-only -----------------------------------------------------------------------------

    def _plan_query(self, sel: Selection, window: Sequence[int] | None) -> Any:
        """SELECT of the records a run would take now, in order (no job row yet = new)."""
        now = self._at()
        j = JOB
        takeable = or_(
            j.c.object_id.is_(None),
            and_(
                j.c.status.in_([PENDING, FAILED]),
                or_(j.c.next_attempt_at.is_(None), j.c.next_attempt_at <= now),
            ),
            j.c.status == DONE,
            and_(j.c.status == RUNNING, j.c.claim_expires_at < now),
        )
        return (
            select(
                _IO.c.id,
                _IO.c.identifier,
                _IO.c.title,
                j.c.status,
                j.c.attempts,
                j.c.last_error_kind,
            )
            .select_from(_IO.outerjoin(j, j.c.object_id == _IO.c.id))
            .where(_candidate(_IO.c.id, sel, window), takeable, _not_done_since(sel))
            .order_by(_IO.c.id)
        )

    def _read(self, what: str, query: Any) -> list[Any]:
        try:
            with self.app.engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise StorageError(f"The batch could not {what}: {exc}.") from exc

    def plan(self, sel: Selection, limit: int | None) -> list[dict[str, Any]]:
        """What a run would take now, in order (no writes), for ``--dry-run``.

        Records with no job row yet count as new; expired claims as what the sweep reopens.
        """
        out: list[dict[str, Any]] = []
        for window in sel.windows():
            left = None if limit is None else limit - len(out)
            if left is not None and left <= 0:
                break
            query = self._plan_query(sel, window)
            if left is not None:
                query = query.limit(left)
            for r in self._read("list the records to do", query):
                status = r.status or "new"
                out.append(
                    {
                        "object_id": r.id,
                        "identifier": r.identifier,
                        "title": r.title,
                        "status": "expired claim" if status == RUNNING else status,
                        "attempts": r.attempts or 0,
                        "last_error_kind": r.last_error_kind,
                    }
                )
        return out

    def count(self, sel: Selection, limit: int | None) -> int:
        """How many records :meth:`plan` would list (at most ``limit``)."""
        total = 0
        for window in sel.windows():
            query = self._plan_query(sel, window)
            if limit is not None:
                query = query.limit(limit - total)
            counted = select(func.count()).select_from(query.subquery())
            total += int(self._read("count the records to do", counted)[0][0])
            if limit is not None and total >= limit:
                break
        return total


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.isoformat() if aware else None


def _job_dict(row: Any) -> dict[str, Any]:
    return {
        "object_id": row.object_id,
        "identifier": row.identifier,
        "status": row.status,
        "attempts": row.attempts,
        "error_kind": row.last_error_kind,
        "error": row.last_error,
        "next_attempt_at": _iso(row.next_attempt_at),
        "claimed_by": row.claimed_by,
        "updated_at": _iso(row.updated_at),
    }


def list_failures(app: App) -> list[dict[str, Any]]:
    """Records whose last batch attempt failed: ``failed`` (will be retried) and ``given_up``.

    Also ``pending`` rows that carry an error (their runner died, or a stopped run gave them
    back): they are retried by the next run.
    """
    j = JOB
    query = (
        select(
            j.c.object_id,
            _IO.c.identifier,
            j.c.status,
            j.c.attempts,
            j.c.last_error_kind,
            j.c.last_error,
            j.c.next_attempt_at,
            j.c.claimed_by,
            j.c.updated_at,
        )
        .select_from(j.outerjoin(_IO, _IO.c.id == j.c.object_id))
        .where(
            or_(
                j.c.status.in_([FAILED, GIVEN_UP]),
                and_(j.c.status == PENDING, j.c.last_error.is_not(None)),
            )
        )
        .order_by(case((j.c.status == GIVEN_UP, 0), else_=1), j.c.object_id)
    )
    try:
        with app.engine.connect() as conn:
            return [_job_dict(r) for r in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise StorageError(f"Could not read the batch failures: {exc}.") from exc


def count_given_up(app: App) -> int:
    """How many records the batch has given up on (waiting for `imagear batch reset`)."""
    try:
        with app.engine.connect() as conn:
            query = select(func.count()).select_from(JOB).where(JOB.c.status == GIVEN_UP)
            return int(conn.execute(query).scalar_one())
    except SQLAlchemyError as exc:
        raise StorageError(f"Could not read the batch failures: {exc}.") from exc


def reset_failures(app: App, object_ids: Sequence[int] | None = None) -> list[int]:
    """Let failed / given-up records be tried by the next run: attempts and error cleared.

    ``object_ids`` None means every such record (those `imagear batch failures` lists); ids
    that are not failures (done, running, never tried) are left alone. Returns the ids reset.
    """
    store = ClaimStore(app, "reset", lease_secs=0, max_attempts=0)
    where = [
        or_(
            JOB.c.status.in_([FAILED, GIVEN_UP]),
            and_(JOB.c.status == PENDING, JOB.c.last_error.is_not(None)),
        )
    ]
    if object_ids is not None:
        where.append(JOB.c.object_id.in_(list(object_ids)))
    with store._tx("reset failures") as conn:
        rows = conn.execute(
            update(JOB)
            .where(*where)
            .values(
                status=PENDING,
                attempts=0,
                last_error=None,
                last_error_kind=None,
                next_attempt_at=None,
                updated_at=store._at(),
            )
            .returning(JOB.c.object_id)
        ).all()
    return sorted(int(r[0]) for r in rows)


__all__ = [
    "DONE",
    "FAILED",
    "GIVEN_UP",
    "JOB",
    "PENDING",
    "RUNNER_LOST",
    "RUNNING",
    "Claim",
    "ClaimStore",
    "Selection",
    "as_utc",
    "count_given_up",
    "list_failures",
    "new_runner_id",
    "reset_failures",
]
