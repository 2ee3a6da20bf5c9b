"""Generations started from the web console run here: one background thread of the web
process, one generation at a time, with the same :class:`~imagear.animate.Animator` as the CLI.

Each record has at most one job queued or running; its state (queued, running with the phase,
done, failed with the message and the form fields at fault) is kept in memory, so a reloaded
page picks the progress up again. A generation still running when the process stops is left as
the CLI leaves it: the clip is written to a ``.part`` file and swapped in atomically, so nothing
half-written is ever stored (the next run sweeps a dead ``.part`` file).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.errors import ImagearError, InvalidOption
from imagear.generation.events import Event, Phase, Started
from imagear.web.wording import one_line

if TYPE_CHECKING:
    from imagear.metrics import Metrics

log = logging.getLogger("imagear.web")
QUEUE_SIZE = 100


@dataclass
class Job:
    object_id: int
    state: str = "queued"  # queued | running | done | failed
    phase: str | None = None
    message: str = "Waiting for the generations before it."
    error: str | None = None
    fields: list[str] = field(default_factory=list)
    status: str | None = None  # created | replaced | skipped, once done
    queued_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Worker:
    """One thread that animates the queued requests in order."""

    def __init__(self, app: App, animator: Callable[..., Animator] = Animator) -> None:
        self.app = app
        self._make_animator = animator
        self._animator: Animator | None = None
        self._queue: queue.Queue[AnimateRequest | None] = queue.Queue(QUEUE_SIZE)
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._models: dict[int, str] = {}  # the model of each running generation (Started)
        self.metrics: Metrics | None = None  # counts each finished generation (set by the app)

    @property
    def animator(self) -> Animator:
        """The Animator (made on first use; its progress events update the jobs)."""
        with self._lock:
            if self._animator is None:
                self._animator = self._make_animator(self.app, observer=self._observe)
            return self._animator

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="imagear-web-worker", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop taking jobs; a generation in progress is left to finish or die with the process."""
        if self._thread is not None:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            animator, self._animator = self._animator, None
        if animator is not None and not self.busy():
            animator.close()

    def busy(self) -> bool:
        with self._lock:
            return any(job.state == "running" for job in self._jobs.values())

    def waiting(self) -> int:
        """Generations queued, not yet running."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if job.state == "queued")

    def status(self, object_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(object_id)

    def submit(self, request: AnimateRequest) -> Job:
        """Queue a generation; the job already queued or running for the record, if any."""
        oid = int(request.object_id)
        with self._lock:
            current = self._jobs.get(oid)
            if current is not None and current.active:
                return current
            job = Job(oid)
            self._jobs[oid] = job
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            job.state, job.error = "failed", "Too many generations are waiting; try again later."
            job.message = job.error
        self.start()
        return job

    def _observe(self, event: Event) -> None:
        job = self.status(int(event.object_id)) if event.object_id is not None else None
        if job is None:
            return
        if isinstance(event, Phase):
            job.phase = event.phase
            job.message = event.message or event.phase
        elif isinstance(event, Started):
            self._models[job.object_id] = event.model
            job.message = f"Generating with {event.model}."

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            job = self.status(int(request.object_id))
            if job is None:
                continue
            job.state, job.message = "running", "Starting."
            started = time.perf_counter()
            failure: BaseException | None = None
            try:
                outcome = self.animator.animate(request)
                job.status = outcome.status  # storing a clip forgets an earlier review
                job.state, job.message = "done", f"Clip {outcome.status}."
            except InvalidOption as err:
                failure = err
                job.state, job.error, job.fields = "failed", one_line(err), list(err.fields)
            except ImagearError as err:
                failure = err
                job.state, job.error = "failed", one_line(err)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the worker
                failure = exc
                log.exception("generation of record %s failed", job.object_id)
                job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                job.finished_at = time.time()
                self._count(request, job, failure, time.perf_counter() - started)
                if job.state == "failed":
                    job.message = job.error or "Failed."

    def _count(
        self, request: AnimateRequest, job: Job, failure: BaseException | None, secs: float
    ) -> None:
        model = self._models.pop(job.object_id, None)
        if self.metrics is None:
            return
        name = model or request.model or "default"
        if failure is not None:  # a generation that never started took no generation time
            self.metrics.failure(name, failure, secs if model else None)
        elif job.status == "skipped":
            self.metrics.generation(name, "skipped")
        else:
            self.metrics.generation(name, "ok", secs)


__all__ = ["QUEUE_SIZE", "Job", "Worker"]
