"""The batch runner: one run's main loop, its thread pool, its heartbeat, stop and abort.

:class:`BatchRunner` (what ``imagear batch`` runs; the steps are in :mod:`imagear.batch`) works
in three kinds of thread:

- the thread that calls :meth:`BatchRunner.run` (the main loop) claims records ahead of the
  workers, hands each free worker its next claimed record, records outcomes, and sends every
  :class:`~imagear.batch.report.BatchEvents` callback;
- ``concurrency`` worker threads (:data:`CLAIM_AHEAD` more when the generation gate of
  :mod:`imagear.batch.animator` is on) only animate: :meth:`Animator.animate` per record;
- a heartbeat thread renews the claims this runner holds and reopens claims whose runner died.

The database side of each step is :class:`imagear.db.claims.ClaimStore`; how failures are retried
is :mod:`imagear.batch.retry`. A runner holds at most ``concurrency + CLAIM_AHEAD`` claims, and
marks a record's job row as generating just before its request is sent: a runner killed then
costs only those records an attempt (:meth:`ClaimStore.sweep`). :meth:`BatchRunner.stop` (safe
from a signal handler) stops taking records, lets the running ones finish and gives back claims
on records not started; :meth:`BatchRunner.abort` gives back every claim and returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING

from imagear import store
from imagear.app import App
from imagear.batch.animator import (
    GenerationGate,
    MarkingPermit,
    StoppedWaiting,
    batch_animator_class,
    timing,
)
from imagear.batch.failures import count_given_up, waiting_retries
from imagear.batch.options import BatchOptions, default_lease_secs, heartbeat_secs
from imagear.batch.plan import Counting, count, explain_named, plan
from imagear.batch.preflight import check_local
from imagear.batch.report import (
    BatchEvents,
    BatchSummary,
    ItemResult,
    Preview,
    lost_claim_notice,
    reopened_notice,
)
from imagear.batch.retry import QUALITY, RUN_LEVEL, failure_kind, retry_delay
from imagear.batch.work import Done, Work
from imagear.db.claims import Claim, ClaimStore, new_runner_id
from imagear.db.jobs import Selection
from imagear.domain import PlannedRecord
from imagear.errors import ImagearError
from imagear.pool import pool_lines

if TYPE_CHECKING:
    from imagear.animate import Animator
    from imagear.wire import Health

CLAIM_AHEAD = 2
"""Claims a runner holds beyond ``concurrency``: the records whose uploads are prepared, or
whose clips are checked and stored, while ``concurrency`` others generate."""
PREVIEW_ROWS = 1000
"""``--dry-run`` without ``--limit`` lists the first this many records (all are counted)."""


class BatchRunner:
    """One batch run. ``animator`` (an :class:`imagear.animate.Animator`) is made if not given."""

    def __init__(
        self,
        app: App,
        options: BatchOptions,
        *,
        animator: Animator | None = None,
        events: BatchEvents | None = None,
        runner_id: str | None = None,
    ) -> None:
        self.app = app
        self.options = options
        self.events = events or BatchEvents()
        self.runner_id = runner_id or new_runner_id()
        self._animator = animator
        self._own_animator = animator is None
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._notices: SimpleQueue[str] = SimpleQueue()
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._hb_stop = threading.Event()
        self._gate: GenerationGate | None = None
        lease = options.lease_secs or default_lease_secs()
        self.store = ClaimStore(
            app.engine, self.runner_id, lease_secs=lease, max_attempts=options.max_attempts
        )

    # -- control (safe from signal handlers and other threads) --------------------------------

    def stop(self) -> None:
        """Stop taking records; running ones finish, unstarted claims are given back."""
        self._stop.set()

    def abort(self) -> None:
        """Stop now: give back every claim, running ones included, and return."""
        self._stop.set()
        self._abort.set()

    @property
    def _workers(self) -> int:
        """Worker threads: ``concurrency``, plus :data:`CLAIM_AHEAD` when the gate keeps the
        generations to ``concurrency``: while ``concurrency`` records generate, the others
        prepare the next uploads (then wait at the gate, ready to be sent the moment a slot
        frees) or check and store the clips that came back (see :mod:`imagear.batch.animator`)."""
        n = self.options.concurrency
        return n + CLAIM_AHEAD if self._gate is not None else n

    @property
    def _most_claims(self) -> int:
        """Claims held at once (running and waiting): what the workers can start soon."""
        return self.options.concurrency + CLAIM_AHEAD

    @property
    def slot_wait_secs(self) -> float:
        """Seconds records spent waiting for a generation slot (0 without the gate)."""
        return self._gate.waited if self._gate is not None else 0.0

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` (or :meth:`abort`) was called."""
        return self._stop.is_set()

    @property
    def aborted(self) -> bool:
        """True once :meth:`abort` was called."""
        return self._abort.is_set()

    # -- planning ------------------------------------------------------------------------------

    def selection(self, started: datetime | None = None) -> Selection:
        opts = self.options
        ids = tuple(opts.object_ids) if opts.object_ids is not None else None
        since = None if opts.only_missing else (opts.since or started)
        return Selection(only_missing=opts.only_missing, since=since, ids=ids)

    def plan(self) -> list[PlannedRecord]:
        """What a run would take now, in order, without changing anything (``--dry-run``)."""
        started = self.store.db_now()
        return plan(self.app, self.selection(started), self.options.limit)

    def preview(self) -> Preview:
        """``--dry-run``: every pre-flight check of a real run (raises the error that would stop
        it; the server is only asked for its health), then what a run would take now, how many
        are takeable in all, and why named records would not be taken. Changes nothing."""
        opts = self.options
        check_local(self.app, opts)
        started = self.store.db_now()
        sel = self.selection(started)
        shown = opts.limit if opts.limit is not None else PREVIEW_ROWS
        rows = plan(self.app, sel, shown)
        counting = None
        if len(rows) >= shown:  # listed: the first ones; counted: all of them
            # the count (a second or so over a million records, in the database) runs while
            # the server's health is asked here
            counting = Counting(self.app, sel)
        named = explain_named(self.app, sel, started, opts.max_attempts)
        if rows:  # as a real run: the generation side is checked when there is work
            self._ready()
        total = counting.result() if counting is not None else len(rows)
        return Preview(rows, total, opts.limit, named)

    def _ready(self) -> Health:
        """The pre-flight of the generation side (:meth:`Animator.check_ready`): raises."""
        if self._animator is not None:
            return self._animator.check_ready(self.options.model, self.options.wording)
        from imagear.animate import Animator

        with Animator(self.app) as animator:
            return animator.check_ready(self.options.model, self.options.wording)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        """Do the batch; returns the summary (its ``exit_code`` is the CLI's exit code).

        A pre-flight failure (feature off, unknown model, refused options, the server down,
        refusing the credentials or lacking the model) is raised before any record is claimed;
        an error of that kind met mid-run stops the run and is the summary's ``stopped``.
        """
        t0 = time.monotonic()
        opts = self.options
        summary = BatchSummary(self.runner_id, "only-missing" if opts.only_missing else "all")
        try:
            self._run(summary)
        finally:
            if self._own_animator and self._animator is not None:
                self._animator.close()
        summary.interrupted = self._stop.is_set() and summary.stopped is None
        try:
            summary.given_up_total = count_given_up(self.app)
            if self.options.object_ids is None:  # failed records waiting: when there is work
                summary.waiting, summary.next_retry_at = waiting_retries(self.app)
        except ImagearError:
            pass
        summary.elapsed_secs = time.monotonic() - t0
        return summary

    def _run(self, summary: BatchSummary) -> None:
        opts = self.options
        check_local(self.app, opts)  # pre-flight, before any write: raises
        # .part files of killed runs beside existing clips: no animate call would visit them
        store.sweep_all_parts(self.app.config)
        started = self.store.db_now()
        sel = self.selection(started)
        summary.reopened = self.store.sweep()
        if summary.reopened:
            self.events.notice(reopened_notice(len(summary.reopened)))
        # the server's pre-flight comes before any job row is written or reopened (a refused
        # one leaves the counts as they were, not every record "pending"); only when the dry
        # run's count says there is work, so an idle cron run never needs the server
        ready = None
        if count(self.app, sel, opts.limit) and not self._stop.is_set():
            if self._animator is None:
                from imagear.animate import Animator

                self._gate = GenerationGate(opts.concurrency, self._stop)
                self._animator = batch_animator_class(Animator)(self.app)
            ready = self._ready()  # pre-flight, before any write or claim: raises
        self.store.prepare(sel)
        summary.named = explain_named(self.app, sel, started, opts.max_attempts)
        summary.planned = count(self.app, sel, opts.limit)
        if summary.planned == 0 or self._stop.is_set():
            return
        if self._animator is None:
            from imagear.animate import Animator

            self._gate = GenerationGate(opts.concurrency, self._stop)
            self._animator = batch_animator_class(Animator)(self.app)
        ready = ready or self._ready()  # (the dry count saw no work: checked here, as before)
        for line in pool_lines(ready):  # a pool of servers: each one's state
            self.events.notice(line)
        self.events.started(summary.planned, self.runner_id, opts.concurrency)
        heartbeat = threading.Thread(target=self._heartbeat, name="imagear-heartbeat", daemon=True)
        heartbeat.start()
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="imagear-batch")
        work = Work(sel, started)
        try:
            self._loop(summary, pool, work)
        finally:
            give_back = [c.object_id for c in work.queue]
            if self._abort.is_set():
                give_back += [c.object_id for c in work.in_flight.values()]
            try:
                self.store.release(give_back)
            except ImagearError as err:
                self.events.notice(f"Could not give back claims (they expire by themselves): {err}")
            summary.released.extend(sorted(give_back))
            self._hb_stop.set()
            pool.shutdown(wait=not self._abort.is_set(), cancel_futures=True)
            heartbeat.join(timeout=5)
            self._drain_notices()

    def _loop(self, summary: BatchSummary, pool: ThreadPoolExecutor, work: Work) -> None:
        """Keep every worker busy; record outcomes and claim ahead, off the workers' path: a
        worker only animates, and the next claimed record is already waiting for it."""
        while True:
            while len(work.in_flight) < self._workers and not self._stop.is_set():
                if not work.queue:
                    self._claim(summary, work)
                    if not work.queue:
                        break
                claim = work.queue.popleft()
                work.in_flight[pool.submit(self._work, claim)] = claim
            self._claim(summary, work)  # prefetch while the workers are busy
            self._drain_notices()
            if not work.in_flight or self._abort.is_set():
                return
            done, _ = wait(list(work.in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
            finished = [future.result() for future in done]
            for future in done:
                del work.in_flight[future]
            if any(isinstance(d.error, RUN_LEVEL) for d in finished):
                self._stop.set()  # the setup is broken: start nothing more
            # hand the freed workers their next record before any bookkeeping
            while len(work.in_flight) < self._workers and work.queue:
                if self._stop.is_set():
                    break
                claim = work.queue.popleft()
                work.in_flight[pool.submit(self._work, claim)] = claim
            ok = [d.claim.object_id for d in finished if d.error is None]
            recorded, problem = self._claim(summary, work, ok)
            for result in self._record(finished, recorded, problem):
                summary.results.append(result)
                if result.stop_error is not None and summary.stopped is None:
                    summary.stopped = result.stop_error
                    self._stop.set()
                    self.events.notice(
                        f"Stopping: {result.stop_error.message} Running records finish first."
                    )
                self.events.item(result)

    def _claim(
        self, summary: BatchSummary, work: Work, done: Sequence[int] = ()
    ) -> tuple[set[int] | None, str | None]:
        """Record the ``done`` successes and claim up to :attr:`_most_claims` in all (running
        ones included), in one transaction (one SQLite write lock, one commit).

        Returns (ids recorded as done, or None; why recording failed, or None). A database
        failure stops the run.
        """
        opts = self.options
        recorded: set[int] | None = None
        while True:
            want = 0
            if not (work.exhausted or self._stop.is_set()):
                want = self._most_claims - len(work.queue) - len(work.in_flight)
                if opts.limit is not None:
                    work.exhausted = work.claimed >= opts.limit
                    want = min(want, opts.limit - work.claimed)
            if want <= 0 and not done:
                return recorded, None
            try:
                with self.store.transaction("record outcomes and claim records") as conn:
                    if done:
                        recorded = self.store.finish_done(done, conn=conn)
                    got = (
                        self.store.claim(want, work.sel, work.window, work.started, conn=conn)
                        if want > 0
                        else []
                    )
            except ImagearError as err:
                summary.stopped = summary.stopped or err
                self._stop.set()
                return None, f"The outcome could not be recorded: {err.message}" if done else None
            done = ()
            if want > 0 and not got:
                work.next_window()
                continue
            work.claimed += len(got)
            with self._held_lock:
                self._held.update(c.object_id for c in got)
            work.queue.extend(got)
            return recorded, None

    # -- threads -------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        """Renew this runner's claims often (:func:`heartbeat_secs`); reopen claims of dead
        runners."""
        stop = self._hb_stop
        interval = heartbeat_secs(self.store.lease_secs)
        while not stop.wait(interval):
            with self._held_lock:
                ids = sorted(self._held)
            try:
                self.store.renew(ids)
                reopened = self.store.sweep()
            except ImagearError as err:
                self._notices.put(f"Heartbeat failed (will retry): {err.message}")
                continue
            if reopened:
                self._notices.put(reopened_notice(len(reopened)))

    def _drain_notices(self) -> None:
        while True:
            try:
                message = self._notices.get_nowait()
            except Empty:
                return
            self.events.notice(message)

    def _work(self, claim: Claim) -> Done:
        """Animate one claimed record (runs in a pool thread; the main thread records it)."""
        from imagear.animate import AnimateRequest

        opts = self.options
        overrides = dict(opts.overrides)
        if claim.last_error_kind == QUALITY:  # the same seed would make the same bad clip
            from imagear.models import random_seed

            overrides["seed"] = random_seed()
        request = AnimateRequest(
            object_id=claim.object_id,
            model=opts.model,
            overrides=overrides,
            extra=dict(opts.extra),
            force=not opts.only_missing,
            wording=opts.wording,
            via="batch",
        )
        t0 = time.monotonic()
        outcome, error = None, None
        try:
            animator = self._animator
            assert animator is not None
            if self._gate is not None:  # a slot in the generation step, taken by the pipeline
                permit = self._gate.permit(claim.object_id)
                started = MarkingPermit(permit, lambda: self._started(claim.object_id))
                outcome = animator.animate(request, started)
            else:  # an animator handed in: marked as generating when its worker starts
                self._started(claim.object_id)
                outcome = animator.animate(request)
        except Exception as exc:  # classified by _record; a bug costs one record, not the run
            error = exc
        finally:
            if self._gate is not None:
                self._gate.release(claim.object_id)
        wait, generation = timing(self._gate, claim.object_id, outcome)
        return Done(claim, time.monotonic() - t0, outcome, error, wait, generation)

    def _started(self, object_id: int) -> None:
        try:
            self.store.started(object_id)
        except ImagearError as err:  # the mark only decides what a lost claim costs
            self._notices.put(f"Could not mark record {object_id} as generating: {err.message}")

    # -- bookkeeping (main thread) -------------------------------------------------------------

    def _record(
        self, finished: list[Done], recorded: set[int] | None, problem: str | None
    ) -> list[ItemResult]:
        """Results of finished records; successes were recorded by :meth:`_claim` (``recorded``),
        failures are recorded here (one statement each: they are few)."""
        results: list[ItemResult] = []
        for d in finished:
            if d.error is None:
                oid, outcome = d.claim.object_id, d.outcome
                assert outcome is not None  # no error: an outcome
                result = ItemResult(oid, outcome.status, d.secs, d.claim.attempts)
                result.notices.extend(outcome.notices)
                if outcome.message:
                    result.notices.append(outcome.message)
                if problem:
                    result.notices.append(problem)
                elif recorded is not None and oid not in recorded:
                    result.notices.append(lost_claim_notice(oid, self.options.wording))
            elif isinstance(d.error, RUN_LEVEL):
                result = self._give_back(d.claim, d.error, d.secs)
            elif isinstance(d.error, StoppedWaiting):  # stopped before reaching the server
                result = self._give_back(d.claim, None, d.secs)
            elif isinstance(d.error, ImagearError):
                result = self._failed(d, failure_kind(d.error), d.error.one_line())
            else:
                kind = type(d.error).__name__
                result = self._failed(d, kind, f"Unexpected error: {kind}: {d.error}")
            result.wait_secs, result.generation_secs = d.wait_secs, d.generation_secs
            with self._held_lock:
                self._held.discard(d.claim.object_id)
            results.append(result)
        return results

    def _failed(self, d: Done, kind: str, message: str) -> ItemResult:
        opts = self.options
        claim = d.claim
        give_up = claim.attempts >= opts.max_attempts
        delay = None
        if not give_up:
            assert d.error is not None
            delay = retry_delay(d.error, claim.attempts, opts.backoff_secs, opts.backoff_cap_secs)
        result = ItemResult(
            claim.object_id,
            "given_up" if give_up else "failed",
            d.secs,
            claim.attempts,
            error_kind=kind,
            error=message,
            retry_at=None if delay is None else datetime.now(UTC) + timedelta(seconds=delay),
        )
        try:
            stored = self.store.finish_failed(
                claim.object_id, kind=kind, message=message, retry_in=delay
            )
            if not stored:
                result.notices.append(lost_claim_notice(claim.object_id, opts.wording))
        except ImagearError as rec_err:
            result.notices.append(f"The failure could not be recorded: {rec_err.message}")
        return result

    def _give_back(self, claim: Claim, err: ImagearError | None, secs: float) -> ItemResult:
        try:
            self.store.release([claim.object_id])
        except ImagearError:
            pass  # the claim expires by itself
        return ItemResult(
            claim.object_id,
            "released",
            secs,
            max(0, claim.attempts - 1),
            error_kind=err.kind if err else None,
            error=err.one_line() if err else "Stopped before it reached the server.",
            stop_error=err,
        )


__all__ = ["BatchRunner"]
