"""Ken Burns clip: imagear's engine against ffmpeg's zoompan recipe, measured in the same run.

Both render the same clip from the same image: 1280x720, 5 s at 25 fps (125 frames), zoom_in to
1.30, H.264 yuv420p with the same encoder settings (libx264, the engine's CRF and preset,
+faststart), so the difference is the renderer.

The ffmpeg baseline is the mainstream zoompan recipe (the one Heratio's non-AI renderer used):
the still is looped, cover-scaled to 8000x4500 first (upscaling to ~8000 px wide is the common
cure for zoompan's whole-pixel jitter, see e.g. the ffmpeg-user list and StackOverflow answers),
then ``zoompan=z='min(zoom+0.0024,1.3)':d=125:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'``
(+0.0024 per frame reaches 1.30 at frame 125). ``--upscale 0`` runs it without the upscale.

Two numbers per side: "end to end" (decode the JPEG, render, encode, write the MP4) and
"render only" (imagear: yuv420p frames produced in memory, as the engine feeds the encoder;
ffmpeg: the same filter graph into ``-f null``). Each is the best of ``--repeat`` interleaved runs, so a busy machine hurts both alike.
Prints frames per second (wall clock) and CPU seconds, and the ratios imagear/ffmpeg (above 1:
imagear is faster). On a shared machine the CPU figures are the steadier ones.

    PYTHONPATH=src python bench/bench_kenburns.py [--repeat 3] [--image PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from imagear.engines.base import EngineConfig
from imagear.engines.kenburns import CRF, PRESET, KenBurnsEngine, render_frames
from imagear.media import prepare_image, probe_mp4, sample_image_path

ROOT = Path(__file__).resolve().parents[1]


def ffmpeg_command(
    ffmpeg: str,
    image: Path,
    out: str,
    *,
    width: int,
    height: int,
    frames: int,
    fps: int,
    zoom: float,
    upscale: int,
    preset: str = PRESET,
    crf: int = CRF,
) -> list[str]:
    """The zoompan recipe as an argument list; ``out`` of ``-`` means render only (-f null)."""
    step = (zoom - 1.0) / frames
    if upscale:
        big_w = upscale
        big_h = round(upscale * height / width / 2) * 2
    else:
        big_w, big_h = width, height
    graph = (
        f"scale={big_w}:{big_h}:force_original_aspect_ratio=increase,crop={big_w}:{big_h},"
        f"zoompan=z='min(zoom+{step:.6f},{zoom})':d={frames}"
        f":x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={width}x{height}:fps={fps}"
    )
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i", str(image)]
    cmd += ["-vf", graph, "-frames:v", str(frames)]
    if out == "-":
        return [*cmd, "-f", "null", "-"]
    encode = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    return [*cmd, *encode, "-movflags", "+faststart", out]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children) of one call."""
    cpu_before = os.times()
    started = time.perf_counter()
    fn()
    wall = time.perf_counter() - started
    cpu_after = os.times()
    cpu = sum(
        getattr(cpu_after, f) - getattr(cpu_before, f)
        for f in ("user", "system", "children_user", "children_system")
    )
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--image", type=Path, default=None, help="default: the shipped sample")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--zoom", type=float, default=1.30)
    parser.add_argument("--upscale", type=int, default=8000, help="zoompan pre-scale width")
    parser.add_argument("--preset", default=PRESET, help="libx264 preset for both sides")
    parser.add_argument("--crf", type=int, default=CRF, help="libx264 CRF for both sides")
    parser.add_argument("--repeat", type=int, default=1, help="best of N interleaved runs")
    parser.add_argument("--out-dir", type=Path, default=ROOT / ".bench")
    args = parser.parse_args(argv)

    image_path = args.image or sample_image_path()
    frames = round(args.seconds * args.fps)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    ours_mp4 = args.out_dir / "kenburns_imagear.mp4"
    theirs_mp4 = args.out_dir / "kenburns_ffmpeg.mp4"
    options = SimpleNamespace(
        num_frames=frames,
        fps=args.fps,
        width=args.width,
        height=args.height,
        motion="zoom_in",
        zoom=args.zoom,
        loop=False,
        seed=1,
    )
    engine = KenBurnsEngine(None, EngineConfig())
    engine.preset, engine.crf = args.preset, args.crf

    def ours_full() -> None:
        engine.generate(prepare_image(image_path), options, ours_mp4)

    def ours_render() -> None:
        img = prepare_image(image_path)
        for _ in render_frames(
            img,
            width=args.width,
            height=args.height,
            num_frames=frames,
            zoom=args.zoom,
            pixel_format="yuv420p",  # what the engine hands the encoder (zoompan works in YUV too)
        ):
            pass

    ffmpeg = shutil.which("ffmpeg")

    def theirs(out: str) -> Callable[[], object]:
        assert ffmpeg is not None
        cmd = ffmpeg_command(
            ffmpeg,
            image_path,
            out,
            width=args.width,
            height=args.height,
            frames=frames,
            fps=args.fps,
            zoom=args.zoom,
            upscale=args.upscale,
            preset=args.preset,
            crf=args.crf,
        )
        return lambda: subprocess.run(cmd, check=True)

    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for _ in range(max(1, args.repeat)):
        runs: list[tuple[str, Callable[[], object]]] = [
            ("imagear end to end", ours_full),
            ("imagear render only", ours_render),
        ]
        if ffmpeg:
            runs += [
                ("ffmpeg end to end", theirs(str(theirs_mp4))),
                ("ffmpeg render only", theirs("-")),
            ]
        for label, fn in runs:
            secs, cpu = timed(fn)
            best[label] = min(secs, best.get(label, secs))
            best_cpu[label] = min(cpu, best_cpu.get(label, cpu))

    info = probe_mp4(ours_mp4)
    print(
        f"image: {image_path}  clip: {args.width}x{args.height}, {frames} frames at {args.fps} fps"
    )
    print(f"encoder (both): libx264 preset={args.preset} crf={args.crf} yuv420p +faststart")
    print(f"imagear clip: {info.frames} frames, {info.width}x{info.height}, {info.size_bytes} B")
    print(f"best of {max(1, args.repeat)} runs; CPU = user + system, ffmpeg's child included")
    for label, secs in best.items():
        print(
            f"{label:<22} {secs:7.2f} s wall {frames / secs:7.1f} frames/s"
            f"   {best_cpu[label]:7.2f} s CPU"
        )
    if not ffmpeg:
        print(
            "ffmpeg was not found on PATH: no baseline (install it, e.g. apt-get install ffmpeg)."
        )
        return 0
    recipe = f"zoompan on a {args.upscale}-px-wide upscale" if args.upscale else "plain zoompan"
    print(f"ffmpeg recipe: {recipe}")
    for kind in ("end to end", "render only"):
        ratio = best[f"ffmpeg {kind}"] / best[f"imagear {kind}"]
        cpu_ratio = best_cpu[f"ffmpeg {kind}"] / best_cpu[f"imagear {kind}"]
        print(
            f"ratio imagear/ffmpeg ({kind}): {ratio:.2f}x frames/s (wall), "
            f"{cpu_ratio:.2f}x frames per CPU-second"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
