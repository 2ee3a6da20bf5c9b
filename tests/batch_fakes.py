"""A small loopback image-to-video server for the batch tests and bench/bench_batch.py, and the
fixture and helpers tests/test_batch.py and tests/test_batch_cli.py share.

It speaks the Heratio protocol (``GET /health``, ``POST /animate`` multipart) well enough for
imagear's client: each request holds one of ``max_concurrent`` slots (others queue, like a GPU
server) for exactly ``latency`` seconds, reading and parsing the upload included, then gets a
real MP4 of what was asked (width x height, num_frames, fps: built once per ask and cached), a
moving pattern. That passes imagear's quality gate because the records' master images
(:func:`make_records`) are flat colours, which the gate cannot compare a clip with: keep them
flat, or the clip would be refused as not of the image. Every request is counted by the
uploaded file's name (the record's master file stem) and by the image bytes' SHA-256.
``fail_names`` / ``status`` make it answer an error instead; ``hold`` (an Event) holds every
``/animate`` until it is set. ``echo`` answers a clip of the uploaded image instead (built once
per upload and cached), which passes the gate with real photographs as masters (the benchmark's);
``queue_size`` is reported by ``/health`` as imagear's server does (requests that may wait
behind the one running: a pool of servers sends at most ``queue_size + 1`` at once).
``measures`` appends the clip's measurements when the client asks, as imagear's server does
(the client then decodes nothing).

Why not tests/fake_server.py (the animate tests' fake): the batch needs per-record knobs
(fail these records, count requests per record), a server that *queues* beyond its slots (as a
GPU server does) instead of answering 503, a fixed service time per request, a ``/stats``
endpoint for a server in another process (the benchmark), and little overhead per request.
Its clip comes from there.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from imagear.wire import EXTRAS_HEADER, REFERENCE_HEADER

_NAME = re.compile(rb'[; ]name="([^"]*)"')
_FILENAME = re.compile(rb'filename="([^"]*)"')


def asked_mp4(
    fields: dict[str, str],
    image: bytes | None = None,
    measured: bool = False,
    reference: bool = False,
    echo: bool = True,
) -> bytes:
    """A real MP4 of what the form fields ask: a moving pattern, or with ``image`` (the
    uploaded bytes) and ``echo`` that image moving (cached per ask and image); ``measured``:
    with the measurements an imagear server appends when asked (imagear.media.extras),
    ``reference``: and the gate's reference of the upload."""
    from fake_server import asked_mp4_bytes

    return asked_mp4_bytes(
        image,
        int(fields.get("width") or 576),
        int(fields.get("height") or 320),
        int(fields.get("num_frames") or 14),
        int(fields.get("fps") or 7),
        kind="echo" if image and echo else "unrelated",
        measured=measured,
        reference=reference,
    )


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """(form fields, {"image": (filename, bytes)}) of a multipart/form-data body (fast path:
    split on the boundary; the email module is too slow for the benchmark)."""
    boundary = content_type.partition("boundary=")[2].strip().strip('"').encode()
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    if not boundary:
        return fields, files
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        name = _NAME.search(head)
        filename = _FILENAME.search(head)
        key = name.group(1).decode() if name else ""
        if filename is not None:
            files[key] = (filename.group(1).decode(), data)
        else:
            fields[key] = data.decode()
    return fields, files


class FakeVideoServer:
    """Start with ``with FakeVideoServer(...) as server:``; ``server.url`` is its base URL."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        models: tuple[str, ...] = ("svd", "svd-xt", "kenburns"),
        status: int = 200,
        fail_names: set[str] | None = None,
        hold: threading.Event | None = None,
        echo: bool = False,
        queue_size: int | None = None,
        measures: bool = False,
    ) -> None:
        self.latency = latency
        self.echo = echo
        self.measures = measures  # as imagear's server: the clip's measurements, when asked
        self.queue_size = queue_size
        self.hold = hold  # /animate waits until it is set (so concurrent runners overlap)
        self.models = models
        self.status = status
        self.fail_names = set(fail_names or ())
        self.by_name: Counter[str] = Counter()
        self.by_hash: Counter[str] = Counter()
        self.health_calls = 0
        self.server_secs = 0.0  # time spent serving /animate (waiting for a slot excluded)
        self.peak_concurrency = 0
        self._active = 0
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_concurrent) if max_concurrent else None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stats(self) -> dict[str, Any]:
        """Counters as JSON-ready data (also served at ``GET /stats``)."""
        with self._lock:
            return {
                "requests": sum(self.by_name.values()),
                "records": len(self.by_name),
                "repeated": {k: v for k, v in self.by_name.items() if v > 1},
                "names": dict(self.by_name),
                "server_secs": self.server_secs,
                "peak_concurrency": self.peak_concurrency,
                "health_calls": self.health_calls,
            }

    @property
    def requests(self) -> int:
        return sum(self.by_name.values())

    def __enter__(self) -> FakeVideoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as uvicorn/asyncio do: no 40 ms ACK stalls

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self._headers_buffer.append(b"\r\n")  # end_headers(), sent with the body
                self._headers_buffer.append(body)
                self.flush_headers()

            def _json(self, code: int, data: dict[str, Any]) -> None:
                self._send(code, json.dumps(data).encode(), "application/json", {})

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/stats":
                    self._json(200, server.stats())
                    return
                if self.path != "/health":
                    self._json(404, {"detail": "Not Found"})
                    return
                with server._lock:
                    server.health_calls += 1
                self._json(
                    200,
                    {
                        "status": "ok",
                        "default_model": server.models[0],
                        "loaded_models": list(server.models),
                        "cuda": False,
                        "low_vram_mode": False,
                        **({} if server.queue_size is None else {"queue_size": server.queue_size}),
                    },
                )

            def do_POST(self) -> None:  # noqa: N802
                # A request holds one of the slots for exactly `latency` seconds, reading and
                # parsing its upload included (as a GPU server's time per clip is fixed).
                if server.hold is not None:
                    server.hold.wait(30)
                if server._slots is not None:
                    server._slots.acquire()
                try:
                    t0 = time.perf_counter()
                    with server._lock:
                        server._active += 1
                        server.peak_concurrency = max(server.peak_concurrency, server._active)
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length)
                    fields, files = parse_multipart(self.headers.get("Content-Type", ""), body)
                    filename, image = files.get("image", ("", b""))
                    name = Path(filename).stem
                    with server._lock:
                        server.by_name[name] += 1
                        server.by_hash[hashlib.sha256(image).hexdigest()] += 1
                    left = server.latency - (time.perf_counter() - t0)
                    if left > 0:
                        time.sleep(left)
                    with server._lock:
                        server._active -= 1
                        server.server_secs += time.perf_counter() - t0
                finally:
                    if server._slots is not None:
                        server._slots.release()
                if self.path != "/animate":
                    self._json(404, {"detail": "Not Found"})
                    return
                status = 500 if name in server.fail_names else server.status
                if status != 200:
                    self._json(status, {"error": f"fake failure {status}", "type": "Fake"})
                    return
                measured = server.measures and self.headers.get(EXTRAS_HEADER) == "1"
                asked = measured and self.headers.get(REFERENCE_HEADER) == "1"
                self._send(
                    200,
                    asked_mp4(fields, image, measured, asked, echo=server.echo),
                    "video/mp4",
                    {
                        "X-Generation-Secs": f"{server.latency:.2f}",
                        "X-Model": fields.get("model", server.models[0]),
                        "X-Frames": fields.get("num_frames", "8"),
                        "X-Fps": fields.get("fps", "8"),
                        "X-Seed": fields.get("seed", "1"),
                    },
                )

        return Handler


def make_records(app: Any, n: int, folder: Path, size: tuple[int, int] = (48, 32)) -> list[int]:
    """Add ``n`` records whose master images all differ, flat colours (named rec_0000.png ...);
    their ids."""
    from PIL import Image

    from imagear.records import add_record

    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        path = folder / f"rec_{i:04d}.png"
        color = (i * 37 % 256, i * 91 % 256, (i * 7 + 60) % 256)
        img = Image.new("RGB", size, color)
        # one pixel a shade off marks each image as its own while it stays a flat colour (see
        # the module docstring: the quality gate does not compare clips with flat images)
        img.putpixel((i % size[0], (i // size[0]) % size[1]), ((color[0] + 1) % 256, *color[1:]))
        img.save(path)
        ids.append(add_record(app, path).id)
    return ids


def serve_until_told(conn: Any, knobs: dict[str, Any]) -> None:
    """multiprocessing target: run a FakeVideoServer, send its URL, stop when told (or EOF)."""
    with FakeVideoServer(**knobs) as server:
        conn.send(server.url)
        try:
            conn.recv()
        except EOFError:
            pass


@pytest.fixture(name="serve")
def serve_fixture(app: Any) -> Iterator[Callable[..., FakeVideoServer]]:
    """``serve(**knobs)`` starts a fake server and points ar_server_url at it (stopped after
    the test). A test module gets it by importing ``serve_fixture``."""
    from imagear import settings

    servers: list[FakeVideoServer] = []

    def _start(**knobs: Any) -> FakeVideoServer:
        server = FakeVideoServer(**knobs).__enter__()
        servers.append(server)
        settings.set_value(app.engine, "ar_server_url", server.url)
        return server

    yield _start
    for server in servers:
        server.close()


def clip_counts(app: Any) -> dict[int, int]:
    """{record id: how many animations it has} (object_image_ar rows)."""
    from sqlalchemy import func, select

    from imagear.db import CLIPS as clips

    with app.engine.connect() as conn:
        rows = conn.execute(select(clips.c.object_id, func.count()).group_by(clips.c.object_id))
        return {int(r[0]): int(r[1]) for r in rows}


def leases_expire(app: Any) -> int:
    """Time passes: every running claim's lease ends a second ago (instead of sleeping through
    it). The database clock is the claims' clock, so the stored expiry moves, not a Python one.
    Returns how many claims it aged."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from imagear.db.schema import JOB

    with app.engine.begin() as conn:
        result = conn.execute(
            update(JOB)
            .where(JOB.c.status == "running")
            .values(claim_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    return int(result.rowcount or 0)


def claims_held(app: Any) -> int:
    """How many running claims have a lease that has not ended."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from imagear.db.schema import JOB

    with app.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(JOB)
                .where(JOB.c.status == "running", JOB.c.claim_expires_at > datetime.now(UTC))
            ).scalar_one()
        )
