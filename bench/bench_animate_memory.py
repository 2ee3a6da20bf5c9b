"""Client memory and overhead of `imagear animate` on big clips, against a loopback fake server.

The fake server (tests/fake_server.py) answers /animate with a real MP4 padded by a trailing
``free`` box to the requested size and streamed on the fly. For each size, two fresh child
processes do the same POST (same prepared JPEG):

- ``animate``: ``Animator.animate`` end to end (settings, master image, prepare + upload,
  stream to the .part file, probe, atomic store, log);
- ``raw``: the baseline, a bare ``httpx`` streamed download of the same request to a file.

"transfer s" is the client's own POST + download to the ``.part`` file (from its progress
events), the part that compares one to one with the raw download ("xfer ratio").

Each child reports its peak RSS (``ru_maxrss``) above what it had after imports and setup
("peak delta"), and its wall time. The target: the client's peak delta stays under 100 MB and
flat as the clip grows (it streams), and its time is close to the raw download (ratio ~1).

    PYTHONPATH=src python bench/bench_animate_memory.py [--sizes 50,500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
MB = 1_000_000


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- children -----------------------------------------------------------------------------------


def child_animate(url: str, workdir: Path) -> dict[str, Any]:
    os.environ.update(
        IMAGEAR_DATABASE_URL=f"sqlite:///{workdir / 'imagear.db'}",
        IMAGEAR_STORAGE_ROOT=str(workdir / "storage"),
        IMAGEAR_IMAGES_ROOT=str(workdir / "images"),
        IMAGEAR_USER="bench",
    )
    import av  # noqa: F401  (imported up front: the baseline includes every library)

    from imagear import records, settings
    from imagear.animate import AnimateRequest, Animator
    from imagear.app import App
    from imagear.media import probe_mp4, sample_image_path

    app = App.load()
    record = records.add_record(app, sample_image_path())
    settings.set_value(app.engine, "ar_server_url", url)
    marks: dict[str, float] = {}

    def progress(event: str, **data: Any) -> None:
        key = data.get("phase", event)
        marks.setdefault(key, time.perf_counter())

    animator = Animator(app, progress=progress)
    animator.health()  # connect once, as the raw child does
    base = rss_peak_mb()
    started = time.perf_counter()
    outcome = animator.animate(AnimateRequest(record.id, overrides={"seed": 1}))
    secs = time.perf_counter() - started
    peak = rss_peak_mb()
    assert outcome.file is not None
    probe_started = time.perf_counter()
    probe_mp4(outcome.file)
    probe_secs = time.perf_counter() - probe_started
    size = outcome.file.stat().st_size
    animator.close()
    app.close()
    return {
        "secs": secs,
        "transfer_secs": marks["probe"] - marks["upload"],  # POST + streamed download to .part
        "base_mb": base,
        "peak_mb": peak,
        "bytes": size,
        "probe_secs": probe_secs,
    }


def child_raw(url: str, workdir: Path) -> dict[str, Any]:
    import av  # noqa: F401
    import httpx

    from imagear.generators import upload_box
    from imagear.media import encode_upload, prepare_image, sample_image_path
    from imagear.models import resolve_generation

    resolved = resolve_generation("svd", {}, {"seed": 1}, {}, (1600, 1000))
    image = prepare_image(sample_image_path(), upload_box(resolved.options, (1600, 1000)))
    payload = encode_upload(image)
    fields = {"model": "svd", "seed": "1", "num_frames": "14", "fps": "7"}
    out = workdir / "raw.mp4"
    with httpx.Client(base_url=url, timeout=httpx.Timeout(900, connect=10)) as client:
        client.get("/health")
        base = rss_peak_mb()
        started = time.perf_counter()
        with (
            client.stream(
                "POST",
                "/animate",
                data=fields,
                files={"image": ("sample.jpg", payload, "image/jpeg")},
            ) as response,
            out.open("wb") as fh,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes():
                fh.write(chunk)
        secs = time.perf_counter() - started
    return {"secs": secs, "base_mb": base, "peak_mb": rss_peak_mb(), "bytes": out.stat().st_size}


def run_child(kind: str, url: str, tmp_root: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-animate-", dir=tmp_root) as tmp:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])
        )
        proc = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--url", url, "--workdir", tmp],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{kind} child failed:\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


# -- parent -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,500", help="clip sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size and side (best)")
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    parser.add_argument(
        "--tmp",
        default=shm,
        help="where the clips are written (default /dev/shm when there is one, so the disk's "
        "writeback noise does not swamp the client's own cost; pass a disk folder to include it)",
    )
    parser.add_argument("--child", choices=("animate", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_animate if args.child == "animate" else child_raw
        print(json.dumps(fn(args.url, args.workdir)))
        return

    from fake_server import FakeVideoServer

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"imagear animate vs raw httpx download, best of {args.repeat}, fake server on loopback, "
        f"clips written under {args.tmp or tempfile.gettempdir()}"
    )
    header = (
        f"{'clip':>8}  {'client peak delta':>17}  {'raw peak delta':>14}  {'client s':>8}  "
        f"{'transfer s':>10}  {'raw s':>6}  {'ratio':>5}  {'xfer ratio':>10}  {'probe s':>7}"
    )
    print(header)
    rows = []
    with FakeVideoServer(chunk_size=1 << 20) as server:
        for size in sizes:
            server.configure(body_size=size * MB)
            animate_runs, raw_runs = [], []
            for i in range(args.repeat):  # interleaved, alternating who goes first
                order = ("animate", "raw") if i % 2 == 0 else ("raw", "animate")
                for kind in order:
                    (animate_runs if kind == "animate" else raw_runs).append(
                        run_child(kind, server.url, args.tmp)
                    )
            a = min(animate_runs, key=lambda r: r["secs"])
            r = min(raw_runs, key=lambda r: r["secs"])
            a_delta = max(x["peak_mb"] - x["base_mb"] for x in animate_runs)
            r_delta = max(x["peak_mb"] - x["base_mb"] for x in raw_runs)
            assert a["bytes"] == r["bytes"] == size * MB, (a, r)
            ratio = a["secs"] / r["secs"]
            xfer = min(x["transfer_secs"] for x in animate_runs)
            rows.append((size, a_delta, r_delta, a["secs"], r["secs"], ratio, xfer / r["secs"]))
            print(
                f"{size:>5} MB  {a_delta:>14.1f} MB  {r_delta:>11.1f} MB  {a['secs']:>8.2f}  "
                f"{xfer:>10.2f}  {r['secs']:>6.2f}  {ratio:>5.2f}  {xfer / r['secs']:>10.2f}  "
                f"{a['probe_secs']:>7.3f}"
            )
    worst = max(row[1] for row in rows)
    spread = max(row[1] for row in rows) - min(row[1] for row in rows)
    print(
        f"client peak RSS delta: at most {worst:.1f} MB (target < 100 MB), "
        f"spread across sizes {spread:.1f} MB (flat = streaming); "
        f"time ratio client/raw: {', '.join(f'{row[5]:.2f}' for row in rows)} end to end "
        "(includes preparing the image, probing, storing and logging), "
        f"{', '.join(f'{row[6]:.2f}' for row in rows)} for the transfer alone"
    )


if __name__ == "__main__":
    main()
