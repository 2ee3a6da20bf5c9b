"""The quality gate's cost, against what it guards, measured in the same run.

The gate (imagear.quality) decodes every frame of a new clip (the luma plane on a ~96-sample
grid, loop filter and chroma skipped), runs the checks, and searches the framings of the master
image for the first frame. Two baselines:

1. a Ken Burns generation of the same clip: Heratio's default shape (1280x720, 125 frames at
   25 fps, zoom_in to 1.30) of the sample image, by the in-process engine, as
   ``imagear animate --model kenburns`` runs it (prepare the image, render, encode), at the
   engine's libx264 preset and at ``--baseline-preset`` (medium: the engine's preset when the
   gate was specified). The gate timed here includes making the reference from the prepared
   image. Target: at most 5% of the generation (judged at the engine's preset). The gate's
   cost is decoding the clip, which grows with its bitrate, while a faster preset spends less
   time and more bits: see the two rows, and the floor row (PyAV decoding every frame and
   measuring nothing), below which no gate that decodes every frame can go. Also printed: the
   gate with the poster and preview
   kept and written (one decode), i.e. all that an accepted clip costs on top of generating;
2. a 500 MB clip download: the fake server (tests/fake_server.py, in its own process) answers
   a real SVD-XT-shaped clip (1024x576, 25 frames at 7 fps, of the uploaded image) padded by a
   trailing ``free`` box to ``--mb`` MB, downloaded by imagear's VideoClient to a file; then
   the gate judges that file (the demuxer skips the padding, so its cost is the frames').

Each figure is the best of ``--repeat`` interleaved runs, wall clock and CPU seconds of this
process (the fake server's CPU is not counted). On a shared machine the CPU figures are the
steadier ones.

    PYTHONPATH=src python bench/bench_quality.py [--repeat 3] [--mb 500]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from imagear import quality  # noqa: E402
from imagear.engines.base import EngineConfig  # noqa: E402
from imagear.media import prepare_image, sample_image_path  # noqa: E402
from imagear.media.preview import write_poster, write_preview  # noqa: E402
from imagear.media.reference import reference_of  # noqa: E402
from imagear.media.scan import PreviewSpec  # noqa: E402
from imagear.models import get_model  # noqa: E402

MB = 1_000_000


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def best(runs: list[tuple[float, float, Any]]) -> tuple[float, float]:
    return min(r[0] for r in runs), min(r[1] for r in runs)


def kenburns(out: Path, preset: str | None) -> Any:
    """One Ken Burns generation of the default clip at ``preset`` (None: the engine's);
    returns (options, prepared image)."""
    desc = get_model("kenburns")
    engine = desc.create_engine(EngineConfig())
    if preset is not None:
        engine.preset = preset  # type: ignore[attr-defined]
    options = desc.Options(
        width=1280, height=720, num_frames=125, fps=25, motion="zoom_in", zoom=1.3, seed=1
    )
    image = prepare_image(sample_image_path(), (1664, 1040))  # what upload_box asks for
    engine.generate(image, options, out)
    return options, image


def gate(path: Path, expected: quality.Expected, image: Any, keep: bool = False) -> Any:
    """The gate as Animator runs it (with ``keep``: plus writing the poster and preview)."""
    verdict = quality.inspect(
        path,
        expected=expected,
        reference=reference_of(image),
        takes_image=True,
        thresholds=quality.Thresholds(),
        preview=PreviewSpec() if keep else None,
    )
    assert verdict.ok, verdict.summary()
    if keep:
        write_poster(verdict.scan, path.with_suffix(".jpg"))
        write_preview(verdict.scan, path.with_suffix(".webp"))
    return verdict


def bare_decode(path: Path) -> int:
    """The floor under any gate that decodes every frame: PyAV decoding the clip, one thread,
    nothing measured."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return sum(1 for _ in container.decode(stream))


def start_server(mb: int) -> tuple[subprocess.Popen[str], str]:
    """The fake server in its own process, padding every clip to ``mb`` MB."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "fake_server.py"),
            f"body_size={mb * MB}",
            f"chunk_size={1 << 20}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake server did not start: {url!r}")
    return proc, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mb", type=int, default=500, help="size of the downloaded clip, MB")
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--baseline-preset", default="medium", help="a second libx264 preset")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))

    # 1. Ken Burns generation vs the gate on its clip, at the engine's preset and the baseline
    from imagear.engines.kenburns import PRESET

    ratios: dict[str, float] = {}
    floors: dict[str, float] = {}
    for preset in dict.fromkeys([PRESET, args.baseline_preset]):
        clip = work / f"kenburns-{preset}.mp4"
        gen_runs, gate_runs, keep_runs, floor_runs = [], [], [], []
        for _ in range(args.repeat):
            gen_runs.append(timed(lambda: kenburns(clip, preset)))  # noqa: B023
            floor_runs.append(timed(lambda: bare_decode(clip)))  # noqa: B023
            options, image = gen_runs[-1][2]
            expected = quality.Expected.from_options(options)
            gate_runs.append(timed(lambda: gate(clip, expected, image)))  # noqa: B023
            keep_runs.append(timed(lambda: gate(clip, expected, image, keep=True)))  # noqa: B023
        verdict = gate_runs[-1][2]
        gen_wall, gen_cpu = best(gen_runs)
        gate_wall, gate_cpu = best(gate_runs)
        keep_wall, keep_cpu = best(keep_runs)
        floor_wall, floor_cpu = best(floor_runs)
        ratios[preset] = gate_cpu / gen_cpu
        floors[preset] = floor_cpu / gen_cpu
        print(
            f"Ken Burns 1280x720, 125 frames at 25 fps (sample image), libx264 preset {preset} "
            f"({clip.stat().st_size / MB:.1f} MB), best of {args.repeat}; gate measured: "
            f"{verdict.measured}"
        )
        print(f"{'':38}{'wall s':>9}{'CPU s':>9}{'wall %':>9}{'CPU %':>8}")
        print(f"{'generation (prepare, render, encode)':38}{gen_wall:>9.3f}{gen_cpu:>9.3f}")
        for label, wall, cpu in (
            ("bare decode of every frame (floor)", floor_wall, floor_cpu),
            ("quality gate", gate_wall, gate_cpu),
            ("gate + poster + preview", keep_wall, keep_cpu),
        ):
            print(
                f"{label:38}{wall:>9.3f}{cpu:>9.3f}{100 * wall / gen_wall:>8.1f}%"
                f"{100 * cpu / gen_cpu:>7.1f}%"
            )
        print()

    # 2. a large clip download vs the gate on the downloaded file
    from PIL import Image

    from imagear.client import VideoClient

    prepared = prepare_image(sample_image_path(), (1024, 640))
    buf = io.BytesIO()
    prepared.convert("RGB").save(buf, "JPEG", quality=90)
    payload = buf.getvalue()
    fields = {"model": "svd-xt", "num_frames": 25, "fps": 7, "width": 1024, "height": 576}
    expected = quality.Expected(25, 1024, 576, 7)
    reference_image = Image.open(io.BytesIO(payload))
    proc, url = start_server(args.mb)
    down_runs, big_gate_runs = [], []
    try:
        with VideoClient(url, timeout=600) as client:
            target = work / "big.mp4"
            for _ in range(args.repeat):
                down_runs.append(
                    timed(lambda: client.animate(payload, fields, target, filename="sample.jpg"))
                )
                size = target.stat().st_size
                big_gate_runs.append(timed(lambda: gate(target, expected, reference_image)))
                target.unlink()
    finally:
        proc.terminate()
        proc.wait(10)
    down_wall, down_cpu = best(down_runs)
    big_wall, big_cpu = best(big_gate_runs)
    print(
        f"A {size / MB:.0f} MB clip (1024x576, 25 frames at 7 fps, padded) from the fake "
        f"server over loopback, best of {args.repeat}"
    )
    print(f"{'':38}{'wall s':>9}{'CPU s':>9}{'wall %':>9}{'CPU %':>8}")
    print(f"{'download (VideoClient.animate)':38}{down_wall:>9.3f}{down_cpu:>9.3f}")
    print(
        f"{'quality gate':38}{big_wall:>9.3f}{big_cpu:>9.3f}{100 * big_wall / down_wall:>8.1f}%"
        f"{100 * big_cpu / max(down_cpu, 1e-9):>7.1f}%"
    )

    ratio = ratios[PRESET]
    verdict_text = "met" if ratio <= args.target else "MISSED"
    others = ", ".join(f"{100 * r:.1f}% at {p}" for p, r in ratios.items() if p != PRESET)
    print(
        f"\ngate / Ken Burns generation (CPU): {100 * ratio:.1f}% at the engine's preset {PRESET} "
        f"(target <= {100 * args.target:.0f}%: {verdict_text}){'; ' + others if others else ''}; "
        f"gate / {size / MB:.0f} MB download: {100 * big_wall / down_wall:.1f}% wall"
    )
    print(
        f"decoding alone (no gate) costs {100 * floors[PRESET]:.1f}% of a generation at {PRESET}: "
        f"a gate that decodes every frame cannot cost less; the gate is "
        f"{ratio / floors[PRESET]:.2f}x that floor"
    )
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
