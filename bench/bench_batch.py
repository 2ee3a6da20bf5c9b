"""Batch throughput: how close ``imagear batch`` gets to what the server allows.

A loopback fake image-to-video server (tests/batch_fakes.py, in its own process so it does
not compete with the client for the GIL) holds one of ``--slots`` slots for exactly
``--latency`` seconds per request (queueing the rest, as a GPU server does) and answers a tiny
MP4. ``--records`` records with tiny distinct master images are animated by one batch run
(:class:`imagear.batch.BatchRunner`, what ``imagear batch`` runs) at ``--concurrency``.

The ideal wall time is ``records x latency / slots``: the server busy all the time. Printed,
all measured in the same run against the same server:

- baseline: the same number of plain HTTP requests through imagear's VideoClient from a pool
  of ``--concurrency`` threads (no database, no files): the floor set by HTTP itself;
- batch machinery alone: a batch run whose Animator is replaced by just the HTTP call (claims,
  heartbeat, outcome bookkeeping, no image/MP4/storage work);
- batch: the real thing. Throughput as a fraction of the ideal (target >= 0.9 at
  concurrency 4) and of the baseline; the client's CPU per record; the client's time per
  record outside the server (worker time - server time - wait for a slot); and the server
  slot time lost per record, ``(wall x slots - records x latency) / records``.

    PYTHONPATH=src python bench/bench_batch.py [--records 1000] [--latency 0.05] [--slots 4]
        [--concurrency 4] [--db sqlite|postgres] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from batch_fakes import serve_until_told  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_records_fast(app: Any, n: int, folder: Path) -> list[int]:
    """``n`` records with distinct 32x24 PNG masters, inserted in bulk (add_record is slower)."""
    from PIL import Image
    from sqlalchemy import insert, select

    from imagear.db import DigitalObject, InformationObject

    io_table = InformationObject.__table__  # type: ignore[attr-defined]
    do_table = DigitalObject.__table__  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        conn.execute(
            insert(io_table), [{"identifier": f"B{i:05d}", "title": "bench"} for i in range(n)]
        )
        ids = [r[0] for r in conn.execute(select(io_table.c.id).order_by(io_table.c.id))]
        rows = []
        for i, oid in enumerate(ids):
            web = f"/uploads/r/{oid}/"
            name = f"rec_{i:05d}.png"
            path = folder / web.strip("/") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 24), (i % 256, (i // 256) % 256, 99)).save(path)
            rows.append(
                {
                    "object_id": oid,
                    "usage_id": 140,
                    "mime_type": "image/png",
                    "name": name,
                    "path": web,
                    "parent_id": None,
                }
            )
        conn.execute(insert(do_table), rows)
    return ids


def start_server(latency: float, slots: int) -> tuple[Any, Any, str]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=serve_until_told,
        args=(child, {"latency": latency, "max_concurrent": slots}),
        daemon=True,
    )
    proc.start()
    url = parent.recv()
    return proc, parent, url


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def baseline(url: str, n: int, concurrency: int) -> float:
    """Wall time of ``n`` plain VideoClient.animate calls from ``concurrency`` threads."""
    from io import BytesIO

    from PIL import Image

    from imagear.client import VideoClient

    buf = BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(buf, "JPEG")
    payload = buf.getvalue()
    tmp = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    with VideoClient(url) as client:

        def one(i: int) -> None:
            fields = {"model": "svd", "num_frames": 14, "fps": 7, "seed": 1}
            client.animate(payload, fields, tmp / f"{i}.mp4", filename=f"base_{i}.jpg")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(n)))
        return time.perf_counter() - t0


class HttpOnlyAnimator:
    """Stands in for Animator with only the HTTP exchange (no image preparation, probing or
    storing): what the batch machinery itself costs on top of plain HTTP."""

    def __init__(self, url: str, folder: Path) -> None:
        from imagear.client import VideoClient

        self.client = VideoClient(url)
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def check_ready(self, model: str | None = None) -> Any:
        return self.client.health()

    def animate(self, req: Any) -> Any:
        from imagear.animate import AnimateOutcome

        fields = {"model": "svd", "num_frames": 14, "fps": 7, "seed": 1}
        dest = self.folder / f"{req.object_id}.mp4"
        self.client.animate(b"x" * 600, fields, dest, filename=f"http_{req.object_id}.jpg")
        return AnimateOutcome(req.object_id, "created", None, [], dest)

    def close(self) -> None:
        self.client.close()


def timed_batch(app: Any, concurrency: int, animator: Any = None) -> tuple[float, Any, list[float]]:
    """One batch run over every record: (wall, summary, per-record worker seconds, less the
    average wait for a generation slot)."""
    from imagear.batch import BatchEvents, BatchOptions, BatchRunner, ItemResult

    item_secs: list[float] = []

    class Collect(BatchEvents):
        def item(self, result: ItemResult) -> None:
            item_secs.append(result.secs)

    options = BatchOptions(concurrency=concurrency)
    runner = BatchRunner(app, options, events=Collect(), animator=animator)
    t0 = time.perf_counter()
    summary = runner.run()
    wall = time.perf_counter() - t0
    waited = runner.slot_wait_secs / max(1, len(item_secs))
    return wall, summary, [secs - waited for secs in item_secs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--slots", type=int, default=4, help="requests the server serves at once")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("IMAGEAR_TEST_POSTGRES_URL", PG_DEFAULT))
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    schema = None
    if args.db == "postgres":
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        raw = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.pg_url else "?"
        db_url = f"{args.pg_url}{sep}options=-csearch_path%3D{schema}"
    else:
        db_url = f"sqlite:///{work / 'imagear.db'}"
    os.environ.update(
        IMAGEAR_DATABASE_URL=db_url,
        IMAGEAR_STORAGE_ROOT=str(work / "storage"),
        IMAGEAR_IMAGES_ROOT=str(work / "images"),
        IMAGEAR_MODELS_DIR=str(work / "models"),
    )

    from imagear import settings
    from imagear.app import App

    proc, pipe, url = start_server(args.latency, args.slots)
    app = App.load()
    try:
        t0 = time.perf_counter()
        make_records_fast(app, args.records, work / "images")
        settings.set_value(app.engine, "ar_server_url", url)
        print(f"setup: {args.records} records in {time.perf_counter() - t0:.1f} s ({args.db})")

        cpu0 = time.process_time()
        base_wall = baseline(url, args.records, args.concurrency)
        cpu1 = time.process_time()

        http_wall, _, _ = timed_batch(
            app, args.concurrency, HttpOnlyAnimator(url, work / "http-only")
        )
        cpu2 = time.process_time()
        http_stats = server_stats(url)
        wall, summary, item_secs = timed_batch(app, args.concurrency)
        cpu3 = time.process_time()
        stats = server_stats(url)
    finally:
        pipe.send("stop")
        proc.join(10)
        app.close()
        if schema is not None:
            import psycopg

            raw = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(raw, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    n = args.records
    requests = stats["requests"] - http_stats["requests"]
    served = stats["server_secs"] - http_stats["server_secs"]
    ideal = n * args.latency / args.slots
    fraction = ideal / wall
    base_fraction = ideal / base_wall
    outside = statistics.fmean(item_secs) - served / max(1, requests)
    lost = (wall * args.slots - n * args.latency) / n

    print(
        f"server: {args.latency * 1000:.0f} ms per request, {args.slots} at once; "
        f"ideal wall {ideal:.2f} s for {n} records; {os.cpu_count()} CPUs here"
    )
    print(
        f"baseline (plain HTTP, no DB): {base_wall:.2f} s, {base_fraction:.3f} of ideal, "
        f"{(base_wall * args.slots - n * args.latency) / n * 1000:.2f} ms lost per request, "
        f"client CPU {(cpu1 - cpu0) / n * 1000:.2f} ms per request"
    )
    print(
        f"batch machinery alone (Animator replaced by the HTTP call): {http_wall:.2f} s, "
        f"{ideal / http_wall:.3f} of ideal, "
        f"{(http_wall * args.slots - n * args.latency) / n * 1000:.2f} ms lost per record, "
        f"client CPU {(cpu2 - cpu1) / n * 1000:.2f} ms per record"
    )
    print(
        f"batch --concurrency {args.concurrency}: {wall:.2f} s, {n / wall:.1f} records/s, "
        f"{fraction:.3f} of ideal (target >= {args.target}), {fraction / base_fraction:.3f} of "
        f"baseline, client CPU {(cpu3 - cpu2) / n * 1000:.2f} ms per record"
    )
    print(
        f"client time per record outside the server: {outside * 1000:.2f} ms (worker time - "
        f"server time - wait for a slot); {lost * 1000:.2f} ms of server slot time lost per "
        "record ((wall x slots - records x latency) / records)"
    )
    print(
        f"outcomes: {summary.count('created')} created, {len(summary.failures)} failed; "
        f"requests {requests}, repeated records {len(stats['repeated'])}, "
        f"server peak concurrency {stats['peak_concurrency']}"
    )
    ok = fraction >= args.target and summary.count("created") == n and not stats["repeated"]
    print("OK" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
