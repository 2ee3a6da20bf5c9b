"""Animate many records: select, claim, run a thread pool, record outcomes, retry later.

The service behind ``imagear batch``. One :class:`BatchRunner` run:

1. sweeps expired claims (runners that died), then makes sure every selected record has an
   ``image_ar_job`` row (:mod:`imagear.claims`);
2. counts what it can take now (records with a master image and, by default, no animation;
   failed ones whose retry time has come); stops with "nothing to do" when there is none;
3. checks the per-call options against the model and the server with
   :meth:`Animator.check_ready` (stops with that error's exit code, e.g. 5 when the server is
   down, before touching any record);
4. claims as many records as there are idle workers, lowest ids first, and animates them with
   :meth:`Animator.animate` from ``concurrency`` threads sharing one Animator, while a
   heartbeat thread renews the claims it holds and reopens claims whose runner died;
5. records each outcome: ``done``; ``failed`` with the error's message and kind, retried by a
   later run after an exponential backoff (``backoff_secs`` doubling per attempt, at most
   ``backoff_cap_secs``); ``given_up`` after ``max_attempts``.

Retry policy by error kind:

- *run-level* errors say nothing about the record (server unreachable, credentials refused,
  model not on the server, feature turned off, engine missing, bad configuration): the record
  is given back uncounted and the run stops, with that error's exit code;
- *usage / not-found* errors belong to the record (its image is missing or not an image, an
  option is invalid for its size): retrying soon cannot help, so the next try waits the full
  ``backoff_cap_secs``, and the attempt counts;
- everything else (timeouts, a busy or failing server, bad clips, storage) is retried with the
  exponential backoff.

:meth:`BatchRunner.stop` (SIGINT/SIGTERM in the CLI) stops taking records, lets the running
ones finish and gives back claims on records not started. Services never print: pass
:class:`BatchEvents` to hear about progress.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

from imagear import settings as settings_svc
from imagear.app import App
from imagear.claims import Claim, ClaimStore, Selection, count_given_up, new_runner_id
from imagear.errors import (
    EXIT_INTERRUPTED,
    AuthenticationFailed,
    ConfigError,
    EngineUnavailable,
    ImagearError,
    InvalidOption,
    InvalidSetting,
    ModelNotAvailable,
    NotFound,
    Refused,
    ServerUnreachable,
    UsageError,
)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECS = 300.0  # 5 min, doubling per attempt
DEFAULT_BACKOFF_CAP_SECS = 6 * 3600.0
MIN_LEASE_SECS = 600.0

RUN_LEVEL: tuple[type[ImagearError], ...] = (
    ServerUnreachable,
    AuthenticationFailed,
    ModelNotAvailable,
    Refused,
    EngineUnavailable,
    ConfigError,
    InvalidSetting,
)
"""Errors about the setup, not the record: the run stops and the record is not charged."""

SLOW_RETRY: tuple[type[ImagearError], ...] = (UsageError, NotFound)
"""Errors about the record's own data: retried only after the backoff cap."""


def default_lease_secs(request_timeout: float) -> float:
    """A claim lasts two full request timeouts, at least 10 minutes (the heartbeat renews it)."""
    return max(2.0 * float(request_timeout), MIN_LEASE_SECS)


def retry_delay(err: BaseException, attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after failure number ``attempts`` (1-based)."""
    if isinstance(err, SLOW_RETRY):
        return cap
    return min(cap, base * 2 ** max(0, attempts - 1))


def read_ids_file(path: str | Path) -> list[int]:
    """Record ids from a file: one per line (``#`` comments and blank lines ignored) or a JSON
    list. Raises UsageError naming the line of anything else, NotFound when it is missing."""
    import json

    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFound(f"The ids file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the ids file {path}: {exc}.") from exc
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(
                f"{path} starts like a JSON list but is not valid JSON: {exc}."
            ) from exc
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in data):
            raise UsageError(f"{path} must be a JSON list of positive whole numbers (record ids).")
        return list(dict.fromkeys(data))
    ids: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.isdigit() or int(line) <= 0:
            raise UsageError(f"{path} line {number}: {line!r} is not a record id.")
        ids.append(int(line))
    return list(dict.fromkeys(ids))


@dataclass
class BatchOptions:
    """What to animate and how. ``object_ids`` None: every record that qualifies."""

    only_missing: bool = True
    object_ids: Sequence[int] | None = None
    limit: int | None = None
    concurrency: int = 1
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None  # --all: skip records this batch finished at/after this
    lease_secs: float | None = None  # None: default_lease_secs(ar_request_timeout)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_secs: float = DEFAULT_BACKOFF_SECS
    backoff_cap_secs: float = DEFAULT_BACKOFF_CAP_SECS

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, not {self.concurrency}.")
        if self.limit is not None and self.limit < 0:
            raise UsageError(f"--limit must be 0 or more, not {self.limit}.")
        if self.max_attempts < 1:
            raise UsageError(f"--max-attempts must be at least 1, not {self.max_attempts}.")
        if self.lease_secs is not None and self.lease_secs <= 0:
            raise UsageError(f"--lease-secs must be positive, not {self.lease_secs:g}.")
        if self.backoff_secs < 0 or self.backoff_cap_secs < 0:
            raise UsageError("The retry backoff must be 0 seconds or more.")


@dataclass
class ItemResult:
    """What happened to one record in this run."""

    object_id: int
    outcome: str  # created | replaced | skipped | failed | given_up | released
    secs: float
    attempts: int
    error_kind: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    notices: list[str] = field(default_factory=list)
    stop_error: ImagearError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "outcome": self.outcome,
            "secs": round(self.secs, 3),
            "attempts": self.attempts,
            "error_kind": self.error_kind,
            "error": self.error,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "notices": self.notices,
        }


@dataclass
class BatchSummary:
    """The whole run, for the summary line, ``--json`` and the exit code."""

    runner: str
    mode: str
    planned: int = 0
    results: list[ItemResult] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # claimed but never started
    reopened: list[int] = field(default_factory=list)  # claims of dead runners swept
    interrupted: bool = False
    stopped: ImagearError | None = None
    elapsed_secs: float = 0.0
    given_up_total: int = 0  # given-up records in the database after the run

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.results if r.outcome in outcomes)

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome in ("failed", "given_up")]

    @property
    def exit_code(self) -> int:
        """130 interrupted; the stop error's code; 1 when any record failed; else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.stopped is not None:
            return self.stopped.exit_code
        return 1 if self.failures else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "runner": self.runner,
            "mode": self.mode,
            "planned": self.planned,
            "done": self.count("created", "replaced"),
            "created": self.count("created"),
            "replaced": self.count("replaced"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "given_up": self.count("given_up"),
            "released": len(self.released) + self.count("released"),
            "reopened": self.reopened,
            "failures": [r.as_dict() for r in self.failures],
            "given_up_total": self.given_up_total,
            "interrupted": self.interrupted,
            "stopped": None
            if self.stopped is None
            else {"kind": self.stopped.kind, "error": self.stopped.one_line()},
            "elapsed_secs": round(self.elapsed_secs, 3),
            "exit_code": self.exit_code,
        }


class BatchEvents:
    """Callbacks for a front end; all are called from the thread that called ``run``."""

    def started(self, planned: int, runner: str, concurrency: int) -> None:
        """Work is about to start: ``planned`` records can be taken now."""

    def item(self, result: ItemResult) -> None:
        """One record finished (or was given back)."""

    def notice(self, message: str) -> None:
        """Something a person should know (stopping, a lost claim, dead runners swept)."""


class BatchRunner:
    """One batch run. ``animator`` (an :class:`imagear.animate.Animator`) is made if not given."""

    def __init__(
        self,
        app: App,
        options: BatchOptions,
        *,
        animator: Any | None = None,
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
        self._gate: _Gate | None = None
        settings = settings_svc.get_all(app.engine)
        lease = options.lease_secs or default_lease_secs(settings["ar_request_timeout"])
        self.store = ClaimStore(
            app, self.runner_id, lease_secs=lease, max_attempts=options.max_attempts
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
        """Worker threads: ``concurrency``, plus some when the gate keeps the generations to
        ``concurrency`` (the extra workers prepare and store while the others generate)."""
        n = self.options.concurrency
        return n + max(1, n // 4) if self._gate is not None else n

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

    def plan(self) -> list[dict[str, Any]]:
        """What a run would take now, in order, without changing anything (``--dry-run``)."""
        started = self.store.db_now()
        return self.store.plan(self.selection(started), self.options.limit)

    def _check_options(self) -> None:
        """Refuse per-call options the model rejects before any record is charged for them.

        Options that depend on each image's size (a width or height) are left to each record.
        """
        opts = self.options
        given = {k for k, v in opts.overrides.items() if v is not None} | set(opts.extra)
        if not given or given & {"width", "height"}:
            return
        from imagear.models import resolve_generation

        settings = settings_svc.get_all(self.app.engine)
        try:
            resolve_generation(
                opts.model or settings["ar_model"], settings, opts.overrides, opts.extra, None
            )
        except InvalidOption:
            raise
        except ImagearError:
            return  # the health check (unknown model) or each record says it better

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        """Do the batch; returns the summary (its ``exit_code`` is the CLI's exit code)."""
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
            except ImagearError:
                pass
            summary.elapsed_secs = time.monotonic() - t0
        return summary

    def _run(self, summary: BatchSummary) -> None:
        opts = self.options
        started = self.store.db_now()
        sel = self.selection(started)
        summary.reopened = self.store.sweep()
        if summary.reopened:
            self.events.notice(
                f"{len(summary.reopened)} record(s) held by runners that stopped were reopened."
            )
        self.store.prepare(sel)
        if opts.limit == 0:
            return
        summary.planned = self.store.count(sel, opts.limit)
        if summary.planned == 0 or self._stop.is_set():
            return
        try:
            self._check_options()
            if self._animator is None:
                from imagear.animate import Animator

                self._gate = _Gate(opts.concurrency, self._stop)
                self._animator = _batch_animator(Animator)(self.app, progress=self._gate)
            self._animator.check_ready(opts.model)
        except ImagearError as err:
            summary.stopped = err
            return
        self.events.started(summary.planned, self.runner_id, opts.concurrency)
        heartbeat = threading.Thread(target=self._heartbeat, name="imagear-heartbeat", daemon=True)
        heartbeat.start()
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="imagear-batch")
        work = _Work(sel, started)
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

    def _loop(self, summary: BatchSummary, pool: ThreadPoolExecutor, work: _Work) -> None:
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
        self, summary: BatchSummary, work: _Work, done: Sequence[int] = ()
    ) -> tuple[set[int] | None, str | None]:
        """Record the ``done`` successes and, when the local queue is down to half, claim up
        to one record per worker, in one transaction (one SQLite write lock, one commit).

        Returns (ids recorded as done, or None; why recording failed, or None). A database
        failure stops the run.
        """
        opts = self.options
        recorded: set[int] | None = None
        while True:
            want = 0
            if (
                not (work.exhausted or self._stop.is_set())
                and len(work.queue) <= self._workers // 2
            ):
                want = self._workers - len(work.queue)
                if opts.limit is not None:
                    want = min(want, opts.limit - work.claimed)
                    work.exhausted = want <= 0
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
        """Renew this runner's claims every third of a lease; reopen claims of dead runners."""
        stop = self._hb_stop
        interval = max(0.05, self.store.lease_secs / 3.0)
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
                self._notices.put(
                    f"{len(reopened)} record(s) held by runners that stopped were reopened."
                )

    def _drain_notices(self) -> None:
        while True:
            try:
                message = self._notices.get_nowait()
            except Empty:
                return
            self.events.notice(message)

    def _work(self, claim: Claim) -> _Done:
        """Animate one claimed record (runs in a pool thread; the main thread records it)."""
        from imagear.animate import AnimateRequest

        opts = self.options
        request = AnimateRequest(
            object_id=claim.object_id,
            model=opts.model,
            overrides=dict(opts.overrides),
            extra=dict(opts.extra),
            force=not opts.only_missing,
        )
        t0 = time.monotonic()
        try:
            outcome = self._animator.animate(request)  # type: ignore[union-attr]
        except Exception as exc:  # classified by _record; a bug costs one record, not the run
            return _Done(claim, time.monotonic() - t0, None, exc)
        finally:
            if self._gate is not None:
                self._gate.release(claim.object_id)
        return _Done(claim, time.monotonic() - t0, outcome, None)

    # -- bookkeeping (main thread) -------------------------------------------------------------

    def _record(
        self, finished: list[_Done], recorded: set[int] | None, problem: str | None
    ) -> list[ItemResult]:
        """Results of finished records; successes were recorded by :meth:`_claim` (``recorded``),
        failures are recorded here (one statement each: they are few)."""
        results: list[ItemResult] = []
        for d in finished:
            if d.error is None:
                oid, outcome = d.claim.object_id, d.outcome
                result = ItemResult(oid, outcome.status, d.secs, d.claim.attempts)
                result.notices.extend(outcome.notices)
                if outcome.message:
                    result.notices.append(outcome.message)
                if problem:
                    result.notices.append(problem)
                elif recorded is not None and oid not in recorded:
                    result.notices.append(_lost(oid))
            elif isinstance(d.error, RUN_LEVEL):
                result = self._give_back(d.claim, d.error, d.secs)
            elif isinstance(d.error, _Stopped):  # stopped before reaching the server
                result = self._give_back(d.claim, None, d.secs)
            elif isinstance(d.error, ImagearError):
                result = self._failed(d, d.error.kind, d.error.one_line())
            else:
                kind = type(d.error).__name__
                result = self._failed(d, kind, f"Unexpected error: {kind}: {d.error}")
            with self._held_lock:
                self._held.discard(d.claim.object_id)
            results.append(result)
        return results

    def _failed(self, d: _Done, kind: str, message: str) -> ItemResult:
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
                result.notices.append(_lost(claim.object_id))
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


SETTINGS_TTL_SECS = 2.0


def _batch_animator(base: type) -> type:
    """An Animator that reads image_ar_settings at most every SETTINGS_TTL_SECS (a batch
    animates many records a second; a change made meanwhile still applies within the TTL)."""

    class BatchAnimator(base):  # type: ignore[valid-type, misc]
        _cached: tuple[float, dict[str, Any]] | None = None
        _cache_lock = threading.Lock()

        def settings(self) -> dict[str, Any]:
            with self._cache_lock:
                now = time.monotonic()
                if self._cached is None or now - self._cached[0] > SETTINGS_TTL_SECS:
                    self._cached = (now, super().settings())
                return dict(self._cached[1])

    return BatchAnimator


class _Stopped(Exception):
    """Raised inside Animator.animate (through the gate) when the run stops while a record
    waits for a generation slot: nothing was sent, the claim is given back."""


class _Gate:
    """At most ``n`` records in the generation step at once, fed by the Animator's progress
    events, so that the extra workers' preparation and storing overlap the generations in
    flight. A record enters just before its request is sent (``upload``; ``phase`` "generate"
    for an in-process engine) and leaves when the clip is back (``phase`` "probe") or when
    ``animate`` returns."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self._slots = threading.Semaphore(n)
        self._inside: set[int] = set()
        self._local: set[int] = set()  # records generated in-process (no upload event)
        self._lock = threading.Lock()
        self._stop = stop
        self.waited = 0.0  # seconds records spent waiting for a slot, in all

    def __call__(self, event: str, object_id: int | None = None, **data: Any) -> None:
        if object_id is None:
            return
        phase = data.get("phase") if event == "phase" else None
        if event == "start" and not data.get("remote", True):
            with self._lock:
                self._local.add(object_id)
        elif event == "upload" or (phase == "generate" and object_id in self._local):
            self._enter(object_id)
        elif phase in ("probe", "store"):
            self.release(object_id)

    def _enter(self, object_id: int) -> None:
        t0 = time.monotonic()
        while self._stop.is_set() or not self._slots.acquire(timeout=0.2):
            if self._stop.is_set():  # not sent yet: give it back rather than start it
                raise _Stopped
        with self._lock:
            self._inside.add(object_id)
            self.waited += time.monotonic() - t0

    def release(self, object_id: int) -> None:
        """Leave the generation step (no-op when ``object_id`` is not in it)."""
        with self._lock:
            self._local.discard(object_id)
            if object_id not in self._inside:
                return
            self._inside.discard(object_id)
        self._slots.release()


@dataclass
class _Done:
    """What a worker hands back: the outcome or the exception, and how long it took."""

    claim: Claim
    secs: float
    outcome: Any
    error: Exception | None


class _Work:
    """The main loop's state: claimed records waiting, records in flight, where claims stand."""

    def __init__(self, sel: Selection, started: datetime) -> None:
        self.sel = sel
        self.started = started
        self.queue: deque[Claim] = deque()
        self.in_flight: dict[Future[_Done], Claim] = {}
        self.claimed = 0
        self._windows = iter(sel.windows())
        self.window: tuple[int, ...] | None = next(self._windows)
        self.exhausted = False

    def next_window(self) -> None:
        """Move to the next id window; exhausted when there is none."""
        following = next(self._windows, ())
        self.exhausted = following == ()
        self.window = following or None


def _lost(object_id: int) -> str:
    return (
        f"The claim on record {object_id} had expired and was taken over by another runner "
        "(raise --lease-secs if this runner was merely slow)."
    )


__all__ = [
    "DEFAULT_BACKOFF_CAP_SECS",
    "DEFAULT_BACKOFF_SECS",
    "DEFAULT_MAX_ATTEMPTS",
    "RUN_LEVEL",
    "SLOW_RETRY",
    "BatchEvents",
    "BatchOptions",
    "BatchRunner",
    "BatchSummary",
    "ItemResult",
    "default_lease_secs",
    "read_ids_file",
    "retry_delay",
]
