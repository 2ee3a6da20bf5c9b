"""Content Credentials: what signing costs next to a Ken Burns generation, measured in one run.

Baseline: a real Ken Burns generation through imagear's pipeline (Animator, in-process), 1280x720,
125 frames at 25 fps, from a 24-megapixel JPEG master made here (6000x4000), with
``ar_provenance`` 0: resolve, render + encode, the quality gate's decode, poster, preview, commit.
Measured: what the pipeline adds with ``ar_provenance`` 1, timed on its own: the master's SHA-256,
the clip signed from file to file (the master read as the ingredient), the poster and the preview
signed (imagear.provenance.sign), the signed clip probed again. Each is the best of ``--repeat``
interleaved runs. Prints both and the ratio (target: signing < 5 % of the generation), and the
whole signed generation for comparison.

Memory: ``--big-mb N`` (default 500) makes an N-MB MP4 (the clip's stream repeated, copied by
ffmpeg, no re-encode) and signs it in a child process: its peak RSS before and after signing
(flat: c2pa streams the file; 0 skips).

    PYTHONPATH=src python bench/bench_provenance.py [--repeat 3] [--big-mb 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

KB = {"num_frames": 125, "fps": 25, "width": 1280, "height": 720}


def master_jpeg(path: Path) -> Path:
    """A 24 MP photograph-like JPEG: smooth gradients and texture, so it compresses like one."""
    h, w = 4000, 6000
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(1911)
    grey = 120 + 60 * np.sin(x / 300) * np.cos(y / 220) + rng.normal(0, 12, (h, w))
    rgb = np.stack([grey, grey * 0.9 + 10, grey * 0.75 + 20], axis=-1).clip(0, 255)
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=90)
    return path


def setup(root: Path) -> object:
    os.environ.update(
        IMAGEAR_DATABASE_URL=f"sqlite:///{root / 'bench_provenance.db'}",
        IMAGEAR_STORAGE_ROOT=str(root / "storage"),
        IMAGEAR_IMAGES_ROOT=str(root / "images"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        IMAGEAR_USER="bench",
    )
    for key in ("IMAGEAR_C2PA_CERT", "IMAGEAR_C2PA_KEY", "IMAGEAR_SERVER_URL"):
        os.environ.pop(key, None)
    from imagear.app import App

    return App.load()


def generate(app: object, oid: int) -> tuple[float, object]:
    from imagear.animate import AnimateRequest, Animator

    with Animator(app) as animator:  # type: ignore[arg-type]
        start = time.perf_counter()
        out = animator.animate(
            AnimateRequest(oid, model="kenburns", overrides=dict(KB), force=True)
        )
    return time.perf_counter() - start, out


def sign_cost(out: object, master: Path, work: Path) -> float:
    """What the sign stage and the commit's hook do, timed."""
    from imagear.config import load_config
    from imagear.media import probe_mp4
    from imagear.provenance.identity import load_identity
    from imagear.provenance.manifest import ClipFacts, MasterFacts
    from imagear.provenance.sign import sign_file, sign_in_place

    identity = load_identity(load_config())
    clip, poster, preview = out.file, out.poster, out.preview  # type: ignore[attr-defined]
    copies = [work / "poster.jpg", work / "preview.webp"]
    shutil.copyfile(poster, copies[0])
    shutil.copyfile(preview, copies[1])
    start = time.perf_counter()
    facts = ClipFacts(
        model="kenburns",
        generative=False,
        seed=1,
        frames=125,
        fps=25,
        motion="ken_burns_diagonal",
        width=1280,
        height=720,
        master=MasterFacts.of(master),
    )
    sign_file(identity, facts, clip, work / "signed.mp4", title="bench.mp4")
    for path in copies:
        sign_in_place(identity, facts, path, title=path.name)
    probe_mp4(work / "signed.mp4")
    return time.perf_counter() - start


CHILD = """
import sys, time
from pathlib import Path
from imagear.config import load_config
from imagear.provenance.identity import load_identity
from imagear.provenance.manifest import ClipFacts
from imagear.provenance.sign import sign_file
def hwm():  # peak RSS of this process, MB (VmHWM: reset at exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
identity = load_identity(load_config())
before = hwm()
start = time.perf_counter()
sign_file(identity, ClipFacts(model="kenburns", generative=False, seed=1),
          Path(sys.argv[1]), Path(sys.argv[2]), title="big.mp4")
secs = time.perf_counter() - start
print(before, hwm(), f"{secs:.2f}")
"""


def big_clip(clip: Path, mb: int, work: Path) -> None:
    """Sign an ``mb``-MB clip in a child process; print its peak RSS before and after."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("memory: skipped (no ffmpeg)")
        return
    loops = max(1, int(mb * 1024 * 1024 / clip.stat().st_size))
    big = work / "big.mp4"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-stream_loop", str(loops), "-i", str(clip)]
        + ["-c", "copy", str(big)],
        check=True,
    )
    size = big.stat().st_size / 1e6
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(big), str(work / "big-signed.mp4")],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    ).stdout.split()
    print(
        f"memory: signing a {size:.0f} MB clip: peak RSS {out[0]} MB before, {out[1]} MB "
        f"after ({out[2]} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as tmp:
        root = Path(tmp)
        app = setup(root)
        from imagear import records, settings

        master = master_jpeg(root / "master.jpg")
        oid = records.add_record(app, master).id  # type: ignore[arg-type]
        work = root / "work"
        work.mkdir()
        unsigned, signing, signed = [], [], []
        for _ in range(args.repeat):
            settings.set_value(app.engine, "ar_provenance", "0")  # type: ignore[attr-defined]
            secs, out = generate(app, oid)
            unsigned.append(secs)
            signing.append(sign_cost(out, master, work))
            settings.set_value(app.engine, "ar_provenance", "1")  # type: ignore[attr-defined]
            secs, last = generate(app, oid)
            signed.append(secs)
        base, cost = min(unsigned), min(signing)
        print(f"Ken Burns generation, 1280x720, 125 frames, 24 MP master: {base:.3f} s (best)")
        print(f"signing (master hash, clip, poster, preview, probe):     {cost * 1000:.1f} ms")
        print(f"signed generation, end to end:                           {min(signed):.3f} s")
        print(f"ratio signing / generation: {cost / base * 100:.2f} % (target < 5 %)")
        if args.big_mb:
            big_clip(last.file, args.big_mb, work)  # type: ignore[attr-defined]
        app.close()  # type: ignore[attr-defined]
    print(f"done {dt.datetime.now(dt.UTC):%H:%M:%S} UTC")


if __name__ == "__main__":
    main()
