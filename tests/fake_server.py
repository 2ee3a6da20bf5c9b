"""A fake image-to-video server speaking Heratio's protocol over real loopback HTTP.

Shared by the animate, batch and bench code. It runs a ``ThreadingHTTPServer`` in a thread and
answers ``GET /health`` and ``POST /animate`` (multipart) with a real MP4, which can be padded
to any size with a trailing ISO-BMFF ``free`` box (still a valid MP4) and is streamed on the
fly, never built in memory. Knobs (constructor keywords, or :meth:`FakeVideoServer.configure`
between requests, or per request through ``script``):

- ``latency``       seconds before answering /animate (the "generation time")
- ``hold_until_active``  hold each /animate until this many have arrived together (a
  barrier, at most 10 s), so tests of concurrent clients really overlap
- ``status``        HTTP status of /animate; non-200 answers with ``error`` as JSON
- ``error``         the JSON error body (default ``{"error": "boom", "type": "RuntimeError"}``)
- ``body_size``     total bytes of the MP4 (padded with a ``free`` box); None: the bare clip
- ``body``          send these bytes instead of an MP4 (``content_type`` labels them)
- ``truncate_at``   declare the full Content-Length but close after this many bytes
- ``chunk_size``, ``chunk_delay``   how the body is streamed
- ``stall_after``, ``stall_secs``   pause once after this many body bytes
- ``x_headers``     send the X- headers (X-Model, X-Seed, ...)
- ``max_concurrent``  more concurrent /animate requests than this get ``busy_status`` (503)
  with ``Retry-After: retry_after``
- ``token``         require ``Authorization: Bearer <token>`` (401 otherwise)
- ``health``        fields merged into the /health answer
- ``clip``          None (default): a real MP4 that is what was asked, made from the uploaded
  image (stretched to the asked width x height, as Heratio's server does; num_frames, fps;
  Heratio's defaults 576x320, 14, 7 when not sent), drifting sideways so it moves, and so it
  passes imagear's quality gate; or (width, height, frames, fps): a fixed clip of a moving random
  pattern, whatever was asked
- ``clip_kind``     what the asked clip shows: ``echo`` (the image, moving), ``black``,
  ``blank`` (one flat grey), ``frozen`` (the image, still) or ``unrelated`` (a moving pattern
  that is not the image): each fails exactly one check of the quality gate
- ``clamp``         None, or a dict of the asked clip's values the server replaces with its own
  (``width``, ``height``, ``num_frames``, ``fps``: a server that picks its own size or clamps)
- ``script``        a list of dicts of knobs, one per /animate request in order (then the base)

It records every request in ``requests`` (method, path, headers, form fields, the image bytes,
its MIME type and decoded size), counts them, and tracks ``max_active`` concurrency.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import io
import json
import random
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_CLIPS: dict[tuple[int, int, int, int], bytes] = {}
_CLIPS_LOCK = threading.Lock()

DEFAULTS: dict[str, Any] = {
    "latency": 0.0,
    "status": 200,
    "error": None,
    "body_size": None,
    "body": None,
    "content_type": "video/mp4",
    "truncate_at": None,
    "chunk_size": 1 << 20,
    "chunk_delay": 0.0,
    "stall_after": None,
    "stall_secs": 0.0,
    "x_headers": True,
    "max_concurrent": None,
    "busy_status": 503,
    "retry_after": 1,
    "token": None,
    "health": None,
    "clip": None,
    "clip_kind": "echo",
    "clamp": None,
    "headers": None,
    "hold_until_active": None,
}


def make_mp4_bytes(width: int = 128, height: int = 72, frames: int = 8, fps: int = 8) -> bytes:
    """A real H.264 MP4 (cached per size), made with imagear.media.write_mp4."""
    key = (width, height, frames, fps)
    with _CLIPS_LOCK:
        if key not in _CLIPS:
            import numpy as np

            from imagear.media import write_mp4

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "clip.mp4"
                rng = np.random.default_rng(1)
                base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                write_mp4(
                    (np.roll(base, i * 3, axis=1) for i in range(frames)), fps, out, width, height
                )
                _CLIPS[key] = out.read_bytes()
        return _CLIPS[key]


CLIP_KINDS = ("echo", "black", "blank", "frozen", "unrelated")
_ASKED: dict[tuple[Any, ...], bytes] = {}


def render_clip(
    image: Any,
    width: int,
    height: int,
    frames: int,
    fps: int,
    kind: str,
    out: Path,
    measured: bool = False,
    reference: tuple[Any, str] | None = None,
) -> None:
    """Write a real MP4 to ``out``: ``frames`` frames of ``width`` x ``height`` at ``fps``
    showing ``kind`` (see the ``clip_kind`` knob) of the PIL ``image`` (stretched to the size;
    only ``echo`` and ``frozen`` use it). ``measured``: with the frames' measurements appended
    as an imagear server sends them when asked (imagear.media.extras), and ``reference`` (the
    gate's reference of the upload and its SHA-256) when given."""
    import numpy as np
    from PIL import Image

    from imagear.media import write_mp4

    if kind not in CLIP_KINDS:
        raise ValueError(f"clip_kind must be one of {CLIP_KINDS}, not {kind!r}")
    if kind in ("echo", "frozen") and image is None:
        kind = "unrelated"  # no image: nothing to echo
    if kind in ("echo", "frozen"):
        base = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
    elif kind == "unrelated":  # diagonal stripes: nothing like a photograph or the test images
        yy, xx = np.mgrid[0:height, 0:width]
        stripes = ((xx + 2 * yy) // max(2, width // 12)) % 2 * 200 + 30
        base = np.repeat(stripes[:, :, None], 3, axis=2).astype(np.uint8)
    else:
        base = np.full((height, width, 3), 0 if kind == "black" else 128, dtype=np.uint8)
    step = max(1, width // 64) if kind in ("echo", "unrelated") else 0
    from imagear.media.scan import FrameScanner

    scanner = FrameScanner(fps)
    write_mp4(
        (np.roll(base, i * step, axis=1) for i in range(frames)),
        fps,
        out,
        width,
        height,
        crf=23,
        preset="ultrafast",
        tap=scanner.add if measured else None,
    )
    if measured:
        from imagear.media.extras import append

        append(out, scanner.result(), reference)


def asked_mp4_bytes(
    image: bytes | None,
    width: int,
    height: int,
    frames: int,
    fps: int,
    kind: str = "echo",
    measured: bool = False,
    reference: bool = False,
) -> bytes:
    """A real MP4 of ``width`` x ``height``, ``frames`` frames at ``fps`` showing ``kind`` (see
    the ``clip_kind`` knob) of the uploaded ``image`` bytes (cached per image and ask);
    ``measured``: with the measurements an imagear server appends when asked; ``reference``:
    with the gate's reference of the upload too (a client that sent the master's own file)."""
    import hashlib

    uses_image = kind in ("echo", "frozen") and bool(image)
    reference = reference and measured and bool(image)
    digest = hashlib.sha256(image or b"").hexdigest() if uses_image or reference else ""
    key = (digest, width, height, frames, fps, kind, measured, reference)
    with _CLIPS_LOCK:
        if key in _ASKED:
            return _ASKED[key]
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        try:
            picture = Image.open(io.BytesIO(image or b"")) if uses_image else None
        except OSError:  # not an image (a client test's placeholder bytes): nothing to echo
            picture = None
        ref = None
        if reference:
            with contextlib.suppress(OSError):  # not an image: no reference
                ref = (upload_reference(image or b"", (width, height)), digest)
        render_clip(picture, width, height, frames, fps, kind, out, measured, ref)
        data = out.read_bytes()
    with _CLIPS_LOCK:
        _ASKED[key] = data
    return data


def upload_reference(image: bytes, size: tuple[int, int]) -> Any:
    """The quality gate's reference of an upload, as an imagear server makes it: decoded upright
    at about twice the clip's size (JPEG draft mode), then small and grey."""
    from PIL import Image, ImageOps

    from imagear.media.reference import reference_of

    with Image.open(io.BytesIO(image)) as img:
        img.draft("RGB", (size[0] * 2, size[1] * 2))
        return reference_of(ImageOps.exif_transpose(img).convert("RGB"))


def free_box_header(size: int) -> bytes:
    """The header of an ISO-BMFF ``free`` box of ``size`` bytes in all (64-bit when needed)."""
    if size < 8:
        raise ValueError("a free box is at least 8 bytes")
    if size <= 0xFFFFFFFF:
        return size.to_bytes(4, "big") + b"free"
    return (1).to_bytes(4, "big") + b"free" + size.to_bytes(8, "big")


def padded_mp4(base: bytes, total: int | None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """``base`` followed by a ``free`` box so the whole is ``total`` bytes; streamed in chunks."""
    yield base
    if total is None or total <= len(base):
        return
    pad = total - len(base)
    if pad < 16:
        yield b"\0" * pad  # too small for a box: trailing bytes are ignored by players anyway
        return
    header = free_box_header(pad)
    yield header
    left = pad - len(header)
    zeros = bytes(min(chunk_size, left))
    while left > 0:
        n = min(left, len(zeros))
        yield zeros if n == len(zeros) else zeros[:n]
        left -= n


def padded_size(base: bytes, total: int | None) -> int:
    return len(base) if total is None or total <= len(base) else total


@dataclass
class RecordedRequest:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None
    image_content_type: str | None = None
    image_filename: str | None = None
    body_bytes: int = 0

    @property
    def image_size(self) -> tuple[int, int] | None:
        """The decoded (width, height) of the uploaded image."""
        if self.image is None:
            return None
        from PIL import Image

        with Image.open(io.BytesIO(self.image)) as img:
            return img.size


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    if not msg.is_multipart():
        return fields, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = (part.get_filename(), part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode("utf-8", errors="replace")
    return fields, files


class FakeVideoServer:
    """The fake server. Use as a context manager; ``url`` is its base URL."""

    def __init__(self, **knobs: Any) -> None:
        self.knobs = dict(DEFAULTS)
        self.script: list[dict[str, Any]] = list(knobs.pop("script", None) or [])
        self.configure(**knobs)
        self.requests: list[RecordedRequest] = []
        self.active = 0
        self.max_active = 0
        self._animate_count = 0
        self._lock = threading.Lock()
        self._barriers: dict[int, threading.Barrier] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def configure(self, **knobs: Any) -> None:
        """Change knobs (applies to the next requests)."""
        unknown = set(knobs) - set(DEFAULTS) - {"script"}
        if unknown:
            raise TypeError(f"unknown knob(s): {sorted(unknown)}")
        if "script" in knobs:
            self.script = list(knobs.pop("script") or [])
        self.knobs.update(knobs)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def count(self) -> int:
        """How many /animate requests arrived."""
        return self._animate_count

    def animate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/animate"]

    def start(self) -> FakeVideoServer:
        if self.knobs["clip"] is not None:
            make_mp4_bytes(*self.knobs["clip"])  # encode before the first request
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeVideoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _knobs_for_next(self) -> dict[str, Any]:
        with self._lock:
            index = self._animate_count
            self._animate_count += 1
        knobs = dict(self.knobs)
        if index < len(self.script):
            knobs.update(self.script[index])
        return knobs


class _Handler(BaseHTTPRequestHandler):
    fake: FakeVideoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body: bytes = b"") -> RecordedRequest:
        rec = RecordedRequest(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body_bytes=len(body),
        )
        ctype = self.headers.get("Content-Type", "")
        if body and ctype.startswith("multipart/"):
            fields, files = _parse_multipart(ctype, body)
            rec.fields = fields
            if "image" in files:
                rec.image_filename, rec.image_content_type, rec.image = files["image"]
        with self.fake._lock:
            self.fake.requests.append(rec)
        return rec

    def _authorised(self, knobs: dict[str, Any]) -> bool:
        token = knobs.get("token")
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self._json(401, {"detail": "Missing or invalid bearer token"})
            return False
        return True

    def do_GET(self) -> None:
        self._record()
        knobs = self.fake.knobs
        if self.path != "/health":
            self._json(404, {"detail": "Not Found"})
            return
        if not self._authorised(knobs):
            return
        data = {
            "status": "ok",
            "default_model": "svd",
            "loaded_models": ["svd"],
            "cuda": False,
            "low_vram_mode": False,
        }
        data.update(knobs.get("health") or {})
        self._json(200, data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path != "/animate":
            self._record(body)
            self._json(404, {"detail": "Not Found"})
            return
        knobs = self.fake._knobs_for_next()
        rec = self._record(body)
        if not self._authorised(knobs):
            return
        fake = self.fake
        limit = knobs.get("max_concurrent")
        with fake._lock:
            busy = limit is not None and fake.active >= limit
            if not busy:
                fake.active += 1
                fake.max_active = max(fake.max_active, fake.active)
        if busy:
            self._json(
                knobs["busy_status"],
                {"error": "Server busy", "type": "Busy"},
                {"Retry-After": str(knobs["retry_after"])},
            )
            return
        try:
            self._animate(knobs, rec)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with fake._lock:
                fake.active -= 1

    def _animate(self, knobs: dict[str, Any], rec: RecordedRequest) -> None:
        hold = knobs.get("hold_until_active")
        if hold:
            with self.fake._lock:
                barrier = self.fake._barriers.setdefault(int(hold), threading.Barrier(int(hold)))
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                barrier.reset()
        if knobs["latency"]:
            time.sleep(knobs["latency"])
        status = int(knobs["status"])
        if status != 200:
            error = knobs["error"] or {"error": "boom", "type": "RuntimeError"}
            extra = {"Retry-After": str(knobs["retry_after"])} if status in (429, 503) else None
            self._json(status, error, extra)
            return
        fields = rec.fields
        if knobs["clip"] is not None:
            clip = tuple(knobs["clip"])
        else:  # what was asked, with Heratio's server defaults for what was not sent
            clip = (
                int(fields.get("width") or 576),
                int(fields.get("height") or 320),
                int(fields.get("num_frames") or 14),
                int(fields.get("fps") or 7),
            )
            if knobs["clamp"]:
                own = {"width": 0, "height": 1, "num_frames": 2, "fps": 3}
                values = list(clip)
                for key, value in dict(knobs["clamp"]).items():
                    values[own[key]] = int(value)
                clip = tuple(values)
        if knobs["body"] is not None:
            chunks: Iterator[bytes] = iter([knobs["body"]])
            total = len(knobs["body"])
        else:
            if knobs["clip"] is not None:
                base = make_mp4_bytes(*clip)
            else:
                base = asked_mp4_bytes(rec.image, *clip, kind=knobs["clip_kind"])
            total = padded_size(base, knobs["body_size"])
            chunks = padded_mp4(base, knobs["body_size"], int(knobs["chunk_size"]))
        self.send_response(200)
        self.send_header("Content-Type", knobs["content_type"])
        self.send_header("Content-Length", str(total))
        if knobs["x_headers"]:
            seed = int(fields.get("seed") or 0) or random.randint(1, 2**31 - 1)
            _, _, frames, fps = clip
            self.send_header("X-Model", fields.get("model") or "svd")
            self.send_header("X-Seed", str(seed))
            self.send_header("X-Motion-Bucket", fields.get("motion_bucket_id") or "127")
            self.send_header("X-Generation-Secs", f"{float(knobs['latency']):.2f}")
            self.send_header("X-Frames", str(frames))
            self.send_header("X-Fps", str(fps))
        for k, v in (knobs.get("headers") or {}).items():
            self.send_header(k, v)
        self.end_headers()
        sent = 0
        stalled = False
        cut = knobs["truncate_at"]
        for chunk in chunks:
            view = memoryview(chunk)
            while len(view):
                piece = view[: int(knobs["chunk_size"])]
                view = view[len(piece) :]
                if cut is not None and sent + len(piece) >= cut:
                    self.wfile.write(piece[: max(0, cut - sent)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                stall = knobs["stall_after"]
                if stall is not None and not stalled and sent + len(piece) > stall:
                    head = max(0, stall - sent)
                    self.wfile.write(piece[:head])
                    self.wfile.flush()
                    sent += head
                    piece = piece[head:]
                    time.sleep(knobs["stall_secs"])
                    stalled = True
                self.wfile.write(piece)
                sent += len(piece)
                if knobs["chunk_delay"]:
                    self.wfile.flush()
                    time.sleep(knobs["chunk_delay"])
        self.wfile.flush()


def main() -> None:
    """Run a fake server from the command line: python tests/fake_server.py [KNOB=JSON ...]."""
    import sys

    knobs = {}
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        knobs[key] = json.loads(value)
    with FakeVideoServer(**knobs) as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)  # suite-rules: not a test (the command line's idle loop)
        except KeyboardInterrupt:
            pass


# -- pools of fakes (tests/test_pool.py, tests/test_batch_fairness.py) ------------------------

ONE_AT_A_TIME = {"queue_size": 0}  # /health: capacity 1 (the request running, none waiting)
_DEAD: list[socket.socket] = []  # bound, never listening, until the tests end


def fake(fakes: list[FakeVideoServer], **knobs: Any) -> FakeVideoServer:
    """A started fake, stopped by the ``fakes`` fixture (tests/conftest.py) at the test's end."""
    server = FakeVideoServer(**knobs).start()
    fakes.append(server)
    return server


def dead_url() -> str:
    """A loopback URL where nothing listens (connections are refused): its port stays bound
    (SO_REUSEADDR, never listening), so nothing else on the machine takes it meanwhile, while
    an HTTP server (SO_REUSEADDR too) may still listen there."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    _DEAD.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


if __name__ == "__main__":
    main()
