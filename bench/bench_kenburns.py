"""Ken Burns clip: imagear's engine against ffmpeg's zoompan recipe, measured in the same run.

Both render the same clip from the same image: 1280x720, 5 s at 25 fps (125 frames), zoom_in to
1.30, H.264 yuv420p, +faststart: the recipe at its CRF 18 (``--ffmpeg-crf``), imagear at its
engine's CRF and preset (``--crf``, ``--preset``).

The product path (what the target is judged on): ``imagear animate --model kenburns`` run as a
command (a new process: Python start, imports, the database, the master prepared, the clip
rendered and encoded, the quality gate, poster and preview, the clip stored and recorded),
against the recipe's whole ``ffmpeg`` process, in the same run. It must be >= ``--target``
(3x) faster in wall time, at an SSIM no lower than the recipe's and a file no larger; the bench
prints all three and exits 1 below target. On a shared machine the CPU-seconds ratio is the
steadier one and is printed too.

The ffmpeg baseline is the mainstream zoompan recipe (the one Heratio's non-AI renderer used),
encoded as that recipe does (libx264 preset medium): the still is looped, cover-scaled to
8000x4500 first (upscaling to ~8000 px wide is the common cure for zoompan's whole-pixel
jitter, see e.g. the ffmpeg-user list and StackOverflow answers), then
``zoompan=z='min(zoom+0.0024,1.3)':d=125:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'``
(+0.0024 per frame reaches 1.30 at frame 125). ``--upscale 0`` runs it without the upscale.

imagear runs at its engine's settings (``--preset``, default the engine's: render and encode
overlapped, x264 frame threads, the fastest preset that keeps quality) and, for the quality
baseline, as it did before at preset medium.

Two timings per side: "end to end" (decode the JPEG, render, encode, write the MP4) and
"render only" (imagear: yuv420p frames produced in memory, as the engine feeds the encoder;
ffmpeg: the same filter graph into ``-f null``). Each is the best of ``--repeat`` interleaved
runs, so a busy machine hurts both alike. Prints frames per second (wall clock) and CPU seconds,
and the ratios imagear/ffmpeg (above 1: imagear is faster; target >= 3 end to end).

Quality: every ``--ssim-every``-th frame of each clip is compared (SSIM of the luma plane, 7x7
windows as scikit-image computes it) with a reference render of the same motion: each frame
rendered 4x supersampled (Lanczos from the source over the exact, sub-pixel view of that frame,
then averaged 4x4 down to the output size). For zoompan the reference follows the motion its
expressions ask for (zoom 1 + 0.0024 (i+1), centred), without its whole-pixel rounding.
imagear's SSIM at its preset must not fall below what it reaches at preset medium.

    PYTHONPATH=src python bench/bench_kenburns.py [--repeat 3] [--image PATH] [--preset P]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from installed import as_installed, warm
from PIL import Image

from imagear.engines.base import EngineConfig
from imagear.engines.kenburns import (
    CRF,
    PRESET,
    X264_PARAMS,
    KenBurnsEngine,
    camera_path,
    render_frames,
)
from imagear.media import prepare_image, probe_mp4, sample_image_path

ROOT = Path(__file__).resolve().parents[1]
FFMPEG_PRESET = "medium"  # the recipe's encoder settings (libx264's default preset)
BEFORE_PRESET = "medium"  # what the engine used before: the quality floor
Rect = tuple[float, float, float, float]


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
    preset: str = FFMPEG_PRESET,
    crf: int = CRF,
) -> list[str]:
    """The zoompan recipe as an argument list; ``out`` of ``-`` means render only (-f null)."""
    step = (zoom - 1.0) / frames
    big_w, big_h = _big_size(width, height, upscale)
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


def _big_size(width: int, height: int, upscale: int) -> tuple[int, int]:
    if not upscale:
        return width, height
    return upscale, round(upscale * height / width / 2) * 2


def zoompan_views(
    src_size: tuple[int, int],
    width: int,
    height: int,
    frames: int,
    zoom: float,
    upscale: int,
) -> list[Rect]:
    """The views (in source pixels) that the zoompan recipe's expressions ask for, exactly:
    frame i at zoom ``min(1 + step (i+1), zoom)`` centred in the cover-scaled, cropped still
    (zoompan itself then rounds x and y down to even whole pixels and the width to a whole one)."""
    big_w, big_h = _big_size(width, height, upscale)
    scale = max(big_w / src_size[0], big_h / src_size[1])
    off_x = (round(src_size[0] * scale) - big_w) / 2.0
    off_y = (round(src_size[1] * scale) - big_h) / 2.0
    step = float(f"{(zoom - 1.0) / frames:.6f}")
    views = []
    for i in range(frames):
        z = min(1.0 + step * (i + 1), zoom)
        view_w, view_h = big_w / z, big_h / z
        x, y = big_w / 2 - view_w / 2, big_h / 2 - view_h / 2
        views.append(
            (
                (x + off_x) / scale,
                (y + off_y) / scale,
                (x + off_x + view_w) / scale,
                (y + off_y + view_h) / scale,
            )
        )
    return views


# -- quality: SSIM against a 4x supersampled reference ------------------------------------------


def luma(rgb: Image.Image) -> np.ndarray:
    """BT.601 limited-range luma (what both encoders store), float."""
    a = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (a[..., 0] * 65.481 + a[..., 1] * 128.553 + a[..., 2] * 24.966) / 255.0


def reference_luma(src: Image.Image, view: Rect, width: int, height: int, k: int = 4) -> np.ndarray:
    """One frame rendered ``k`` x ``k`` supersampled (Lanczos over the exact view) and averaged
    down to the output size."""
    big = src.resize((width * k, height * k), Image.Resampling.LANCZOS, box=view)
    return luma(big.reduce(k))


def _window_mean(a: np.ndarray, r: int) -> np.ndarray:
    c = np.pad(np.cumsum(np.cumsum(a, 0), 1), ((1, 0), (1, 0)))
    k = 2 * r + 1
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def ssim(x: np.ndarray, y: np.ndarray, r: int = 3) -> float:
    """Mean SSIM of two grey images (0..255), uniform 7x7 windows, sample covariances."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n = (2 * r + 1) ** 2
    cov = n / (n - 1)
    mx, my = _window_mean(x, r), _window_mean(y, r)
    vx = cov * (_window_mean(x * x, r) - mx * mx)
    vy = cov * (_window_mean(y * y, r) - my * my)
    vxy = cov * (_window_mean(x * y, r) - mx * my)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    num = (2 * mx * my + c1) * (2 * vxy + c2)
    return float((num / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean())


def clip_lumas(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """The luma planes of the frames ``indices`` of an MP4."""
    import av

    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                plane = frame.planes[0]
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                out[i] = rows[:, : frame.width].copy()
    return out


def clip_ssim(path: Path, refs: dict[int, np.ndarray]) -> float:
    got = clip_lumas(path, set(refs))
    return float(np.mean([ssim(got[i], refs[i]) for i in refs]))


def references(
    src: Image.Image, views: Sequence[Rect], every: int, width: int, height: int
) -> dict[int, np.ndarray]:
    return {i: reference_luma(src, views[i], width, height) for i in range(0, len(views), every)}


# -- timing -------------------------------------------------------------------------------------


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
    parser.add_argument("--preset", default=PRESET, help="imagear's libx264 preset")
    parser.add_argument("--ffmpeg-preset", default=FFMPEG_PRESET, help="the recipe's preset")
    parser.add_argument("--crf", type=int, default=CRF, help="imagear's libx264 CRF")
    parser.add_argument("--ffmpeg-crf", type=int, default=18, help="the recipe's libx264 CRF")
    parser.add_argument("--repeat", type=int, default=1, help="best of N interleaved runs")
    parser.add_argument("--ssim-every", type=int, default=5, help="compare every Nth frame")
    parser.add_argument("--target", type=float, default=3.0, help="end-to-end ratio asked")
    parser.add_argument("--out-dir", type=Path, default=ROOT / ".bench")
    args = parser.parse_args(argv)

    image_path = args.image or sample_image_path()
    frames = round(args.seconds * args.fps)
    width, height = args.width, args.height
    args.out_dir.mkdir(parents=True, exist_ok=True)
    ours_mp4 = args.out_dir / "kenburns_imagear.mp4"
    before_mp4 = args.out_dir / f"kenburns_imagear_{BEFORE_PRESET}.mp4"
    theirs_mp4 = args.out_dir / "kenburns_ffmpeg.mp4"
    options = SimpleNamespace(
        num_frames=frames,
        fps=args.fps,
        width=width,
        height=height,
        motion="zoom_in",
        zoom=args.zoom,
        loop=False,
        seed=1,
    )

    def engine(preset: str, x264_params: str | None = None) -> KenBurnsEngine:
        made = KenBurnsEngine(None, EngineConfig())
        made.preset, made.crf = preset, args.crf
        if x264_params is not None:
            made.x264_params = x264_params
        return made

    # the quality floor as the engine was before: preset medium, x264's own B-frame choice
    ours, before = engine(args.preset), engine(BEFORE_PRESET, "")

    def ours_full() -> None:
        ours.generate(prepare_image(image_path), options, ours_mp4)

    def before_full() -> None:
        before.generate(prepare_image(image_path), options, before_mp4)

    def ours_render() -> None:
        img = prepare_image(image_path)
        for _ in render_frames(
            img,
            width=width,
            height=height,
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
            width=width,
            height=height,
            frames=frames,
            fps=args.fps,
            zoom=args.zoom,
            upscale=args.upscale,
            preset=args.ffmpeg_preset,
            crf=args.ffmpeg_crf,
        )
        return lambda: subprocess.run(cmd, check=True)

    product = ProductPath(args.out_dir / "product", image_path, args, frames)

    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for _ in range(max(1, args.repeat)):
        runs: list[tuple[str, Callable[[], object]]] = [
            ("imagear product path", product.run),
            ("imagear end to end", ours_full),
            ("imagear render only", ours_render),
            (f"imagear at {BEFORE_PRESET}", before_full),
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
    print(f"image: {image_path}  clip: {width}x{height}, {frames} frames at {args.fps} fps")
    print(
        f"encoders: imagear libx264 preset={args.preset} crf={args.crf} {X264_PARAMS}"
        f" (at medium: x264's own B-frames), ffmpeg recipe preset="
        f"{args.ffmpeg_preset} crf={args.ffmpeg_crf}; yuv420p +faststart"
    )
    print(f"imagear clip: {info.frames} frames, {info.width}x{info.height}, {info.size_bytes} B")
    print(
        f"best of {max(1, args.repeat)} interleaved runs; CPU = user + system, ffmpeg's child "
        f"included; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    for label, secs in best.items():
        print(
            f"{label:<22} {secs:7.2f} s wall {frames / secs:7.1f} frames/s"
            f"   {best_cpu[label]:7.2f} s CPU"
        )

    # quality: each clip against a 4x supersampled render of its own motion
    src = prepare_image(image_path)
    every = max(1, args.ssim_every)
    ours_views = camera_path(src.size, (width, height), frames, "zoom_in", args.zoom)
    ours_refs = references(src, ours_views, every, width, height)
    ssim_ours = clip_ssim(ours_mp4, ours_refs)
    ssim_before = clip_ssim(before_mp4, ours_refs)
    sizes = {p: p.stat().st_size for p in (ours_mp4, before_mp4)}
    print(f"SSIM (luma) against a 4x supersampled reference, every {every}th frame:")
    print(f"  imagear at {args.preset:<10} {ssim_ours:.4f}   ({sizes[ours_mp4]:,} B)")
    print(f"  imagear at {BEFORE_PRESET:<10} {ssim_before:.4f}   ({sizes[before_mp4]:,} B)")
    if ffmpeg:
        theirs_views = zoompan_views(src.size, width, height, frames, args.zoom, args.upscale)
        theirs_refs = references(src, theirs_views, every, width, height)
        ssim_theirs = clip_ssim(theirs_mp4, theirs_refs)
        print(
            f"  ffmpeg zoompan at {args.ffmpeg_preset:<4} {ssim_theirs:.4f}   "
            f"({theirs_mp4.stat().st_size:,} B)"
        )
    stored = product.clip()
    product_src = prepare_image(image_path, product.box)
    product_views = camera_path(product_src.size, (width, height), frames, "zoom_in", args.zoom)
    ssim_product = clip_ssim(stored, references(product_src, product_views, every, width, height))
    print(f"  imagear product path {ssim_product:.4f}   ({stored.stat().st_size:,} B)")
    quality_ok = ssim_ours >= ssim_before
    print(
        f"quality: imagear at {args.preset} {'keeps' if quality_ok else 'FALLS BELOW'} its "
        f"SSIM at {BEFORE_PRESET} ({ssim_ours:.4f} vs {ssim_before:.4f})"
    )
    before_ratio = best[f"imagear at {BEFORE_PRESET}"] / best["imagear end to end"]
    print(f"imagear at {args.preset} vs at {BEFORE_PRESET}: {before_ratio:.2f}x (wall)")
    if not ffmpeg:
        print(
            "ffmpeg was not found on PATH: no baseline (install it, e.g. apt-get install ffmpeg)."
        )
        return 0 if quality_ok else 1
    recipe = f"zoompan on a {args.upscale}-px-wide upscale" if args.upscale else "plain zoompan"
    print(f"ffmpeg recipe: {recipe}")
    for kind in ("end to end", "render only"):
        wall_ratio = best[f"ffmpeg {kind}"] / best[f"imagear {kind}"]
        cpu_ratio = best_cpu[f"ffmpeg {kind}"] / best_cpu[f"imagear {kind}"]
        print(
            f"ratio imagear engine/ffmpeg ({kind}): {wall_ratio:.2f}x frames/s (wall), "
            f"{cpu_ratio:.2f}x frames per CPU-second"
        )
    ratio = best["ffmpeg end to end"] / best["imagear product path"]
    cpu_ratio = best_cpu["ffmpeg end to end"] / best_cpu["imagear product path"]
    theirs_bytes, ours_bytes = theirs_mp4.stat().st_size, stored.stat().st_size
    print(
        f"product path (imagear animate --model kenburns, a new process) vs the recipe: "
        f"{ratio:.2f}x wall, {cpu_ratio:.2f}x CPU; SSIM {ssim_product:.4f} vs {ssim_theirs:.4f}; "
        f"{ours_bytes:,} B vs {theirs_bytes:,} B ({theirs_bytes / ours_bytes:.2f}x fewer)"
    )
    ok = ratio >= args.target and ssim_product >= ssim_theirs and ours_bytes <= theirs_bytes
    print("OK" if ok else f"BELOW TARGET (product path >= {args.target:g}x, SSIM and bytes kept)")
    return 0 if ok else 1


class ProductPath:
    """``imagear animate --model kenburns`` as a command, on a database of its own in ``work``
    (the record added once, untimed); each :meth:`run` replaces the clip (``--force``)."""

    def __init__(self, work: Path, image: Path, args: argparse.Namespace, frames: int) -> None:
        from imagear.generators import upload_box

        shutil.rmtree(work, ignore_errors=True)
        (work / "images").mkdir(parents=True)
        self.work = work
        self.env = as_installed(os.environ, work / "pyc")  # byte code cached, as installed
        self.env.update(
            IMAGEAR_DATABASE_URL=f"sqlite:///{work / 'bench_kenburns.db'}",
            IMAGEAR_STORAGE_ROOT=str(work / "storage"),
            IMAGEAR_IMAGES_ROOT=str(work / "images"),
            IMAGEAR_SERVER_URL="in-process",
            IMAGEAR_USER="bench",
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
            ),
        )
        added = self._imagear("records", "add", str(image), "--json")
        self.object_id = int(json.loads(added.stdout)["id"])
        self.args = [
            "animate", "--object-id", str(self.object_id), "--model", "kenburns", "--force",
            "--frames", str(frames), "--fps", str(args.fps), "--width", str(args.width),
            "--height", str(args.height), "-o", "motion=zoom_in", "-o", f"zoom={args.zoom}",
            "--seed", "1", "--json",
        ]  # fmt: skip
        warm([sys.executable, "-m", "imagear", *self.args], self.env)  # untimed: compiles
        options = SimpleNamespace(width=args.width, height=args.height, zoom=args.zoom)
        with Image.open(image) as img:
            self.box = upload_box(options, img.size)  # type: ignore[arg-type]
        self.last: dict[str, object] = {}

    def _imagear(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "imagear", *argv]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"imagear {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done

    def run(self) -> None:
        self.last = json.loads(self._imagear(*self.args).stdout)

    def clip(self) -> Path:
        return Path(str(self.last["file"]))


if __name__ == "__main__":
    sys.exit(main())
