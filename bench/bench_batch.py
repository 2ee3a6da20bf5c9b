"""Batch throughput with real-size masters: how close ``imagear batch`` gets to what the
image-to-video server(s) allow, process start included.

The masters are made here once, as an archive has them: a photograph (3000x2000 JPEG), a
24-megapixel scan (6000x4000 JPEG) and a 16-bit greyscale TIFF scan (4000x3000, uncompressed),
from the shipped sample with film grain. ``--records`` records take them in turn (each record its
own file, hard-linked). Loopback fake servers (tests/batch_fakes.py, each in its own process so
that it does not compete with the client for the GIL) hold one of ``--slots`` slots for exactly
``--latency`` seconds per request (queueing the rest, as a GPU server does) and answer a real
MP4 of the uploaded image (built once per distinct upload, before the timed runs), so the clip
passes imagear's quality gate as a real one would. As imagear's own server does, they append the
clip's measurements when the client asks (the client then decodes no clip);
``--heratio-server`` makes them answer as Heratio's server does, without (every clip decoded).

The ideal wall time is ``records x latency / (servers x slots)``: every server slot busy all the
time. Printed, all measured in the same run against the same servers:

- baseline: the same number of plain HTTP requests with the same prepared uploads through
  imagear's VideoClient from a pool of ``--concurrency`` threads (no database, no image
  preparation, no clip checking or storing): the floor set by HTTP itself;
- ``imagear batch --concurrency C`` run as a command (a new process: Python start, imports,
  database, pre-flight included), as cron runs it: its wall time as a fraction of the ideal
  (target >= 0.95 at C = the server's slots) and of the baseline, the start-up cost (wall time
  of the process less the run's own ``elapsed_secs``), the client CPU per record and the server
  slot time lost per record, ``(wall x slots - records x latency) / records``.

With ``--servers 2`` the records go to a pool (``ar_server_url`` + ``ar_server_pool``), each
server reporting ``queue_size`` = slots - 1 in ``/health``; target >= 0.9 of the ideal of all
their slots. ``--kill-after F`` then kills (SIGKILL) the last server once a fraction F of the
records was sent: every record must still be done exactly once (one clip each, never sent to
a live server twice).

The bench prints how loaded the machine was (load average, CPUs): on a shared machine the
fraction is bounded by the client CPU it can get, which the CPU line shows.

    PYTHONPATH=src python bench/bench_batch.py [--records 120] [--latency 0.25] [--slots 4]
        [--concurrency 4] [--servers 1] [--kill-after 0.5] [--db sqlite|postgres] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from installed import as_installed, warm  # noqa: E402

from batch_fakes import serve_until_told  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("photo", "scan", "tiff16")


# -- the masters and the records ----------------------------------------------------------------


# what `imagear batch` imports, compiled once before anything is timed (bench/installed.py)
WARM_MODULES = (
    "imagear.cli",
    "imagear.cli.batch",
    "imagear.batch.runner",
    "imagear.animate",
    "imagear.generators",
    "imagear.pool",
    "imagear.media.scan",
    "imagear.media.preview",
    "imagear.provenance.sign",
)


def make_masters(folder: Path) -> dict[str, Path]:
    """The three masters, from the shipped sample (1600x1000) upscaled, with film grain so that
    the JPEGs are as large as real ones."""
    import numpy as np
    from PIL import Image

    from imagear.media import sample_image_path

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with Image.open(sample_image_path()) as opened:
        sample = opened.convert("RGB")

    def grainy(size: tuple[int, int], grey: bool = False) -> np.ndarray:
        base = sample.convert("L") if grey else sample
        arr = np.asarray(base.resize(size, Image.Resampling.BICUBIC)).astype(np.int16)
        shape = (size[1], size[0]) if grey else (size[1], size[0], 1)
        arr += rng.integers(-5, 6, shape, dtype=np.int16)
        return np.clip(arr, 0, 255).astype(np.uint8)

    out = {
        "photo": folder / "photo.jpg",
        "scan": folder / "scan.jpg",
        "tiff16": folder / "scan16.tif",
    }
    Image.fromarray(grainy((3000, 2000))).save(out["photo"], quality=90)
    Image.fromarray(grainy((6000, 4000))).save(out["scan"], quality=92)
    grey16 = grainy((4000, 3000), grey=True).astype(np.uint16) * 257
    Image.fromarray(grey16).save(out["tiff16"])  # mode I;16: a 16-bit greyscale TIFF
    return out


def make_records(
    app: Any, n: int, folder: Path, masters: dict[str, Path], stem: str = "rec"
) -> list[int]:
    """``n`` records whose masters take the three kinds in turn (inserted in bulk; each record
    has its own file, hard-linked to its kind's master, named ``{stem}_{i}``: the servers count
    what each name was sent)."""
    from sqlalchemy import insert, select

    from imagear.db.schema import FILES as do_table
    from imagear.db.schema import RECORDS as io_table

    mimes = {"photo": "image/jpeg", "scan": "image/jpeg", "tiff16": "image/tiff"}
    with app.engine.begin() as conn:
        conn.execute(
            insert(io_table), [{"identifier": f"B{i:05d}", "title": "bench"} for i in range(n)]
        )
        ids = [r[0] for r in conn.execute(select(io_table.c.id).order_by(io_table.c.id))]
        rows = []
        for i, oid in enumerate(ids):
            kind = KINDS[i % len(KINDS)]
            web = f"/uploads/r/{oid}/"
            name = f"{stem}_{i:05d}{masters[kind].suffix}"
            path = folder / web.strip("/") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(masters[kind], path)
            rows.append(
                {
                    "object_id": oid,
                    "usage_id": 140,
                    "mime_type": mimes[kind],
                    "name": name,
                    "path": web,
                    "parent_id": None,
                }
            )
        conn.execute(insert(do_table), rows)
    return ids


def uploads(app: Any, masters: dict[str, Path]) -> dict[str, tuple[bytes, dict[str, Any], bool]]:
    """What imagear sends for each master (prepared exactly as the Animator prepares it), and
    the form fields: the baseline sends the same, and the servers' clips are built from it."""
    from imagear import settings
    from imagear.generators import Job, RemoteGenerator, oriented_size
    from imagear.media import open_image
    from imagear.models import resolve_generation

    values = settings.get_all(app.engine).model_dump()
    out = {}
    for kind, path in masters.items():
        with open_image(path, load=False) as img:
            size = oriented_size(img)
        resolved = resolve_generation("svd", values, {"seed": 1}, {}, size)
        job = Job(0, resolved.descriptor, resolved.options, path)
        prepared = RemoteGenerator.__new__(RemoteGenerator).prepare(job)  # needs no client
        out[kind] = (prepared.payload, RemoteGenerator.fields(job), prepared.whole)
    return out


# -- servers ------------------------------------------------------------------------------------


def start_server(latency: float, slots: int, measures: bool = True) -> tuple[Any, Any, str]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    knobs = {"latency": latency, "max_concurrent": slots, "echo": True, "queue_size": slots - 1}
    knobs["measures"] = measures
    proc = ctx.Process(target=serve_until_told, args=(child, knobs), daemon=True)
    proc.start()
    url = parent.recv()
    return proc, parent, url


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def baseline(
    urls: list[str],
    sent: list[tuple[bytes, dict[str, Any], bool]],
    concurrency: int,
    folder: Path,
    extras: bool = True,
) -> float:
    """Wall time of plain VideoClient.animate calls (``sent`` in order) from ``concurrency``
    threads, each thread keeping to one server (threads spread evenly over ``urls``)."""
    from imagear.client import VideoClient

    folder.mkdir(parents=True, exist_ok=True)
    clients = [VideoClient(url) for url in urls]
    local = threading.local()
    counter = iter(range(concurrency))
    lock = threading.Lock()

    def one(i: int) -> None:
        if not hasattr(local, "client"):
            with lock:
                local.client = clients[next(counter) % len(clients)]
        payload, fields, whole = sent[i]
        name = f"{folder.name}_{i}.jpg"
        local.client.animate(
            payload, fields, folder / f"{i}.mp4", filename=name, extras=extras, reference=whole
        )

    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(len(sent))))
        return time.perf_counter() - t0
    finally:
        for client in clients:
            client.close()


def warm_batch(env: dict[str, str], work: Path, masters: dict[str, Path], url: str) -> None:
    """One small ``imagear batch`` (a record of each master kind, on a database and folders of
    its own), untimed: a batch imports much only when its first records need it (PyAV, c2pa,
    cryptography, httpcore...), and an installed copy has all of that compiled, where the
    benchmark's byte-code cache would otherwise compile it inside the timed run (about 0.3 s
    of its GIL, by a profile)."""
    from imagear import settings
    from imagear.app import App

    own = {
        "IMAGEAR_DATABASE_URL": f"sqlite:///{work / 'warm.db'}",
        "IMAGEAR_STORAGE_ROOT": str(work / "warm-storage"),
        "IMAGEAR_IMAGES_ROOT": str(work / "warm-images"),
    }
    saved = {key: os.environ.get(key) for key in own}
    os.environ.update(own)
    try:
        app = App.load()
        make_records(app, len(KINDS), work / "warm-images", masters, stem="warm")
        settings.set_value(app.engine, "ar_server_url", url)
        app.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    cmd = [sys.executable, "-m", "imagear", "batch", "--json"]
    done = subprocess.run(cmd, env={**env, **own}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the untimed warm-up batch failed (exit {done.returncode})")


def run_batch(env: dict[str, str], concurrency: int) -> tuple[float, float, dict[str, Any]]:
    """``imagear batch --concurrency C --json`` as a new process: (wall seconds from spawn to
    exit, its CPU seconds, its JSON summary)."""
    cmd = [sys.executable, "-m", "imagear", "batch", "--concurrency", str(concurrency), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"imagear batch failed (exit {done.returncode})") from None
    return wall, cpu, summary


def killer(
    urls: list[str], proc: Any, after: int, seen: dict[str, Any], stop: threading.Event
) -> None:
    """Kill ``proc`` (the last server) once the servers received ``after`` requests in all;
    ``seen`` gets the records the killed server had received by then."""
    while not stop.is_set():
        stats = [server_stats(url) for url in urls]
        if sum(s["requests"] for s in stats) >= after:
            seen.update(server_stats(urls[-1]).get("names", {}))
            proc.kill()
            seen["__killed_at__"] = time.perf_counter()
            return
        stop.wait(0.02)


def clip_counts(app: Any) -> dict[int, int]:
    from sqlalchemy import func, select

    from imagear.db.schema import CLIPS as clips

    with app.engine.connect() as conn:
        rows = conn.execute(select(clips.c.object_id, func.count()).group_by(clips.c.object_id))
        return {int(r[0]): int(r[1]) for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--latency", type=float, default=0.25, help="server seconds per request")
    parser.add_argument("--slots", type=int, default=4, help="requests a server serves at once")
    parser.add_argument("--servers", type=int, default=1, help="servers in the pool")
    parser.add_argument("--concurrency", type=int, default=None, help="default: all slots")
    parser.add_argument("--kill-after", type=float, default=None, help="kill the last server")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("IMAGEAR_TEST_POSTGRES_URL", PG_DEFAULT))
    parser.add_argument("--target", type=float, default=None, help="default 0.95, pool 0.9")
    parser.add_argument(
        "--heratio-server",
        action="store_true",
        help="servers that send no measurements with the clip (the client decodes every clip)",
    )
    args = parser.parse_args()
    slots = args.slots * args.servers
    concurrency = args.concurrency or slots
    target = args.target or (0.95 if args.servers == 1 else 0.9)

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
    env = dict(
        os.environ,
        IMAGEAR_DATABASE_URL=db_url,
        IMAGEAR_STORAGE_ROOT=str(work / "storage"),
        IMAGEAR_IMAGES_ROOT=str(work / "images"),
        IMAGEAR_MODELS_DIR=str(work / "models"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    )
    os.environ.update({k: env[k] for k in env if k.startswith("IMAGEAR_")})
    env = as_installed(env, work / "pyc")  # the batch command's byte code cached, as installed
    warm([sys.executable, "-c", f"import {', '.join(WARM_MODULES)}"], env)

    from imagear import settings
    from imagear.app import App

    measures = not args.heratio_server
    servers = [start_server(args.latency, args.slots, measures) for _ in range(args.servers)]
    urls = [url for _, _, url in servers]
    app = App.load()
    n = args.records
    killed: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        masters = make_masters(work / "masters")
        make_records(app, n, work / "images", masters)
        settings.set_value(app.engine, "ar_server_url", urls[0])
        if len(urls) > 1:
            settings.set_value(app.engine, "ar_server_pool", " ".join(urls[1:]))
        warm_batch(env, work, masters, urls[0])
        sent_by_kind = uploads(app, masters)
        sent = [sent_by_kind[KINDS[i % len(KINDS)]] for i in range(n)]
        # every server builds its clip of each upload once, before anything is timed
        for url in urls:
            baseline([url], [sent_by_kind[k] for k in KINDS], 1, work / "warm", measures)
        sizes = ", ".join(
            f"{k} {masters[k].stat().st_size / 1e6:.1f} MB upload {len(sent_by_kind[k][0]) // 1024} KB"
            for k in KINDS
        )
        print(f"setup: {n} records in {time.perf_counter() - t0:.1f} s ({args.db}); {sizes}")

        base_wall = baseline(urls, sent, concurrency, work / "baseline", measures)
        mid = [server_stats(url) for url in urls]
        stop_killer = threading.Event()
        watcher = None
        if args.kill_after is not None:
            total_before = sum(s["requests"] for s in mid)
            watcher = threading.Thread(
                target=killer,
                args=(urls, servers[-1][0], total_before + int(n * args.kill_after), killed),
                kwargs={"stop": stop_killer},
                daemon=True,
            )
            watcher.start()
        load_before = os.getloadavg()[0]
        t_batch = time.perf_counter()
        wall, cpu, summary = run_batch(env, concurrency)
        stop_killer.set()
        alive = urls[:-1] if killed else urls
        after = {url: server_stats(url) for url in alive}
        counts = clip_counts(app)
    finally:
        for proc, pipe, _ in servers:
            if proc.is_alive():
                pipe.send("stop")
                proc.join(10)
        app.close()
        if schema is not None:
            import psycopg

            raw = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(raw, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    ideal = n * args.latency / slots
    base_fraction = ideal / base_wall
    fraction = ideal / wall
    run_secs = float(summary.get("elapsed_secs") or 0.0)
    lost = (wall * slots - n * args.latency) / n
    print(
        f"servers: {args.servers} x {args.slots} slots, {args.latency * 1000:.0f} ms per request; "
        f"ideal wall {ideal:.2f} s for {n} records; {os.cpu_count()} CPUs here, load average "
        f"{load_before:.1f} before the batch, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"baseline (plain HTTP, same uploads, no DB/images/clips): {base_wall:.2f} s, "
        f"{base_fraction:.3f} of ideal"
    )
    print(
        f"imagear batch --concurrency {concurrency} (process start included): {wall:.2f} s, "
        f"{n / wall:.1f} records/s, {fraction:.3f} of ideal (target >= {target}), "
        f"{fraction / base_fraction:.3f} of baseline"
    )
    print(
        f"  of which process start and pre-flight: {wall - run_secs:.2f} s (the run itself "
        f"{run_secs:.2f} s, {ideal / run_secs if run_secs else 0:.3f} of ideal); client CPU "
        f"{cpu / n * 1000:.0f} ms per record ({cpu:.1f} s in all, {cpu / wall:.2f} CPUs busy); "
        f"{lost * 1000:.1f} ms of server slot time lost per record"
    )
    requests = sum(after[u]["requests"] - mid[urls.index(u)]["requests"] for u in after)
    repeated = {k: v for u in after for k, v in after[u]["repeated"].items()}
    peaks = [after[u]["peak_concurrency"] for u in after]
    print(
        f"outcomes: {summary['created']} created, {summary['failed']} failed, "
        f"{summary['given_up']} given up; requests to live servers {requests}, records sent "
        f"twice to one server {len(repeated)}, server peak concurrency {peaks}"
    )
    ok = summary["created"] == n and not repeated and all(v == 1 for v in counts.values())
    ok = ok and len(counts) == n
    if killed:
        lost_with = [k for k in killed if k.startswith("rec_")]  # the batch's, not the baseline's
        resent = [name for name in lost_with if after[urls[0]]["names"].get(name)]
        print(
            f"killed the last server after {int(n * (args.kill_after or 0))} requests, "
            f"{killed['__killed_at__'] - t_batch:.2f} s into the run: it had received "
            f"{len(lost_with)} records; {len(resent)} of them (those whose request died with it) "
            f"were sent to the live server once; every record has "
            f"{'exactly one clip' if ok else 'NOT exactly one clip'}"
        )
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    ok = ok and fraction >= target
    print("OK" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
