"""The generation worker behind `imagear serve`: one thread, a bounded queue, cached engines.

diffusers pipelines must not run from two threads at once, and one GPU runs one generation at a
time anyway, so a single worker thread owns every engine and takes jobs from a bounded queue.
The event loop only admits requests, submits jobs and awaits their futures; when every slot is
taken the server answers 503 with a Retry-After estimated from recent generation times.

Also here: what this host can run (``unavailable_reason``) and what it reports about its GPU
(``device_info``), both careful never to import torch when no torch-based model can run.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagear.engines.base import Engine, EngineConfig, GenerationResult
from imagear.errors import (
    EngineUnavailable,
    GenerationFailed,
    ImagearError,
    OutOfGpuMemory,
    ServerBusy,
)
from imagear.models import ModelDescriptor

if TYPE_CHECKING:
    from PIL import Image

    from imagear.media import Mp4Info

log = logging.getLogger("imagear.server")

DEFAULT_JOB_SECS = 5.0
"""Retry-After estimate per job before any generation has been timed."""
RECENT_JOBS = 20
MAX_RETRY_AFTER = 3600


@dataclass
class Job:
    """One generation: what to run, on what, and where the clip goes."""

    descriptor: ModelDescriptor
    options: Any  # the descriptor's validated pydantic Options (seed already drawn)
    image: Image.Image
    out_path: Path
    future: Future[tuple[GenerationResult, Mp4Info]] = field(default_factory=Future)
    enqueued: float = field(default_factory=time.monotonic)


class QueueFull(ServerBusy):
    """The queue has no free slot; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, advice=f"Retry after {retry_after} s.")
        self.retry_after = retry_after


def uses_diffusers(descriptor: ModelDescriptor) -> bool:
    """True when the model runs on the built-in diffusers engine (needs torch and weights)."""
    own = type(descriptor).create_engine is not ModelDescriptor.create_engine
    return bool(descriptor.hf_repo) and not own


def unavailable_reason(descriptor: ModelDescriptor, config: EngineConfig) -> str | None:
    """Why this host cannot run ``descriptor`` (None when it can). Cheap: imports no torch.

    Only the built-in diffusers engine is checked (torch and diffusers installed, weights on
    disk); a model with its own engine is trusted, and its load errors surface at generation.
    """
    if not uses_diffusers(descriptor):
        return None
    missing = [m for m in ("torch", "diffusers") if not _importable(m)]
    if missing:
        return (
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
            "(pip install 'imagear[diffusers]')"
        )
    from imagear.engines.diffusers import find_weights

    try:
        find_weights(descriptor, config.models_dir)  # type: ignore[arg-type]
    except EngineUnavailable as exc:
        return exc.one_line()
    return None


def _importable(module: str) -> bool:
    """True when ``module`` is installed; looks it up without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def device_info(import_torch: bool) -> dict[str, Any]:
    """The /health GPU fields: cuda, and when it is true device and VRAM in GB (2 decimals).

    torch is used when it is already imported, or imported once when ``import_torch`` (a
    torch-based model can run here); otherwise a kenburns-only host reports ``cuda: false``
    without paying for importing torch.
    """
    torch = sys.modules.get("torch")
    if torch is None and import_torch:
        try:
            import torch
        except Exception:  # a broken torch install must not break /health
            torch = None
    if torch is None:
        return {"cuda": False}
    try:
        if not torch.cuda.is_available():
            return {"cuda": False}
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return {
            "cuda": True,
            "device": str(torch.cuda.get_device_name(index)),
            "vram_total_gb": round(total / 1024**3, 2),
            "vram_free_gb": round(free / 1024**3, 2),
        }
    except Exception as exc:  # a driver error is reported, not raised
        log.warning("could not read the CUDA device: %s", exc)
        return {"cuda": False}


def free_accelerator_memory() -> None:
    """Collect garbage and give cached CUDA memory back (never imports torch to do it)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # best effort: the OOM itself has already been reported
            pass


class Worker:
    """One thread that runs jobs in order and owns a cache of engines (one per model).

    ``queue_size`` is how many requests may wait behind the one being generated. A request
    takes a slot (:meth:`admit`) before its upload is read and gives it back (:meth:`release`)
    once answered, so surplus requests are refused at once, before any upload or decode work,
    and the queue itself can never overflow.
    """

    def __init__(self, engine_config: EngineConfig, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.engine_config = engine_config
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

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="imagear-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse the waiting jobs, let the running one finish, close every engine."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job) and job.future.set_running_or_notify_cancel():
                job.future.set_exception(ServerBusy("The server is shutting down."))
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
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
        """Requests waiting (uploading, being prepared or queued), not the one generating."""
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
        else:  # every slot is taken by requests still uploading or being prepared
            what = f"{admitted} request{'s' if admitted != 1 else ''} being received or prepared"
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

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not isinstance(job, Job):  # a preload
                job()
                continue
            # A job whose client went away while it waited is cancelled: skip it.
            if not job.future.set_running_or_notify_cancel():
                continue
            self._current = job
            started = time.perf_counter()
            try:
                job.future.set_result(self._generate(job))
            except BaseException as exc:  # handed to the awaiting request
                job.future.set_exception(exc)
            finally:
                self._recent.append(time.perf_counter() - started)
                self._current = None
                job.image = None  # type: ignore[assignment]  # free the pixels now

    def _generate(self, job: Job) -> tuple[GenerationResult, Mp4Info]:
        from imagear.media import probe_mp4

        name = job.descriptor.name
        try:
            engine = self._engine(job.descriptor)
            result = engine.generate(job.image, job.options, job.out_path)
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
        # Never hand back a clip that does not play: probing is cheap next to generating.
        return result, probe_mp4(job.out_path)

    def _engine(self, descriptor: ModelDescriptor) -> Engine:
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

    def _drop_others(self, keep: str) -> None:
        """After an out-of-memory error: unload every other model to make room."""
        with self._engines_lock:
            names = [name for name in self._engines if name != keep]
        for name in names:
            log.info("unloading model %s to free GPU memory", name)
            self._drop(name)


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
