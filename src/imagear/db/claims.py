"""Who animates which record: claims on ``image_ar_job`` rows, safe across processes and hosts.

:class:`ClaimStore` is the claim protocol of one runner: prepare the job rows of a run, sweep
the claims of dead runners, claim records, renew, record outcomes, give claims back. The job
rows' states, the selection and the clock are in :mod:`imagear.db.jobs`.

The rules that make several runners (cron entries, hosts) safe against one database:

- A runner only animates a record while it holds an unexpired claim on its row. A claim is
  taken by one conditional ``UPDATE ... WHERE object_id IN (SELECT ... FOR UPDATE SKIP LOCKED
  LIMIT n) RETURNING`` in a short transaction (shared with recording finished records): on
  PostgreSQL ``SKIP LOCKED`` makes two runners take disjoint rows without waiting on each
  other; on MySQL/MariaDB (no ``UPDATE ... RETURNING``) the same transaction selects the ids
  ``FOR UPDATE SKIP LOCKED`` first, then updates and reads back those rows
  (:class:`imagear.db.jobs.PickAndUpdate`); on SQLite the transaction starts with
  ``BEGIN IMMEDIATE`` (the database's one write lock, waited for by ``busy_timeout``), so the
  select-and-update cannot interleave with another runner's on the same machine.
- Claims are leases: ``claim_expires_at = now + lease``, renewed by the runner's heartbeat for
  the rows it holds (by id). A runner that dies stops renewing; any later runner's *sweep* turns
  its expired rows back into ``pending``, so nothing stays stuck and the next run picks them up
  with no flag. The lost attempt counts (``RunnerLost``) only when the record's generation had
  begun (:meth:`ClaimStore.started`: while a row is ``running``, ``next_attempt_at`` says
  since when it generates, NULL before); a claim never started costs nothing.
- Every write is guarded by ``claimed_by = me AND status = 'running'``: a runner that lost its
  claim (it stalled longer than the lease) cannot overwrite the new holder's bookkeeping.
- Time comes from one clock: the database server's on PostgreSQL (``now()``) and MySQL/MariaDB
  (``UTC_TIMESTAMP(6)``), so hosts with skewed clocks still agree; Python's clock on SQLite
  (one machine).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Interval,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import Select

from imagear.db import locks
from imagear.db.claim_holder import Claim, new_runner_id
from imagear.db.engine import MYSQL, POSTGRES, skip_locked_problem
from imagear.db.jobs import (
    DONE,
    FAILED,
    GIVEN_UP,
    PENDING,
    RUNNER_LOST,
    RUNNING,
    PickAndUpdate,
    Selection,
    Window,
    as_utc,
    candidate,
    clock,
    mysql_now,
    mysql_plus,
    not_done_since,
    on_index,
    sql_now,
    time_param,
    write_tx,
)
from imagear.db.records import has_clip
from imagear.db.schema import JOB, JOB_INDEX, RECORDS
from imagear.errors import StorageError

SKIPPED_WAIT_SECS = 1.0  # MySQL: how long a claim retries rows skipped for a moment


ANALYZE_AFTER = 10_000
"""Rows a run adds to image_ar_job (or reopens) after which PostgreSQL's statistics are
refreshed."""


class ClaimStore:
    """The claim protocol for one runner. Thread-safe: every call uses its own connection."""

    def __init__(
        self, engine: Engine, runner_id: str, *, lease_secs: float, max_attempts: int
    ) -> None:
        self.engine = engine
        self.runner_id = runner_id
        self.lease_secs = float(lease_secs)
        self.max_attempts = int(max_attempts)
        self._cache: dict[tuple[object, ...], PickAndUpdate | Select] = {}  # built once
        # new work is walked in id order from the highest id this runner claimed (per window)
        self._after: dict[tuple[int, ...] | None, int] = {}

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _clock(self) -> str:
        return clock(self.engine)

    def _at(self, plus_secs: float = 0.0) -> ColumnElement[datetime]:
        """SQL for "now (+ seconds)" (see :func:`imagear.db.jobs.sql_now`)."""
        return sql_now(self.engine, plus_secs)

    def _times(self) -> dict[str, object]:
        """Values of the time parameters of cached statements (see :meth:`_now_expr`)."""
        if self._clock == POSTGRES:
            return {"lease": timedelta(seconds=self.lease_secs)}
        if self._clock == MYSQL:
            return {"lease_us": int(self.lease_secs * 1e6)}
        now = datetime.now(UTC)
        return {"now": now, "expires": now + timedelta(seconds=self.lease_secs)}

    def _now_expr(self, lease: bool = False) -> ColumnElement[datetime]:
        """Now (+ the lease) as SQL for a cached statement: the server's clock on PostgreSQL
        and MySQL/MariaDB, a parameter filled by :meth:`_times` on SQLite."""
        if self._clock == POSTGRES:
            return func.now() + bindparam("lease", type_=Interval()) if lease else func.now()
        if self._clock == MYSQL:
            return mysql_plus(bindparam("lease_us", type_=Integer())) if lease else mysql_now()
        return time_param("expires" if lease else "now")

    def transaction(self, what: str) -> contextlib.AbstractContextManager[Connection]:
        """A short write transaction (SQLite: ``BEGIN IMMEDIATE``), also to pass as ``conn`` to
        several calls (one commit); database errors raise StorageError."""
        return write_tx(self.engine, what)

    def _use(self, conn: Connection | None, what: str) -> AbstractContextManager[Connection]:
        return contextlib.nullcontext(conn) if conn is not None else self.transaction(what)

    def db_now(self) -> datetime:
        """The current time on the clock claims use."""
        if self._clock == "python":
            return datetime.now(UTC)
        now = func.now() if self._clock == POSTGRES else mysql_now()
        with self.transaction("read the database clock") as conn:
            value = conn.execute(select(now)).scalar_one()
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
        added = 0
        with self.transaction("prepare its job list") as conn:
            locks.lock_key(conn, locks.ENQUEUE_KEY)
            now = self._at()
            for window in sel.windows():
                has_job = exists(select(JOB.c.object_id).where(JOB.c.object_id == RECORDS.c.id))
                source = (
                    select(RECORDS.c.id, literal(PENDING), literal(0), now)
                    .where(candidate(RECORDS.c.id, sel, window), ~has_job)
                    .order_by(RECORDS.c.id)
                )
                add = insert(JOB).from_select(
                    ["object_id", "status", "attempts", "updated_at"], source
                )
                added += max(
                    0, conn.execute(add.execution_options(preserve_rowcount=True)).rowcount
                )
                reopen = (
                    update(JOB)
                    .where(
                        JOB.c.status == DONE,
                        not_done_since(sel),
                        candidate(JOB.c.object_id, sel, window),
                    )
                    .values(status=PENDING, attempts=0, updated_at=now)
                )
                added += max(0, conn.execute(on_index(reopen, JOB_INDEX)).rowcount)
            if sel.only_missing:  # died after storing the clip, before recording it: done
                stored = (
                    update(JOB)
                    .where(
                        JOB.c.status == PENDING,
                        JOB.c.last_error_kind == RUNNER_LOST,
                        has_clip(JOB.c.object_id),
                    )
                    .values(
                        status=DONE,
                        attempts=0,
                        last_error=None,
                        last_error_kind=None,
                        finished_at=now,
                        updated_at=now,
                    )
                )
                conn.execute(on_index(stored, JOB_INDEX))
        if added >= ANALYZE_AFTER and self._clock == POSTGRES:
            self._analyze()

    def _analyze(self) -> None:
        """Refresh PostgreSQL's statistics of image_ar_job after many rows were added or
        reopened: planned with the old ones (say, an empty table), a claim reads every pending
        row and sorts them (seconds a claim) until autovacuum gets to the table."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text(f"ANALYZE {JOB.name}"))
                conn.commit()
        except SQLAlchemyError:
            pass  # not the table's owner: autovacuum analyses it a little later

    def sweep(self) -> list[int]:
        """Reopen rows whose holder's claim expired (it died); return their ids.

        The lost attempt counts when the record had started generating (a record that keeps
        killing its runner is given up after ``max_attempts`` like any other failure); a claim
        never started is given back as :meth:`release` does. The first claim statement of a run:
        a MySQL/MariaDB too old for ``SKIP LOCKED`` is refused here, before any write.
        """
        problem = skip_locked_problem(self.engine)
        if problem:
            raise StorageError(
                problem,
                "Upgrade the database server, or run imagear animate per record instead.",
            )
        now = self._at()
        expired = on_index(
            select(JOB.c.object_id)
            .where(JOB.c.status == RUNNING, JOB.c.claim_expires_at < now)
            .with_for_update(skip_locked=True),
            JOB_INDEX,
        )
        message = (
            literal("The runner ")
            + func.coalesce(JOB.c.claimed_by, "?")
            + literal(" stopped (killed or crashed) while holding this record; its claim expired.")
        )
        # generating (see started). MySQL evaluates SET left to right, each term seeing the
        # values set before it: the columns are set in table order, next_attempt_at after
        # every term that reads it, attempts after status
        began = JOB.c.next_attempt_at.is_not(None)
        stmt = PickAndUpdate(
            expired,
            update(JOB).values(
                status=case(
                    (and_(began, JOB.c.attempts >= self.max_attempts), GIVEN_UP), else_=PENDING
                ),
                attempts=case((began, JOB.c.attempts), else_=_uncounted()),
                last_error=case((began, message), else_=JOB.c.last_error),
                last_error_kind=case((began, RUNNER_LOST), else_=JOB.c.last_error_kind),
                claim_expires_at=None,
                next_attempt_at=None,
                updated_at=now,
            ),
        )
        with self.transaction("release expired claims") as conn:
            return sorted(int(row[0]) for row in stmt.run(conn))

    # -- per chunk / per record ----------------------------------------------------------------

    def _claim_stmt(self, phase: int, sel: Selection, windowed: bool) -> PickAndUpdate:
        """The claim statement of one phase (built once per shape, run with parameters).

        Phase 0 takes new work (``pending``); phase 1 ``failed`` rows whose retry time has
        come, except those that failed during this run (``updated_at >= started``): a run
        tries each record once. Each phase walks one range of the (status, object_id) index
        in order, so a claim reads a few rows however many records there are.
        """
        key = ("claim", phase, sel.only_missing, sel.since is not None, windowed)
        if key not in self._cache:
            now = self._now_expr()
            if phase == 0:  # from this runner's cursor (see claim)
                cond = and_(JOB.c.status == PENDING, JOB.c.object_id > bindparam("after"))
            else:
                due = or_(JOB.c.next_attempt_at.is_(None), JOB.c.next_attempt_at <= now)
                cond = and_(JOB.c.status == FAILED, due, JOB.c.updated_at < time_param("started"))
            window: Window = bindparam("window", expanding=True) if windowed else None
            probe = (
                select(JOB.c.object_id)
                .where(
                    cond,
                    not_done_since(sel, time_param("since")),
                    candidate(JOB.c.object_id, sel, window, per_row=True),
                )
                .order_by(JOB.c.status, JOB.c.object_id)
                .limit(bindparam("n", type_=Integer()))
            )
            # InnoDB locks every row it reads: a table scan and a sort would lock all the
            # pending rows (the other runners would then skip them all), the index walk locks
            # only the n rows taken
            pick = on_index(probe.with_for_update(skip_locked=True), JOB_INDEX)
            self._cache[("probe", *key[1:])] = probe
            self._cache[key] = PickAndUpdate(
                pick,
                update(JOB).values(
                    status=RUNNING,
                    claimed_by=bindparam("me"),
                    claim_expires_at=self._now_expr(lease=True),
                    attempts=JOB.c.attempts + 1,
                    next_attempt_at=None,  # not generating yet (see started)
                    updated_at=now,
                ),
                (JOB.c.object_id, JOB.c.attempts, JOB.c.last_error_kind),
            )
        return cast(PickAndUpdate, self._cache[key])

    def claim(
        self,
        n: int,
        sel: Selection,
        window: Sequence[int] | None,
        started: datetime,
        conn: Connection | None = None,
    ) -> list[Claim]:
        """Claim up to ``n`` records: new ones first, then due retries, lowest ids first.
        Each claim counts one attempt (given back by :meth:`release`, or by :meth:`sweep` when
        its runner is lost, if the record never started generating).

        New work is taken above the highest id this runner has claimed so far (a cursor),
        so a claim reads a few rows however far the run has got, whichever index the
        database walks; when that comes up short, the walk starts once more from the first
        id, for records given back or reopened behind the cursor.
        """
        if n <= 0:
            return []
        rows: list[Row] = []
        params: dict[str, object] = {"me": self.runner_id, "started": started, "since": sel.since}
        if window is not None:
            params["window"] = list(window)
        cursor = tuple(window) if window is not None else None
        after = self._after.get(cursor, 0)
        walks = [(0, after), (0, 0)] if after else [(0, 0)]  # from the cursor, then the start
        newest = 0
        with self._use(conn, "claim records") as tx:
            for phase, start in [*walks, (1, 0)]:
                left = n - len(rows)
                if left <= 0:
                    break
                stmt = self._claim_stmt(phase, sel, window is not None)
                values = {**params, **self._times(), "n": left, "after": start}
                got = stmt.run(tx, values)
                if not got and self._clock == MYSQL:
                    probe = cast(Select, self._cache[("probe", phase, *self._shape(sel, window))])
                    got = self._skipped_for_a_moment(tx, stmt, probe, values)
                rows.extend(got)
                if phase == 0 and got:
                    newest = max(int(r[0]) for r in got)
        self._after[cursor] = newest  # 0 when no new work was found: from the start next time
        claims = (Claim(int(r[0]), int(r[1]), r[2]) for r in rows)
        return sorted(claims, key=lambda c: c.object_id)

    @staticmethod
    def _shape(sel: Selection, window: Sequence[int] | None) -> tuple[bool, ...]:
        return (sel.only_missing, sel.since is not None, window is not None)

    def _skipped_for_a_moment(
        self, tx: Connection, stmt: PickAndUpdate, probe: Select, values: dict[str, object]
    ) -> list[Row]:
        """MySQL/MariaDB: a claim that found nothing while a plain read still sees takeable
        rows skipped rows another statement held for a moment (InnoDB locks what it reads);
        try again for up to :data:`SKIPPED_WAIT_SECS` rather than end the run early."""
        deadline = time.monotonic() + SKIPPED_WAIT_SECS
        while time.monotonic() < deadline:
            if tx.execute(probe, values).first() is None:
                return []  # nothing takeable: the rows were taken (or finished) meanwhile
            time.sleep(0.02)
            got = stmt.run(tx, values)
            if got:
                return got
        return []

    def _mine(self, ids: Sequence[int]) -> ColumnElement[bool]:
        return and_(
            JOB.c.object_id.in_(list(ids)),
            JOB.c.claimed_by == self.runner_id,
            JOB.c.status == RUNNING,
        )

    def _update_mine(
        self, ids: Sequence[int], what: str, values: Callable[[], dict[str, object]]
    ) -> int:
        """Set ``values()`` (built inside the transaction) on the rows of ``ids`` this runner
        still holds, in one transaction; return how many it held."""
        with self.transaction(what) as conn:
            result = conn.execute(on_index(update(JOB).where(self._mine(ids)).values(**values())))
        return int(result.rowcount or 0)

    def started(self, object_id: int) -> None:
        """The record's generation begins: a lost claim on it now costs an attempt (sweep)."""
        self._update_mine(
            [object_id], "mark a record as generating", lambda: {"next_attempt_at": self._at()}
        )

    def renew(self, ids: Sequence[int]) -> int:
        """Heartbeat: push the claims on ``ids`` forward by one lease; return how many held."""
        if not ids:
            return 0
        return self._update_mine(
            ids, "renew its claims", lambda: {"claim_expires_at": self._at(self.lease_secs)}
        )

    def finish_done(self, object_ids: Sequence[int], conn: Connection | None = None) -> set[int]:
        """Record successes (one statement); returns the ids recorded. An id missing from the
        result had lost its claim (it expired and another runner took the record over)."""
        if not object_ids:
            return set()
        if ("done",) not in self._cache:
            now = self._now_expr()
            mine = on_index(
                select(JOB.c.object_id)
                .where(
                    JOB.c.object_id.in_(bindparam("ids", expanding=True)),
                    JOB.c.claimed_by == bindparam("me"),
                    JOB.c.status == RUNNING,
                )
                .with_for_update()
            )
            self._cache[("done",)] = PickAndUpdate(
                mine,
                update(JOB).values(
                    status=DONE,
                    attempts=0,
                    claim_expires_at=None,
                    finished_at=now,
                    last_error=None,
                    last_error_kind=None,
                    next_attempt_at=None,
                    updated_at=now,
                ),
            )
        params = {"ids": list(object_ids), "me": self.runner_id, **self._times()}
        with self._use(conn, "record finished records") as tx:
            rows = cast(PickAndUpdate, self._cache[("done",)]).run(tx, params)
        return {int(r[0]) for r in rows}

    def finish_failed(
        self, object_id: int, *, kind: str, message: str, retry_in: float | None
    ) -> bool:
        """Record a failure: retry after ``retry_in`` seconds, or give up when it is None."""
        now = self._at()
        held = self._update_mine(
            [object_id],
            "record a failure",
            lambda: {
                "status": FAILED if retry_in is not None else GIVEN_UP,
                "claim_expires_at": None,
                "last_error": message,
                "last_error_kind": kind[:64],
                "next_attempt_at": None if retry_in is None else self._at(retry_in),
                "updated_at": now,
            },
        )
        return bool(held)

    def release(self, ids: Sequence[int]) -> int:
        """Give back claims on records not (fully) tried: ``pending``, the attempt not counted."""
        if not ids:
            return 0
        return self._update_mine(
            ids,
            "release its claims",
            lambda: {
                "status": PENDING,
                "attempts": _uncounted(),
                "claim_expires_at": None,
                "next_attempt_at": None,
                "updated_at": self._at(),
            },
        )


def _uncounted() -> ColumnElement[int]:
    """``attempts`` less the claim's own (a claim counts one when it is taken)."""
    return case((JOB.c.attempts > 0, JOB.c.attempts - 1), else_=0)


__all__ = ["Claim", "ClaimStore", "new_runner_id"]
