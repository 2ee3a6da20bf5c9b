"""The generation worker behind `imagear serve`: one thread, a bounded queue, cached engines.

diffusers pipelines must not run from two threads at once, and one GPU runs one generation at a
time anyway, so a single worker thread owns every engine and takes jobs from a bounded queue.
One model at a time is kept on an accelerator: before a model that needs a GPU is built or run,
every other engine holding accelerator memory is closed (models on the CPU, such as kenburns,
stay), so models a server has served do not pile up on the GPU until it runs out of memory.
The event loop only admits requests, submits jobs and awaits their futures; when every slot is
taken the server answers 503 with a Retry-After estimated from recent generation times.
A queued upload is decoded by the worker, not by its request: in its turn, or in the decode
thread while the job before it generates (one image ahead at most), so waiting requests hold
their files on disk rather than their pixels.

What this host can run and what its GPU is are not here: see :mod:`imagear.engines.runtime`.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.engines.base import Engine, EngineConfig, GenerationResult
from imagear.engines.runtime import free_accelerator_memory, holds_accelerator
from imagear.errors import (
    EngineUnavailable,
    GenerationFailed,
    ImagearError,
    MediaError,
    OutOfGpuMemory,
    ServerBusy,
)
from imagear.models import ModelDescriptor
from imagear.models.base import BaseOptions
from imagear.quality import Thresholds

if TYPE_CHECKING:
    from PIL import Image

    from imagear.media import Mp4Info
    from imagear.media.reference import Reference
    from imagear.metrics import Metrics
    from imagear.provenance.identity import Identity
    from imagear.provenance.manifest import MasterFacts
    from imagear.server import ServerSettings

log = logging.getLogger("imagear.server")

DEFAULT_JOB_SECS = 5.0
"""Retry-After estimate per job before any generation has been timed."""
RECENT_JOBS = 20
MAX_RETRY_AFTER = 3600


@dataclass
class Job:
    """One generation: what to run, on what, and where the clip goes. The image is given
    (``image``) or decoded by the worker in the job's turn (``load``: the server's uploads, so a
    queued job holds its file on disk, not its pixels)."""

    descriptor: ModelDescriptor
    options: BaseOptions  # the descriptor's validated Options (seed already drawn)
    image: Image.Image | None
    out_path: Path
    master: MasterFacts | None = None  # the upload, for the clip's Content Credentials
    future: Future[tuple[GenerationResult, Mp4Info]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.monotonic)
    load: Callable[[], Image.Image] | None = None
    decoding: Future[None] | None = None  # the decode started ahead of the job's turn
    extras: bool = False  # append the clip's measurements for the client (media.extras)
    reference: bool = False  # with the gate's reference of the image and the upload's SHA-256

    def decode(self) -> None:
        """Decode the image now, if it was left to the worker, or wait for the decode started
        ahead (InvalidImage, ImageTooLarge... as the request would have had them before it
        was queued)."""
        ahead, self.decoding = self.decoding, None
        if ahead is not None:
            ahead.result()
        else:
            self.decode_now()

    def decode_now(self) -> None:
        """Decode the image in this thread, if it was left to the worker and is not yet."""
        if self.image is None and self.load is not None:
            self.image, self.load = self.load(), None

    def discard(self) -> None:
        """Let go of the image (a job skipped: its client went away, or the server stops)."""
        if self.decoding is not None:
            self.decoding.cancel()  # not started yet; a running decode ends on its own
        self.image = self.load = self.decoding = None

    def take_image(self) -> Image.Image:
        """The image, no longer held by the job: the engine that takes it may let it go once it
        has its own working copy."""
        image, self.image = self.image, None
        if image is None:
            raise RuntimeError("the job's image was taken already or never decoded")
        return image


class QueueFull(ServerBusy):
    """The queue has no free slot; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(
            message, advice=f"Retry after {retry_after} s.", params={"retry_after": retry_after}
        )
        self.retry_after = retry_after


class Worker:
    """One thread that runs jobs in order and owns a cache of engines (one per model).

    ``queue_size`` is how many requests may wait behind the one being generated. A request
    takes a slot (:meth:`admit`) once its whole upload has arrived, so a slow or stalled client
    never holds one, and gives it back (:meth:`release`) once answered; the queue itself can
    never overflow. While every slot is taken (:meth:`full`) new requests are refused before
    their upload is read.
    """

    def __init__(
        self,
        engine_config: EngineConfig,
        queue_size: int,
        quality: Thresholds | None = None,
        c2pa: Identity | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.engine_config = engine_config
        self.c2pa = c2pa  # signs every clip (imagear.server.signing); None: unsigned
        self.quality = quality if quality is not None else Thresholds()
        self.queue_size = queue_size
        self.capacity = queue_size + 1  # the running request + queue_size waiting
        self._queue: queue.Queue[Job | Callable[[], None] | None] = queue.Queue()
        self._admitted = 0
        self._admit_lock = threading.Lock()
        self._engines: dict[str, tuple[ModelDescriptor, Engine]] = {}
        self._engines_lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=RECENT_JOBS)
        self._current: Job | None = None
        self._thread: threading.Thread | None = None
        # the next job, taken from the queue while the current one generates, its image
        # decoding in _decoder meanwhile: one image ahead at most (0 or 1 item)
        self._ahead: list[Job | Callable[[], None] | None] = []
        self._decoder = ThreadPoolExecutor(1, thread_name_prefix="imagear-decode")
        self._stopping = False
        self.metrics: Metrics | None = None  # counts each finished job (set by the app)

    @classmethod
    def of(cls, engine_config: EngineConfig, settings: ServerSettings) -> Worker:
        """The worker of `imagear serve` (queue size, quality gate, signing identity)."""
        return cls(engine_config, settings.queue_size, settings.quality, settings.c2pa)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._stopping = False
            self._decoder = ThreadPoolExecutor(1, thread_name_prefix="imagear-decode")
            self._thread = threading.Thread(target=self._run, name="imagear-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse the waiting jobs, let the running one finish, close every engine."""
        self._stopping = True  # the job taken ahead is refused by the worker thread
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job):
                _refuse(job)
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        self._decoder.shutdown(wait=False, cancel_futures=True)
        with self._engines_lock:
            engines = [engine for _, engine in self._engines.values()]
            self._engines.clear()
        for engine in engines:
            _close(engine)

    # -- the event loop's side -----------------------------------------------------------------

    def admit(self) -> bool:
        """Take a slot for one request; False when all are taken (answer 503)."""
        with self._admit_lock:
            if self._admitted >= self.capacity:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        """Give back the slot of an answered request (callable from any thread)."""
        with self._admit_lock:
            self._admitted = max(0, self._admitted - 1)

    @property
    def queue_length(self) -> int:
        """Requests waiting (being prepared or queued), not the one generating."""
        with self._admit_lock:
            admitted = self._admitted
        return max(0, admitted - (1 if self.busy else 0))

    @property
    def busy(self) -> bool:
        return self._current is not None

    def full(self) -> bool:
        with self._admit_lock:
            return self._admitted >= self.capacity

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free: recent mean job time x jobs ahead."""
        per_job = sum(self._recent) / len(self._recent) if self._recent else DEFAULT_JOB_SECS
        with self._admit_lock:
            ahead = max(self._admitted, 1 if self.busy else 0)
        return max(1, min(MAX_RETRY_AFTER, math.ceil(per_job * max(1, ahead))))

    def submit(self, job: Job) -> Future[tuple[GenerationResult, Mp4Info]]:
        """Queue a job of an admitted request (never blocks the event loop)."""
        self._queue.put_nowait(job)
        return job.future

    def busy_error(self) -> QueueFull:
        wait = self.retry_after()
        with self._admit_lock:
            admitted = self._admitted
        if self.busy:
            waiting = max(0, admitted - 1)
            what = f"1 generation running and {waiting} waiting"
        else:  # every slot is taken by requests being prepared (their uploads have arrived)
            what = f"{admitted} request{'s' if admitted != 1 else ''} being prepared"
        return QueueFull(
            f"The server is busy: {what} (queue size {self.queue_size}).", retry_after=wait
        )

    def loaded_models(self) -> list[str]:
        with self._engines_lock:
            items = list(self._engines.items())
        return sorted(name for name, (_, engine) in items if _loaded(engine))

    def is_loaded(self, descriptor: ModelDescriptor) -> bool:
        with self._engines_lock:
            entry = self._engines.get(descriptor.name)
        return entry is not None and entry[0] is descriptor and _loaded(entry[1])

    def preload(self, descriptor: ModelDescriptor) -> None:
        """Queue building (and, for diffusers models, loading) an engine, so the first request
        does not pay for it. Runs in the worker thread like any job; failures are only logged."""

        def load() -> None:
            try:
                engine = self._engine(descriptor)
                warm = getattr(engine, "load", None)
                if callable(warm):
                    warm()
                log.info("model %s is loaded", descriptor.name)
            except Exception as exc:
                log.warning("could not preload model %s: %s", descriptor.name, exc)

        self._queue.put_nowait(load)

    # -- the worker thread -----------------------------------------------------------------------

    def _next(self) -> Job | Callable[[], None] | None:
        return self._ahead.pop() if self._ahead else self._queue.get()

    def _look_ahead(self) -> None:
        """Take the next job now, if one waits, and decode its image in the decode thread while
        the current one generates: ready when its turn comes, one image ahead at most."""
        if self._ahead:
            return
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return
        self._ahead.append(item)
        if isinstance(item, Job) and item.load is not None and not item.future.cancelled():
            try:
                item.decoding = self._decoder.submit(item.decode_now)
            except RuntimeError:  # stopping: decoded in its turn, if it gets one
                pass

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            if not isinstance(job, Job):  # a preload
                job()
                continue
            if self._stopping:  # taken ahead before stop() emptied the queue: refused too
                _refuse(job)
                continue
            # A job whose client went away while it waited is cancelled: skip it.
            if not job.future.set_running_or_notify_cancel():
                job.discard()
                continue
            self._current = job
            started = time.perf_counter()
            try:
                job.decode()  # its turn: the upload is decoded now (or was, just ahead)
            except BaseException as exc:  # refused as before queueing: not a generation
                job.future.set_exception(exc)
                self._current = None
                continue
            self._look_ahead()
            try:
                done = self._generate(job)
                self._count(job, None, time.perf_counter() - started)
                job.future.set_result(done)
            except BaseException as exc:  # handed to the awaiting request
                self._count(job, exc, time.perf_counter() - started)
                job.future.set_exception(exc)
            finally:
                self._recent.append(time.perf_counter() - started)
                self._current = None
                job.image = None  # free the pixels now

    def _count(self, job: Job, exc: BaseException | None, secs: float) -> None:
        if self.metrics is not None:
            if exc is None:
                self.metrics.generation(job.descriptor.name, "ok", secs)
            else:
                self.metrics.failure(job.descriptor.name, exc, secs)

    def _generate(self, job: Job) -> tuple[GenerationResult, Mp4Info]:
        from imagear.media import probe_mp4
        from imagear.media.mp4 import rewritten

        name = job.descriptor.name
        reference = self._reference(job)  # the gate's view of the image, before the engine has it
        try:
            engine = self._engine(job.descriptor)
            # handed over, not kept here: freed as soon as the engine lets go of it
            result = engine.generate(job.take_image(), job.options, job.out_path)
        except OutOfGpuMemory:
            self._drop_others(keep=name)
            free_accelerator_memory()
            raise
        except EngineUnavailable:
            self._drop(name)  # build it again next time (weights may have been installed)
            raise
        except ImagearError:
            raise
        except Exception as exc:  # an engine bug: keep the traceback in the log, say it in 500
            log.exception("model %s failed", name)
            raise GenerationFailed(f"Model {name!r} failed while generating: {exc}") from exc
        # Never hand back a clip that does not play, or that the quality gate refuses: both
        # are cheap next to generating.
        info = probe_mp4(job.out_path)
        self._check(job, reference, result.scan)
        if self.c2pa is not None:
            from imagear.server.signing import sign_served

            sign_served(self.c2pa, job.descriptor, job.options, result, job.master, job.out_path)
            info = rewritten(info, job.out_path)  # the size sent is the signed clip's
        if job.extras:
            self._append_extras(job, result.scan, reference)
        return result, info

    @staticmethod
    def _append_extras(job: Job, scan: object, reference: Reference | None) -> None:
        """The measurements the engine took of its frames, after the clip, for the client that
        asked (imagear.media.extras), and ``reference`` if asked; without them (an engine that
        kept none, a poster or preview not made) the client decodes the clip itself."""
        from imagear.media.extras import append
        from imagear.media.scan import ClipScan

        sent = None
        if job.reference and reference is not None and job.master is not None:
            sent = (reference, job.master.sha256)
        if isinstance(scan, ClipScan) and scan.poster is not None and scan.preview:
            try:
                append(job.out_path, scan, sent)
            except (MediaError, OSError) as exc:
                log.warning("the clip's measurements were not sent: %s", exc)

    def _reference(self, job: Job) -> Reference | None:
        """What the quality gate compares the clip's first frame with, and the client that asked
        (None: neither wants it, or a model that takes no image)."""
        wanted = self.quality.enabled or job.reference
        if not wanted or not job.descriptor.takes_image or job.image is None:
            return None
        from imagear.media.reference import reference_of

        return reference_of(job.image)

    def _check(self, job: Job, reference: Reference | None, scan: object = None) -> None:
        """The quality gate (imagear.quality) on the clip just made: QualityRejected (a 500
        ``{"type": "QualityRejected"}``), so a client that only checks the size never gets a
        black, frozen or unrelated clip. ``reference``: the image's (:meth:`_reference`);
        ``scan``: the frames as the engine measured them while encoding (no decode then)."""
        if not self.quality.enabled:
            return
        from imagear import quality
        from imagear.media.scan import ClipScan

        desc = job.descriptor
        expected = quality.Expected.from_options(job.options)
        if isinstance(scan, ClipScan):  # the engine measured its frames as it encoded them
            verdict = quality.judge(
                scan,
                expected=expected,
                reference=reference,
                takes_image=desc.takes_image,
                thresholds=self.quality,
            )
        else:
            verdict = quality.inspect(
                job.out_path,
                expected=expected,
                reference=reference,
                takes_image=desc.takes_image,
                thresholds=self.quality,
            )
        if not verdict.ok:
            log.warning(
                "model %s: clip refused by the quality gate: %s", desc.name, verdict.summary()
            )
            raise quality.rejection(
                verdict,
                f"The clip made by model {desc.name}",
                advice="Nothing was sent; try again with another seed or model.",
            )

    def _engine(self, descriptor: ModelDescriptor) -> Engine:
        if descriptor.requires_gpu:
            self._make_room(keep=descriptor.name)
        with self._engines_lock:
            entry = self._engines.get(descriptor.name)
        if entry is not None and entry[0] is descriptor:
            return entry[1]
        if entry is not None:  # the model was re-registered: its old engine is stale
            self._drop(descriptor.name)
        engine = descriptor.create_engine(self.engine_config)
        with self._engines_lock:
            self._engines[descriptor.name] = (descriptor, engine)
        return engine

    def _drop(self, name: str) -> None:
        with self._engines_lock:
            entry = self._engines.pop(name, None)
        if entry is not None:
            _close(entry[1])

    def _make_room(self, keep: str) -> None:
        """Close every other engine that holds accelerator memory: one model on a GPU at a
        time (each 14B model alone fills most of a card)."""
        with self._engines_lock:
            names = [
                name
                for name, (_, engine) in self._engines.items()
                if name != keep and holds_accelerator(engine)
            ]
        for name in names:
            log.info("unloading model %s: one model on the GPU at a time", name)
            self._drop(name)

    def _drop_others(self, keep: str) -> None:
        """After an out-of-memory error: unload every other model to make room."""
        with self._engines_lock:
            names = [name for name in self._engines if name != keep]
        for name in names:
            log.info("unloading model %s to free GPU memory", name)
            self._drop(name)


def _refuse(job: Job) -> None:
    job.discard()
    if job.future.set_running_or_notify_cancel():
        job.future.set_exception(ServerBusy("The server is shutting down."))


def _loaded(engine: Engine) -> bool:
    try:
        return bool(engine.loaded())
    except Exception:
        return False


def _close(engine: Engine) -> None:
    try:
        engine.close()
    except Exception as exc:  # closing must never take the server down
        log.warning("closing engine %s failed: %s", getattr(engine, "name", engine), exc)
