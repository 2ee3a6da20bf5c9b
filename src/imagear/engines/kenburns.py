"""The Ken Burns engine: a slow, sub-pixel-smooth zoom or pan over a still image, no AI needed.

It renders the motions of Heratio's earlier ffmpeg ``zoompan`` renderer (zoom_in, zoom_out,
pan_lr, pan_rl, ken_burns_diagonal; final zoom 1.05..2.0) without its whole-pixel jitter:

1. the view ("camera") of every frame is a float rectangle of the output's aspect ratio inside
   the image (:mod:`imagear.engines.camera`);
2. the part of the source that any view touches is scaled once (Lanczos) to a working
   resolution at which the tightest view is a little larger than the output;
3. every frame is resampled from its float rectangle (Pillow's ``resize(box=...)``, a separable
   bilinear filter that also antialiases when it shrinks) and streamed to
   :func:`imagear.media.write_mp4`. The engine resamples Y, U and V planes prepared once from
   the working image, so frames go to the encoder as yuv420p without a per-frame conversion,
   rendered by a few threads (:func:`render_parallel`), in order, a few frames ahead of the
   encoder (x264 frame threads, preset :data:`PRESET`).
"""

from __future__ import annotations

import collections
import functools
import math
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from imagear.engines.base import EngineConfig, GenerationResult
from imagear.engines.camera import (
    DEFAULT_MOTION,
    DEFAULT_ZOOM,
    MAX_ZOOM,
    MIN_ZOOM,
    MOTIONS,
    Rect,
    camera_path,
)
from imagear.errors import GenerationFailed, ImagearError, InvalidOption

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = [
    "DEFAULT_MOTION",
    "DEFAULT_ZOOM",
    "MOTIONS",
    "KenBurnsEngine",
    "Rect",
    "RenderedFrames",
    "camera_path",
    "render_frames",
    "render_parallel",
    "render_threads",
]

DEFAULT_NUM_FRAMES = 125  # 5 s at 25 fps, as Heratio's zoompan renderer
DEFAULT_FPS = 25
DEFAULT_SIZE = (1280, 720)
CRF = 23
PRESET = "superfast"
"""libx264's CRF and preset. Against ffmpeg's zoompan recipe (CRF 18, preset medium) on the
sample, 1280x720, 125 frames: SSIM against a 4x supersampled render of each clip's own motion
0.969 vs 0.966 (no zoompan jitter to pay bits for), in fewer bytes (0.93 MB vs 1.16 MB with
:data:`X264_PARAMS`), at under a third of the recipe's CPU (bench/bench_kenburns.py). At CRF 18
this preset gave SSIM 0.983 for 3.9 MB; ultrafast (no deblocking, no CABAC) falls below
medium's quality."""
X264_PARAMS = "sync-lookahead=0:b-adapt=0:bframes=4:scenecut=0"
"""libx264 options on top of the preset.

- ``b-adapt=0:bframes=4``: four B-frames between P-frames, always. A camera move is smooth, so
  x264's per-frame decision (``b-adapt=1``, up to 3) chose B-frames nearly everywhere anyway;
  fixing the pattern drops that analysis and B-frames are the cheapest frames to code. On the
  five motions over two images (1280x720, 125 frames; SSIM against a supersampled render, as
  bench/bench_kenburns.py measures it): 16-25 % less encoder CPU and 12-31 % fewer bytes; SSIM
  equal or up to 0.0018 higher for the zooms and the diagonal, 0.0007-0.0018 lower for the pans
  (which shrink most, 27-31 %).
- ``scenecut=0``: a camera move over one still has no scene cut to look for; another 7-15 % of
  the encoder's CPU, the same bytes within 0.03 % and the same SSIM.
- ``sync-lookahead=0``: no threaded lookahead buffer. At this preset (no rc-lookahead, no
  macroblock tree) x264's lookahead thread only held frames ahead of the encoder threads, about
  12 MB at 1280x720, for the same bytes (bit-identical clips) at the same speed
  (docs/performance.md, "Server memory")."""
MAX_RENDER_THREADS = 4
"""At most this many threads render frames (:func:`render_threads`)."""
WORK_MARGIN = 1.1
"""A large source is pre-shrunk so that the tightest view has this many pixels per output pixel."""
_NEAR_ONE = 0.02


def _working_image(
    image: Image.Image, rects: Sequence[Rect], out_w: int
) -> tuple[Image.Image, list[Rect]]:
    """Crop the source to what the views touch and, when it has more pixels than needed, shrink
    it once (Lanczos) so that the tightest view is :data:`WORK_MARGIN` times the output width.

    Frames are then mild bilinear reductions (or, from a small source, interpolations), never an
    exact 1:1 copy: at exactly 1:1 every pixel of a pan shares one sub-pixel phase and sharpness
    would pulse from frame to frame. Returns the working image and the views in its coordinates.
    """
    left = max(0, math.floor(min(r[0] for r in rects)) - 2)
    top = max(0, math.floor(min(r[1] for r in rects)) - 2)
    right = min(image.width, math.ceil(max(r[2] for r in rects)) + 2)
    bottom = min(image.height, math.ceil(max(r[3] for r in rects)) + 2)
    region_w, region_h = right - left, bottom - top
    ratio = min(r[2] - r[0] for r in rects) / out_w  # source pixels per output pixel, at most
    if ratio > WORK_MARGIN:
        factor = WORK_MARGIN / ratio
    elif abs(ratio - 1.0) < _NEAR_ONE:
        factor = WORK_MARGIN / ratio  # a tiny upscale moves the pan off the 1:1 phase lock
    else:
        factor = 1.0
    size = (max(1, round(region_w * factor)), max(1, round(region_h * factor)))
    region = (left, top, right, bottom)
    if size == (region_w, region_h):
        work = image.crop(region)
        work.load()
    else:
        work = image.resize(size, Image.Resampling.LANCZOS, box=region, reducing_gap=3.0)
    fx, fy = size[0] / region_w, size[1] / region_h
    moved = [
        (
            min(max((r[0] - left) * fx, 0.0), work.width),
            min(max((r[1] - top) * fy, 0.0), work.height),
            min(max((r[2] - left) * fx, 0.0), work.width),
            min(max((r[3] - top) * fy, 0.0), work.height),
        )
        for r in rects
    ]
    return work, moved


def _prepared(
    image: Image.Image,
    size: tuple[int, int],
    num_frames: int,
    motion: str,
    zoom: float,
    loop: bool,
) -> tuple[Image.Image, list[Rect]]:
    """The working image of a camera move over ``image`` and every frame's view in it."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rects = camera_path(rgb.size, size, num_frames, motion, zoom, loop)
    return _working_image(rgb, rects, size[0])


def render_frames(
    image: Image.Image,
    *,
    width: int,
    height: int,
    num_frames: int,
    motion: str = DEFAULT_MOTION,
    zoom: float = DEFAULT_ZOOM,
    loop: bool = False,
    pixel_format: str = "rgb24",
) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` frames of the camera move, one at a time.

    ``pixel_format="rgb24"``: ``height x width x 3`` uint8 RGB arrays. ``"yuv420p"``: planar
    I420 arrays of ``height * 3 / 2`` rows of ``width`` (Y, then U, then V; BT.601 limited
    range, what :func:`imagear.media.write_mp4` takes without a conversion), rendered directly
    from Y/U/V working planes, which halves the resampling work; width and height must be even.
    Only the working copy of the source is kept in memory: this generator lets go of ``image``
    once it has it (freed then when the caller holds no other reference).
    """
    work, views = _prepared(image, (width, height), num_frames, motion, zoom, loop)
    del image
    if pixel_format == "rgb24":
        bilinear = Image.Resampling.BILINEAR
        for box in views:
            yield np.asarray(work.resize((width, height), bilinear, box=box, reducing_gap=None))
        return
    if pixel_format != "yuv420p":
        raise ValueError(f"pixel_format must be 'rgb24' or 'yuv420p', not {pixel_format!r}")
    planes = _Planes(work, width, height)
    del work
    for box in views:
        yield planes.frame(box)


class _Planes:
    """Y, U and V planes of the working image, from which any view renders as one planar
    yuv420p frame (:meth:`frame`; Pillow releases the GIL while it resamples, so several
    threads may render frames at once)."""

    def __init__(self, work: Image.Image, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p frames need an even size, not {width}x{height}")
        self.luma, self.cb, self.cr = _yuv_planes(work)
        self.sx, self.sy = self.cb.width / work.width, self.cb.height / work.height
        self.size, self.half = (width, height), (width // 2, height // 2)
        self.n_luma, self.n_chroma = width * height, self.half[0] * self.half[1]

    def frame(self, box: Rect) -> np.ndarray:
        bilinear = Image.Resampling.BILINEAR
        cbox = (box[0] * self.sx, box[1] * self.sy, box[2] * self.sx, box[3] * self.sy)
        n_luma, n_chroma = self.n_luma, self.n_chroma
        out = np.empty(n_luma + 2 * n_chroma, np.uint8)
        out[:n_luma] = np.asarray(
            self.luma.resize(self.size, bilinear, box=box, reducing_gap=None)
        ).ravel()
        out[n_luma : n_luma + n_chroma] = np.asarray(
            self.cb.resize(self.half, bilinear, box=cbox, reducing_gap=None)
        ).ravel()
        out[n_luma + n_chroma :] = np.asarray(
            self.cr.resize(self.half, bilinear, box=cbox, reducing_gap=None)
        ).ravel()
        return out.reshape(self.size[1] * 3 // 2, self.size[0])


def render_parallel(
    image: Image.Image,
    *,
    width: int,
    height: int,
    num_frames: int,
    motion: str = DEFAULT_MOTION,
    zoom: float = DEFAULT_ZOOM,
    loop: bool = False,
    threads: int = 2,
    depth: int = 4,
) -> RenderedFrames:
    """The yuv420p frames of :func:`render_frames`, the same and in order, rendered by
    ``threads`` threads at most ``depth`` frames ahead of the consumer (the encoder): on two
    cores shared with x264 the render no longer waits on one thread (bench/bench_kenburns.py).

    The working planes are made at once, on one of those threads, while the caller gets its
    encoder ready (PyAV's first import alone is 40 ms, which held the GIL while a core idled);
    an error in them, or in a frame's render, is raised where the first frame, or that frame,
    is taken. Close the frames when done (:meth:`RenderedFrames.close`, also when none was
    taken): it cancels the frames not started and waits for those running."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="kenburns-render")
    try:
        move = functools.partial(_prepared, image, (width, height), num_frames, motion, zoom, loop)
        planes = pool.submit(_planes_of, move, (width, height))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    del image  # held by the planes' work until they are made
    return RenderedFrames(pool, planes, max(1, depth))


def _planes_of(
    prepared: Callable[[], tuple[Image.Image, list[Rect]]], size: tuple[int, int]
) -> tuple[_Planes, list[Rect]]:
    """The working planes of the move ``prepared`` gives (:func:`_prepared`), and its views."""
    work, views = prepared()
    return _Planes(work, *size), views


class RenderedFrames:
    """The frames of :func:`render_parallel`: an iterator of yuv420p arrays, closed when done."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        planes: Future[tuple[_Planes, list[Rect]]],
        depth: int,
    ) -> None:
        self._pool = pool
        self._planes: Future[tuple[_Planes, list[Rect]]] | None = planes
        self._depth = depth
        self._frames = self._run()

    def __iter__(self) -> RenderedFrames:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._frames)

    def _run(self) -> Generator[np.ndarray, None, None]:
        assert self._planes is not None
        ahead: collections.deque[Future[np.ndarray]] = collections.deque()
        try:
            planes, views = self._planes.result()
            self._planes = None  # the working copy is the planes' own from here
            for box in views:
                ahead.append(self._pool.submit(planes.frame, box))
                if len(ahead) > self._depth:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for pending in ahead:
                pending.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Stop: the frames not started are cancelled, those running are waited for (the
        working planes too, when no frame was taken)."""
        self._frames.close()
        if self._planes is not None:
            self._planes.cancel()
            self._planes = None
        self._pool.shutdown(wait=True, cancel_futures=True)


# BT.601, limited ("TV") range: the matrix swscale uses for rgb24 -> yuv420p by default
_RGB_TO_YUV = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float32,
) / np.float32(255.0)
_YUV_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float32)


_CHUNK_PIXELS = 1 << 18
"""Pixels converted to Y/U/V at a time: the float32 working arrays of a whole 24 MP source
would take about 1 GB (four copies of 288 MB); in chunks of rows they take a few MB."""


def _yuv_planes(work: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Y at full resolution and Cb, Cr at half resolution (box-averaged), as 8-bit images."""
    rgb = np.asarray(work)
    height, width = rgb.shape[:2]
    planes = np.empty((3, height, width), np.uint8)
    rows = max(1, _CHUNK_PIXELS // max(1, width))
    for top in range(0, height, rows):
        yuv = rgb[top : top + rows].astype(np.float32) @ _RGB_TO_YUV.T + _YUV_OFFSET
        np.rint(yuv, out=yuv)
        np.clip(yuv, 0, 255, out=yuv)
        planes[:, top : top + rows] = yuv.transpose(2, 0, 1)  # whole numbers in 0..255
    half = ((work.width + 1) // 2, (work.height + 1) // 2)
    luma = Image.fromarray(planes[0])
    cb = Image.fromarray(planes[1]).resize(half, Image.Resampling.BOX)
    cr = Image.fromarray(planes[2]).resize(half, Image.Resampling.BOX)
    return luma, cb, cr


T = TypeVar("T")


def _then(frames: Iterable[T], done: Callable[[], None]) -> Iterator[T]:
    """``frames``, then ``done()`` once the last is taken (not when they stop early)."""
    yield from frames
    done()


def render_threads() -> int:
    """Threads rendering frames: as many as the CPUs, at most :data:`MAX_RENDER_THREADS` (x264
    takes the rest; one thread renders about 60 frames of 1280x720 a second on a 2 GHz core)."""
    return max(1, min(MAX_RENDER_THREADS, os.cpu_count() or 1))


def _even(value: int) -> int:
    return max(2, int(value) // 2 * 2)


def _opt(options: object, name: str, default: T) -> T:
    """``options.name``, or ``default`` when the attribute is missing or None."""
    value: T | None = getattr(options, name, None)
    return default if value is None else value


class KenBurnsEngine:
    """The ``kenburns`` engine: no model, no GPU, a few seconds on a CPU."""

    name = "kenburns"
    crf: int = CRF
    preset: str = PRESET
    x264_params: str = X264_PARAMS

    def __init__(self, descriptor: object = None, config: EngineConfig | None = None) -> None:
        self.descriptor = descriptor
        self.config = config if config is not None else EngineConfig()

    def generate(self, image: Image.Image, options: object, out_path: Path) -> GenerationResult:
        """Render the camera move described by ``options`` over ``image`` into ``out_path``.

        Reads ``num_frames``, ``fps``, ``width``, ``height``, ``motion``, ``zoom`` (clamped to
        1.05..2.0), ``loop`` and ``seed`` from ``options``; missing ones take Heratio's defaults
        (125 frames, 25 fps, 1280x720, zoom_in, 1.30). Odd sizes are rounded down to even.
        """
        from imagear.media import write_mp4
        from imagear.media.scan import FrameScanner

        started = time.perf_counter()
        num_frames = int(_opt(options, "num_frames", DEFAULT_NUM_FRAMES))
        fps = int(_opt(options, "fps", DEFAULT_FPS))
        width = _even(_opt(options, "width", DEFAULT_SIZE[0]))
        height = _even(_opt(options, "height", DEFAULT_SIZE[1]))
        motion = str(_opt(options, "motion", DEFAULT_MOTION))
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(_opt(options, "zoom", DEFAULT_ZOOM))))
        loop = bool(_opt(options, "loop", False))
        seed = int(_opt(options, "seed", 0))
        if num_frames < 1:
            raise InvalidOption(f"num_frames must be at least 1 (got {num_frames}).")
        if fps < 1:
            raise InvalidOption(f"fps must be at least 1 (got {fps}).")
        if motion not in MOTIONS:
            raise InvalidOption(
                f"Unknown Ken Burns motion {motion!r}.", advice=f"Use one of: {', '.join(MOTIONS)}."
            )
        scanner = FrameScanner(fps)  # the quality gate's measurements, poster and preview
        # the render makes its working planes while write_mp4 opens the encoder
        frames = render_parallel(
            image,
            width=width,
            height=height,
            num_frames=num_frames,
            motion=motion,
            zoom=zoom,
            loop=loop,
            threads=render_threads(),
        )
        del image  # the renderer lets go of it once it has its working copy
        try:
            written = write_mp4(
                _then(frames, scanner.ahead),  # the preview encodes while x264 finishes
                fps,
                Path(out_path),
                width,
                height,
                crf=self.crf,
                preset=self.preset,
                tap=scanner.add,
                x264_params=self.x264_params,
            )
        except ImagearError:
            raise
        except (OSError, ValueError, MemoryError) as exc:
            raise GenerationFailed(f"The Ken Burns engine failed: {exc}") from exc
        finally:
            frames.close()  # stops the render threads at once, even after an error
        return GenerationResult(
            model=self.name,
            seed=seed,
            num_frames=written,
            fps=fps,
            generation_secs=round(time.perf_counter() - started, 2),
            prompt=None,
            motion=motion,
            extra={"zoom": zoom, "loop": loop, "width": width, "height": height},
            scan=scanner.result(),
        )

    def loaded(self) -> bool:
        """Always True: there is nothing to load."""
        return True

    def close(self) -> None:
        """Nothing to release."""
