"""`imagear serve` under 20 concurrent requests, against in-process generation in the same run.

The server runs on loopback (uvicorn in a thread, kenburns, a small clip, queue size 4), and
``--clients`` requests are fired at once. One worker generates; ``queue_size`` wait; the rest
must get 503 with a Retry-After, so every request is answered and none is lost. Two rounds:

0. sequential: one client, one request after another (the HTTP and queue overhead alone);
1. one shot: each client posts once; counts 200 / 503 (with Retry-After) / lost, latency
   p50/p95, and the served throughput (clips per second of the round's wall time);
2. with retries: each client retries after the Retry-After it was given until served (as
   imagear's client and Replicate's do), so all clips are made.

The baseline is the same clips generated sequentially in-process (image check and preparation,
option resolution, engine, MP4 probe: what the worker does, without HTTP or the queue). Printed:
served seconds per clip against baseline seconds per clip (ratio above 1: the server is
slower), and round 2's wall time against the sequential total.

    PYTHONPATH=src python bench/bench_server_concurrency.py [--clients 20] [--queue-size 4]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imagear.media import prepare_image, probe_mp4, sample_image_path
from imagear.models import get_model, resolve_generation
from imagear.server import ServerSettings, create_app
from imagear.server.upload import check_image, working_box


@dataclass
class Outcome:
    status: int | None  # None: lost (transport error or timeout)
    secs: float
    retry_after: str | None = None
    tries: int = 1


def start_server(settings: ServerSettings) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def post_once(
    http: httpx.Client, url: str, fields: dict[str, str], image: bytes, timeout: float
) -> Outcome:
    started = time.perf_counter()
    try:
        r = http.post(
            f"{url}/animate",
            data=fields,
            files={"image": ("master.jpg", image, "image/jpeg")},
            timeout=timeout,
        )
    except httpx.HTTPError:
        return Outcome(None, time.perf_counter() - started)
    if r.status_code == 200 and len(r.content) < 1024:
        return Outcome(None, time.perf_counter() - started)  # Heratio would call this a failure
    return Outcome(r.status_code, time.perf_counter() - started, r.headers.get("retry-after"))


def post_until_served(
    http: httpx.Client, url: str, fields: dict[str, str], image: bytes, deadline: float
) -> Outcome:
    started = time.perf_counter()
    tries = 0
    while True:
        tries += 1
        left = deadline - time.monotonic()
        if left <= 0:
            return Outcome(None, time.perf_counter() - started, tries=tries)
        got = post_once(http, url, fields, image, left)
        if got.status != 503 or got.retry_after is None:
            return Outcome(got.status, time.perf_counter() - started, tries=tries)
        time.sleep(min(float(got.retry_after), max(0.0, deadline - time.monotonic())))


def baseline(image_path: Path, fields: dict[str, str], count: int, out: Path) -> float:
    """Seconds for ``count`` clips made one after another in-process, as the worker does."""
    desc = get_model(fields["model"])
    engine = desc.create_engine(get_config())
    overrides = {k: v for k, v in fields.items() if k != "model"}
    started = time.perf_counter()
    for i in range(count):
        size = check_image(image_path, 200_000_000)
        options: Any = resolve_generation(desc.name, {}, overrides, {}, image_size=size).options
        options = options.model_copy(update={"seed": i + 1})
        image = prepare_image(image_path, working_box(size, (options.width, options.height)))
        engine.generate(image, options, out)
        probe_mp4(out)
    return time.perf_counter() - started


def get_config() -> Any:
    from imagear.engines.base import EngineConfig

    return EngineConfig()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--queue-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on each round (s)")
    args = parser.parse_args(argv)

    image_path = sample_image_path()
    image = image_path.read_bytes()
    fields = {
        "model": "kenburns",
        "num_frames": str(args.frames),
        "fps": str(args.fps),
        "width": str(args.width),
        "height": str(args.height),
        "seed": "0",
    }
    tmp = Path(tempfile.mkdtemp(prefix="imagear-bench-"))
    base_secs = baseline(image_path, fields, args.clients, tmp / "baseline.mp4")
    base_per_clip = base_secs / args.clients

    settings = ServerSettings(default_model="kenburns", queue_size=args.queue_size, tmp_dir=tmp)
    url, server, thread = start_server(settings)
    # One pooled client for every thread: no per-request TLS context or connection setup.
    http = httpx.Client(limits=httpx.Limits(max_connections=args.clients + 1))
    try:
        post_once(http, url, fields, image, args.timeout)  # warm-up: the engine is built
        started = time.perf_counter()
        seq = [post_once(http, url, fields, image, args.timeout) for _ in range(args.clients)]
        wall_seq = time.perf_counter() - started
        with ThreadPoolExecutor(args.clients) as pool:
            started = time.perf_counter()
            one = list(
                pool.map(
                    lambda _: post_once(http, url, fields, image, args.timeout),
                    range(args.clients),
                )
            )
            wall_one = time.perf_counter() - started
            deadline = time.monotonic() + args.timeout
            started = time.perf_counter()
            two = list(
                pool.map(
                    lambda _: post_until_served(http, url, fields, image, deadline),
                    range(args.clients),
                )
            )
            wall_two = time.perf_counter() - started
    finally:
        http.close()
        server.should_exit = True
        thread.join(30)
    left = sorted(p.name for p in tmp.iterdir() if p.name != "baseline.mp4")

    served = [o for o in one if o.status == 200]
    busy = [o for o in one if o.status == 503]
    lost = [o for o in one if o.status is None]
    other = [o for o in one if o.status not in (200, 503, None)]
    print(
        f"clip: kenburns {args.width}x{args.height}, {args.frames} frames at {args.fps} fps; "
        f"{args.clients} clients, queue size {args.queue_size}"
    )
    print(f"baseline (sequential, in-process): {base_per_clip:.3f} s per clip")
    seq_ok = sum(o.status == 200 for o in seq)
    print(
        f"round 0 (sequential over HTTP): served {seq_ok}/{len(seq)}, "
        f"{wall_seq / len(seq):.3f} s per clip (ratio to baseline "
        f"{wall_seq / base_secs:.2f}: upload, queue hand-off, download)"
    )
    print(
        f"round 1 (one shot): answered {len(one) - len(lost)}/{len(one)}, served {len(served)}, "
        f"503 {len(busy)} (all with Retry-After: {all(o.retry_after for o in busy)}), "
        f"other {len(other)}, lost {len(lost)}"
    )
    lat_ok = [o.secs for o in served]
    lat_all = [o.secs for o in one]
    print(
        f"  latency served p50 {pct(lat_ok, 0.5):.3f} s p95 {pct(lat_ok, 0.95):.3f} s; "
        f"all answers p50 {pct(lat_all, 0.5):.3f} s p95 {pct(lat_all, 0.95):.3f} s"
    )
    per_clip = wall_one / max(1, len(served))
    print(
        f"  served throughput {len(served) / wall_one:.2f} clips/s "
        f"({per_clip:.3f} s per served clip; ratio to baseline {per_clip / base_per_clip:.2f})"
    )
    done = [o for o in two if o.status == 200]
    print(
        f"round 2 (retry after Retry-After): served {len(done)}/{len(two)} in {wall_two:.2f} s, "
        f"tries p50 {statistics.median(o.tries for o in two):.0f} max {max(o.tries for o in two)}"
    )
    print(
        f"  {wall_two / max(1, len(done)):.3f} s per clip vs baseline {base_per_clip:.3f} s "
        f"(ratio {wall_two / base_secs:.2f}; lost {sum(o.status is None for o in two)})"
    )
    print(f"temp files left in the server's folder: {len(left)}")
    ok = seq_ok == len(seq) and not lost and not other and len(done) == len(two) and not left
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
