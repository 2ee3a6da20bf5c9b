"""`imagear serve`'s peak memory under concurrent Ken Burns clients, with glibc's malloc arenas
bounded by the server itself against glibc's default, in the same run.

A real `imagear serve --model kenburns` process on loopback (the entry point people run, so
the bound is the one it sets itself, before any thread), ``--clients`` clients at once, each
posting a real-size JPEG master (3000x2000, made here) and retrying after the Retry-After of a
503 until its clip is served. Two rounds, each a fresh server:

- baseline: ``MALLOC_ARENA_MAX`` set to glibc's own default limit (8 per core), which the
  server keeps (an environment's value wins): what a server without the bound does;
- bounded: no ``MALLOC_ARENA_MAX`` in the environment; the server bounds its arenas to
  :data:`imagear.server.arenas.ARENAS` itself.

Printed for each: the server's peak RSS (VmHWM, read before it stops), clips served, wall time;
and the ratio bounded / baseline. Target: the bounded peak under 400 MB with 20 clients.

    PYTHONPATH=src python bench/bench_server_memory.py [--clients 20] [--width 1280]
        [--height 720] [--frames 50]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def master_jpeg(width: int = 3000, height: int = 2000) -> bytes:
    """A photo-like 3000x2000 JPEG (gradients and noise, so it does not compress to nothing)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))])
    noise = rng.integers(0, 40, size=(3, height, width))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_round(
    env: dict[str, str], image: bytes, args: argparse.Namespace
) -> tuple[float, int, float]:
    """(peak RSS MB, clips served, wall seconds) of one fresh server under the clients."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    env = dict(
        env,
        IMAGEAR_DATABASE_URL=f"sqlite:///{work / 'x.db'}",
        IMAGEAR_MODELS_DIR=str(work / "models"),
        XDG_CONFIG_HOME=str(work / "xdg-config"),
        XDG_DATA_HOME=str(work / "xdg-data"),
    )
    cmd = [sys.executable, "-m", "imagear", "serve", "--model", "kenburns", "--no-preload"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        fields = {
            "model": "kenburns",
            "num_frames": str(args.frames),
            "fps": "25",
            "width": str(args.width),
            "height": str(args.height),
        }

        def client(i: int) -> bool:
            end = time.monotonic() + args.timeout
            with httpx.Client() as http:
                while time.monotonic() < end:
                    r = http.post(
                        f"{url}/animate",
                        data={**fields, "seed": str(i + 1)},
                        files={"image": ("master.jpg", image, "image/jpeg")},
                        timeout=args.timeout,
                    )
                    if r.status_code == 200:
                        return True
                    if r.status_code != 503:
                        return False
                    time.sleep(float(r.headers.get("retry-after", "1")))
            return False

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            served = sum(pool.map(client, range(args.clients)))
        wall = time.perf_counter() - t0
        return peak_rss_mb(proc.pid), served, wall
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    image = master_jpeg()
    base_env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    base_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    glibc_default = str(8 * (os.cpu_count() or 1))
    print(
        f"{args.clients} clients, Ken Burns {args.width}x{args.height} {args.frames} frames from "
        f"a 3000x2000 JPEG ({len(image) / 1e6:.1f} MB); {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    base = one_round({**base_env, "MALLOC_ARENA_MAX": glibc_default}, image, args)
    print(
        f"baseline (MALLOC_ARENA_MAX={glibc_default}, glibc's default limit here): peak RSS "
        f"{base[0]:.0f} MB, {base[1]}/{args.clients} clips in {base[2]:.1f} s"
    )
    bounded = one_round(base_env, image, args)
    print(
        f"bounded by `imagear serve` itself: peak RSS {bounded[0]:.0f} MB, "
        f"{bounded[1]}/{args.clients} clips in {bounded[2]:.1f} s"
    )
    ok = bounded[0] < 400 and bounded[1] == args.clients
    print(
        f"peak RSS bounded / baseline: {bounded[0] / base[0]:.2f}x (target < 400 MB: "
        f"{'ok' if ok else 'MISSED'})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
