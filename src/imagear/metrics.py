"""Prometheus metrics of `imagear serve` and `imagear web` (``GET /metrics``), and the
node-exporter textfile of an `imagear batch` run (``--metrics-file``).

Each app has its own :class:`Metrics` (its own CollectorRegistry, never the process-wide
default: tests build many apps in one process). prometheus_client is imported when a
:class:`Metrics` is made, so importing this module (and the CLI) stays light.

- ``imagear_generations_total{model,outcome}``: outcome ``ok``, ``skipped``, ``refused`` (the
  quality gate) or ``failed``;
- ``imagear_generation_seconds{model}``: histogram of the generations that ran;
- ``imagear_queue_depth``, ``imagear_busy_slots``: gauges read when scraped;
- ``imagear_http_requests_total{route,status}``: route is the route's template
  (``/records/{object_id}``), ``other`` for paths no route matched;
- ``imagear_quality_refusals_total{model,check}``;
- ``imagear_gpu_memory_bytes{device,kind}``: only where torch is loaded and CUDA is available;
- ``imagear_build_info{version}``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from imagear import __version__

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from imagear.batch.report import BatchSummary


class ServerWorker(Protocol):
    """What the metrics read of `imagear serve`'s worker (:mod:`imagear.server.worker`)."""

    @property
    def queue_length(self) -> int: ...

    @property
    def busy(self) -> bool: ...


log = logging.getLogger("imagear.metrics")

BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, float("inf"))
OUTCOMES = ("ok", "skipped", "refused", "failed")


class Metrics:
    """The metrics of one app; ``queue_depth`` and ``busy`` are read at each scrape."""

    def __init__(
        self, queue_depth: Callable[[], int] | None = None, busy: Callable[[], int] | None = None
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.generations = Counter(
            "imagear_generations",
            "Generations finished, by model and outcome (ok, skipped, refused, failed).",
            ["model", "outcome"],
            registry=reg,
        )
        self.seconds = Histogram(
            "imagear_generation_seconds",
            "Seconds each generation took, by model.",
            ["model"],
            buckets=BUCKETS,
            registry=reg,
        )
        self.requests = Counter(
            "imagear_http_requests",
            "HTTP requests answered, by route template and status.",
            ["route", "status"],
            registry=reg,
        )
        self.refusals = Counter(
            "imagear_quality_refusals",
            "Clips refused by the quality gate, by model and failed check.",
            ["model", "check"],
            registry=reg,
        )
        depth = Gauge("imagear_queue_depth", "Generations waiting.", registry=reg)
        slots = Gauge("imagear_busy_slots", "Generations running now.", registry=reg)
        depth.set_function(lambda: float(queue_depth()) if queue_depth else 0.0)
        slots.set_function(lambda: float(busy()) if busy else 0.0)
        build = Gauge("imagear_build_info", "The imagear version.", ["version"], registry=reg)
        build.labels(version=__version__).set(1)
        reg.register(_GpuCollector())
        self._listener: Any = None

    # -- what the apps report ------------------------------------------------------------------

    def generation(self, model: str, outcome: str, secs: float | None = None) -> None:
        """One generation finished; ``secs`` for those that ran (not the skipped)."""
        self.generations.labels(model=model, outcome=outcome).inc()
        if secs is not None:
            self.seconds.labels(model=model).observe(secs)

    def refused(self, model: str, checks: Iterable[Mapping[str, object]]) -> None:
        for check in checks:
            self.refusals.labels(model=model, check=str(check.get("check", "?"))).inc()

    def failure(self, model: str, exc: BaseException, secs: float | None) -> None:
        """A generation that raised: refused by the gate (counted by check) or failed."""
        from imagear.errors import QualityRejected

        if isinstance(exc, QualityRejected):
            self.refused(model, exc.checks)
            self.generation(model, "refused", secs)
        else:
            self.generation(model, "failed", secs)

    def request(self, route: str, status: int) -> None:
        self.requests.labels(route=route, status=str(status)).inc()

    # -- exposition ------------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of a scrape."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    @classmethod
    def of_server(cls, worker: ServerWorker) -> Metrics:
        """The metrics of `imagear serve`, its queue and busy slot read from ``worker``."""
        return cls(lambda: worker.queue_length, lambda: int(worker.busy))

    def response(self) -> Response:
        from starlette.responses import Response

        body, content_type = self.exposition()
        return Response(body, media_type=content_type)

    def listen(self, where: tuple[str, int] | None) -> None:
        """Serve /metrics (no auth) on ``(host, port)`` in a thread, until :meth:`close`; no
        listener for None."""
        if where is None:
            return
        from prometheus_client import start_http_server

        host, port = where
        try:
            self._listener = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:  # taken since the command checked it: serve on without it
            log.warning("cannot serve /metrics on %s:%s: %s", host, port, exc)

    def close(self) -> None:
        if self._listener is not None:
            server, thread = self._listener
            self._listener = None
            server.shutdown()
            server.server_close()
            thread.join(5)


def check_port(host: str, port: int | None, main_port: int) -> None:
    """Before a server starts: --metrics-port differs from --port (UsageError) and can be
    bound (Failure, one line), so a taken port never surfaces as a start-up traceback."""
    if port is None:
        return
    import socket

    from imagear.errors import Failure, UsageError

    if port == main_port:
        raise UsageError("--metrics-port must differ from --port.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1)
    except OSError as exc:
        raise Failure(
            f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}.",
            "Pick another --metrics-port or leave it out.",
        ) from None


class _GpuCollector:
    """GPU memory per CUDA device, only where torch is already loaded and sees CUDA (a scrape
    never imports torch)."""

    def collect(self) -> Iterator[Any]:
        torch = sys.modules.get("torch")
        try:
            if torch is None or not torch.cuda.is_available():
                return
            from prometheus_client.core import GaugeMetricFamily

            family = GaugeMetricFamily(
                "imagear_gpu_memory_bytes",
                "GPU memory by device: allocated and reserved by torch, total.",
                labels=["device", "kind"],
            )
            for index in range(torch.cuda.device_count()):
                device = str(index)
                family.add_metric([device, "allocated"], torch.cuda.memory_allocated(index))
                family.add_metric([device, "reserved"], torch.cuda.memory_reserved(index))
                total = torch.cuda.get_device_properties(index).total_memory
                family.add_metric([device, "total"], total)
        except Exception:  # noqa: BLE001 - a scrape never fails for the GPU's sake
            return
        yield family

    def describe(self) -> list[Any]:
        return []


class RequestCounter:
    """Pure ASGI middleware: counts each HTTP answer by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.request(route_of(scope), status["code"] or 500)


def route_of(scope: Mapping[str, Any]) -> str:
    """The template of the route that answered (set by the router), else ``other``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "other"


# -- batch: node-exporter textfile ---------------------------------------------------------------

_lock = threading.Lock()


def write_textfile(path: Path, figures: Mapping[str, tuple[str, float]]) -> None:
    """Write ``figures`` (name -> (help, value)) as gauges in the node-exporter textfile
    format, atomically: a temp file in the same folder, then a rename."""
    lines: list[str] = []
    for name, (help_text, value) in figures.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name} {_number(value)}")
    body = "\n".join(lines) + "\n"
    folder = path.parent if str(path.parent) else Path(".")
    with _lock:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def write_batch_metrics(path: Path, summary: BatchSummary, now: float | None = None) -> None:
    """The figures of one `imagear batch` run as a node-exporter textfile at ``path``. The time
    of the last success is kept from the file's previous contents when this run had none."""
    now = time.time() if now is None else now
    done = summary.count("created", "replaced")
    timed = [r.generation_secs for r in summary.results if r.generation_secs is not None]
    last = now if done else _previous(path, "imagear_batch_last_success_timestamp_seconds")
    figures: dict[str, tuple[str, float]] = {
        "imagear_batch_records_done": ("Records animated by the last run.", done),
        "imagear_batch_records_failed": (
            "Records that failed in the last run (retried later).",
            summary.count("failed"),
        ),
        "imagear_batch_records_given_up": (
            "Records given up by the last run.",
            summary.count("given_up"),
        ),
        "imagear_batch_records_skipped": (
            "Records skipped by the last run.",
            summary.count("skipped"),
        ),
        "imagear_batch_generation_seconds_sum": ("Generation seconds of the last run.", sum(timed)),
        "imagear_batch_generation_seconds_count": (
            "Generations timed in the last run.",
            len(timed),
        ),
        "imagear_batch_duration_seconds": ("How long the last run took.", summary.elapsed_secs),
        "imagear_batch_last_run_timestamp_seconds": ("When the last run ended.", now),
    }
    if last is not None:
        figures["imagear_batch_last_success_timestamp_seconds"] = (
            "When a run last animated a record.",
            last,
        )
    write_textfile(path, figures)


def _previous(path: Path, name: str) -> float | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        key, _, value = line.partition(" ")
        if key == name:
            try:
                return float(value)
            except ValueError:
                return None
    return None


__all__ = [
    "BUCKETS",
    "OUTCOMES",
    "Metrics",
    "RequestCounter",
    "check_port",
    "route_of",
    "write_batch_metrics",
    "write_textfile",
]
