"""Every frame of a clip, decoded once and cheaply: the measurements the quality gate judges.

:func:`scan_clip` decodes every frame of an MP4 with PyAV and reads only the luma plane of
each, sampled on a grid about :data:`GRID` pixels on its long side (no colour conversion, no
scaler), and keeps per frame: mean brightness and contrast (standard deviation) in full-range
grey levels (0..255), the mean change from the first frame and from the previous one. The first
frame is also kept area-averaged to about :data:`SMALL` pixels on its long side, for
:func:`~imagear.media.reference.resemblance` against the master image. Without a preview to
keep, the decoder skips its loop filter and chroma (the statistics do not need them), which cuts
the cost by a fifth or so.

With ``preview`` the same pass keeps, in colour, the first frame at full size (the poster) and
frames for a small preview, shrunk by swscale straight to yuv420p, what the preview's H.264
encoder takes (see :mod:`imagear.media.preview`); the loop filter is then skipped only after
the first keyframe, so the poster is exact. The same pass reads what the probe needs (codec,
declared frame count, duration), so a clip is opened and decoded once.

:class:`FrameScanner` makes the same :class:`ClipScan` from frames an in-process engine holds in
memory while it encodes them (no decode at all): the luma of its yuv420p or RGB frames.

The master image's side (its small grey reference, and the first frame's resemblance to it) is
:mod:`imagear.media.reference`.

FFmpeg failures become :class:`~imagear.errors.MediaError`; ``av`` is imported when used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from imagear.errors import MediaError

if TYPE_CHECKING:
    from av.video.frame import VideoFrame

    from imagear.media.preview_encoder import PreviewAhead

__all__ = [
    "GRID",
    "SMALL",
    "ClipScan",
    "FrameScanner",
    "PreviewSpec",
    "scan_clip",
]

GRID = 96
"""Long side, in samples, of the grid each frame's statistics are taken on."""
SMALL = 48
"""Long side, in pixels, of the first frame and the master image when they are compared."""

_LUMA_FORMATS = {
    "yuv420p": False,
    "yuv422p": False,
    "yuv444p": False,
    "nv12": False,
    "nv21": False,
    "yuvj420p": True,
    "yuvj422p": True,
    "yuvj444p": True,
    "gray": True,
}
"""8-bit formats whose plane 0 is luma -> True when that luma is full range (0..255)."""
_AVCOL_RANGE_JPEG = 2
_AVCOL_RANGE_MPEG = 1
_AVCOL_SPC_SMPTE170M = 6
_THREADED_PIXELS = 640 * 360
"""Clips with fewer pixels per frame are decoded in one thread (starting decoder threads would
cost more than they save)."""


@dataclass(frozen=True)
class PreviewSpec:
    """What to keep for a poster and a preview while scanning: frames ``width`` pixels wide,
    at most ``max_fps`` frames per second of clip and at most ``max_frames`` in all."""

    width: int = 320
    max_fps: float = 12.5
    max_frames: int = 120


@dataclass
class ClipScan:
    """What :func:`scan_clip` measured. Per-frame arrays have one value per decoded frame."""

    frames: int
    width: int
    height: int
    fps: float
    means: np.ndarray  # mean grey level, 0..255
    stds: np.ndarray  # standard deviation of the grey levels (contrast)
    from_first: np.ndarray  # mean absolute change from the first frame
    from_previous: np.ndarray  # mean absolute change from the previous frame (0 for the first)
    first: np.ndarray | None  # the first frame, grey, about SMALL px on its long side
    decode_secs: float
    poster: Image.Image | None = None  # the first frame, RGB, full size (with ``preview``)
    # frames of the preview: planar yuv420p (I420) arrays, (height * 3 / 2, width), even sizes
    preview: list[np.ndarray] = field(default_factory=list)
    preview_fps: float = 0.0
    codec: str = "h264"
    declared_frames: int = 0  # the frame count the container declares (0: none)
    duration_secs: float = 0.0
    # made by the imagear server that rendered the clip (media.extras): written as they are
    poster_jpeg: bytes | None = None
    preview_mp4: bytes | None = None
    # the preview being encoded from ``preview`` meanwhile (FrameScanner.ahead)
    preview_ahead: PreviewAhead | None = None

    @property
    def motion(self) -> float:
        """The largest mean change from the first frame, in grey levels (0 when one frame)."""
        return float(self.from_first.max()) if self.frames else 0.0


def _luma(frame: VideoFrame, fmt: str) -> tuple[np.ndarray, bool] | None:
    """The frame's 8-bit luma plane as a (height, width) view, and whether it is full range;
    None for a format without one (10-bit, RGB...)."""
    full = _LUMA_FORMATS.get(fmt)
    if full is None:
        return None
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    full = full or getattr(frame, "color_range", 0) == _AVCOL_RANGE_JPEG
    return rows[: frame.height, : frame.width], full


def _block_mean(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` area-averaged by whole blocks so its long side is about ``side``."""
    h, w = img.shape
    block = max(1, max(h, w) // side)
    hh, ww = (h // block) * block, (w // block) * block
    if block == 1:
        return img.astype(np.float32)
    cut = img[:hh, :ww].astype(np.float32)
    return cut.reshape(hh // block, block, ww // block, block).mean(axis=(1, 3))


class _Stats:
    """Running per-frame statistics on the sampling grid."""

    def __init__(self) -> None:
        self.means: list[float] = []
        self.stds: list[float] = []
        self.from_first: list[float] = []
        self.from_previous: list[float] = []
        self.first_grid: np.ndarray | None = None
        self.previous: np.ndarray | None = None
        self.first_small: np.ndarray | None = None

    def add(self, luma: np.ndarray, full_range: bool) -> None:
        h, w = luma.shape
        step = max(1, math.ceil(max(h, w) / GRID))
        grid = luma[step // 2 :: step, step // 2 :: step].astype(np.float32)
        if not full_range:  # limited ("TV") range: 16..235 -> 0..255
            grid = np.clip((grid - 16.0) * (255.0 / 219.0), 0.0, 255.0)
        self.means.append(float(grid.mean()))
        self.stds.append(float(grid.std()))
        if self.first_grid is None:
            self.first_grid = grid
            self.first_small = _block_mean(luma, SMALL)
            self.from_first.append(0.0)
            self.from_previous.append(0.0)
        else:
            assert self.previous is not None
            if grid.shape != self.first_grid.shape:
                raise MediaError("its frame size changes within the clip")
            self.from_first.append(float(np.abs(grid - self.first_grid).mean()))
            self.from_previous.append(float(np.abs(grid - self.previous).mean()))
        self.previous = grid


class _Shrink:
    """Frames to planar yuv420p arrays at most ``width`` wide (never enlarged; even sizes), one
    swscale context for them all (area averaging)."""

    def __init__(self, width: int) -> None:
        from av.video.reformatter import VideoReformatter

        self.width = width
        self._reformatter = VideoReformatter()

    def __call__(self, frame: VideoFrame) -> np.ndarray:
        w, h = int(frame.width), int(frame.height)
        out_w = max(2, min(w, self.width) // 2 * 2)
        out_h = max(2, round(h * out_w / max(1, w) / 2) * 2)
        small = self._reformatter.reformat(
            frame, width=out_w, height=out_h, format="yuv420p", interpolation="AREA"
        )
        return np.asarray(small.to_ndarray(), dtype=np.uint8)


def _gray_frame(frame: VideoFrame) -> np.ndarray:
    """Luma of a frame in a format without an 8-bit luma plane, via swscale (full range)."""
    h, w = int(frame.height), int(frame.width)
    scale = max(1, max(h, w) // (GRID * 2))
    arr = frame.reformat(width=max(1, w // scale), height=max(1, h // scale), format="gray")
    return np.asarray(arr.to_ndarray(), dtype=np.uint8)


def scan_clip(path: str | Path, *, preview: PreviewSpec | None = None) -> ClipScan:
    """Decode every frame of the MP4 at ``path`` and measure it (see the module docstring).

    Raises :class:`MediaError` when the file cannot be opened, has no video stream, or no
    frame decodes.
    """
    import av

    path = Path(path)
    started = time.perf_counter()
    stats = _Stats()
    poster: Image.Image | None = None
    kept: list[np.ndarray] = []
    every = 1
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise MediaError(f"{path} has no video stream.")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if int(ctx.width or 0) * int(ctx.height or 0) >= _THREADED_PIXELS:
                stream.thread_type = "FRAME"
            else:
                ctx.thread_count = 1
            if preview is None:
                # the statistics need neither the deblocking filter nor the chroma planes
                ctx.options = {"skip_loop_filter": "all", "flags2": "+fast", "flags": "+gray"}
            else:
                # the poster (a keyframe) is decoded exactly; the frames after it without the
                # deblocking filter differ by under 0.1 grey level (PSNR > 45 dB on Ken Burns
                # output), invisible in a preview shrunk to 320 px
                ctx.options = {"skip_loop_filter": "nokey", "flags2": "+fast"}
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            codec = str(ctx.name)
            declared = int(stream.frames or 0)
            duration = _duration(stream, container.duration)
            if preview is not None and fps > preview.max_fps:
                every = math.ceil(fps / preview.max_fps)
            width = height = 0
            shrink = _Shrink(preview.width) if preview is not None else None
            for index, frame in enumerate(container.decode(stream)):
                width, height = int(frame.width), int(frame.height)
                found = _luma(frame, frame.format.name)
                if found is None:
                    stats.add(_gray_frame(frame), True)
                else:
                    stats.add(*found)
                if preview is None or shrink is None:
                    continue
                if poster is None:
                    poster = frame.to_image()
                if index % every == 0 and len(kept) < preview.max_frames:
                    kept.append(shrink(frame))
    except MediaError as err:
        if err.message.startswith(str(path)):
            raise
        raise MediaError(f"{path} could not be decoded: {err.message}.") from err
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise MediaError(f"{path} could not be decoded: {exc}.") from exc
    if not stats.means:
        raise MediaError(f"{path} has no video frame that decodes.")
    return ClipScan(
        frames=len(stats.means),
        width=width,
        height=height,
        fps=round(fps, 3),
        means=np.asarray(stats.means, dtype=np.float32),
        stds=np.asarray(stats.stds, dtype=np.float32),
        from_first=np.asarray(stats.from_first, dtype=np.float32),
        from_previous=np.asarray(stats.from_previous, dtype=np.float32),
        first=stats.first_small,
        decode_secs=time.perf_counter() - started,
        poster=poster,
        preview=kept,
        preview_fps=fps / every if fps else 0.0,
        codec=codec,
        declared_frames=declared,
        duration_secs=duration,
    )


def _duration(stream: object, container_duration: int | None) -> float:
    """The stream's duration in seconds (the container's when the stream has none)."""
    value, base = getattr(stream, "duration", None), getattr(stream, "time_base", None)
    if value is not None and base is not None:
        return float(value * base)
    if container_duration is not None:
        return container_duration / 1_000_000  # AV_TIME_BASE
    return 0.0


class FrameScanner:
    """A :class:`ClipScan` of frames held in memory (an engine's, as it encodes them): give
    each frame to :meth:`add` in order, then :meth:`result`. Frames are what
    :func:`imagear.media.write_mp4` takes: ``HxWx3`` uint8 RGB arrays, PIL images, or planar
    yuv420p arrays (BT.601 limited range). Keeps poster and preview frames as
    :func:`scan_clip` does with ``preview``."""

    def __init__(self, fps: float, preview: PreviewSpec | None = PreviewSpec()) -> None:
        self.fps = float(fps)
        self.preview = preview
        self.every = 1
        if preview is not None and self.fps > preview.max_fps:
            self.every = math.ceil(self.fps / preview.max_fps)
        self._stats = _Stats()
        self._shrink: _Shrink | None = None
        self._poster: Image.Image | None = None
        self._kept: list[np.ndarray] = []
        self._ahead: PreviewAhead | None = None
        self._size = (0, 0)
        self._secs = 0.0

    def add(self, frame: np.ndarray | Image.Image) -> None:
        started = time.perf_counter()
        index = len(self._stats.means)
        arr = np.asarray(frame if not isinstance(frame, Image.Image) else frame.convert("RGB"))
        if arr.ndim == 2:  # planar I420: the luma is the first two thirds of the rows
            height, width = arr.shape[0] * 2 // 3, arr.shape[1]
            self._stats.add(arr[:height], False)
        else:
            height, width = arr.shape[0], arr.shape[1]
            self._stats.add(np.asarray(Image.fromarray(arr, "RGB").convert("L")), True)
        self._size = (width, height)
        if self.preview is not None:
            keep = index % self.every == 0 and len(self._kept) < self.preview.max_frames
            if self._poster is None:
                self._poster = _video_frame(arr).to_image()
            if keep and arr.ndim == 2:
                self._kept.append(_shrink_i420(arr, self.preview.width))
            elif keep:
                if self._shrink is None:
                    self._shrink = _Shrink(self.preview.width)
                self._kept.append(self._shrink(_video_frame(arr)))
        self._secs += time.perf_counter() - started

    def ahead(self) -> None:
        """Every frame is in: start encoding the preview now, on a thread of its own
        (:class:`~imagear.media.preview_encoder.PreviewAhead`), while the caller finishes its clip;
        :func:`~imagear.media.preview.write_preview` writes its bytes. Nothing without a
        preview or a kept frame, or when already started."""
        from imagear.media.preview_encoder import PreviewAhead

        if self.preview is not None and self._kept and self._ahead is None:
            self._ahead = PreviewAhead(self._kept, self.fps / self.every if self.fps else 0.0)

    def result(self) -> ClipScan:
        """What was measured (MediaError when no frame was given)."""
        stats = self._stats
        if not stats.means:
            raise MediaError("no frame was given to scan")
        frames = len(stats.means)
        width, height = self._size
        return ClipScan(
            frames=frames,
            width=width,
            height=height,
            fps=round(self.fps, 3),
            means=np.asarray(stats.means, dtype=np.float32),
            stds=np.asarray(stats.stds, dtype=np.float32),
            from_first=np.asarray(stats.from_first, dtype=np.float32),
            from_previous=np.asarray(stats.from_previous, dtype=np.float32),
            first=stats.first_small,
            decode_secs=self._secs,
            poster=self._poster,
            preview=self._kept,
            preview_fps=self.fps / self.every if self.fps else 0.0,
            declared_frames=frames,
            duration_secs=frames / self.fps if self.fps else 0.0,
            preview_ahead=self._ahead,
        )


def _shrink_i420(arr: np.ndarray, width: int) -> np.ndarray:
    """A planar yuv420p frame shrunk (box averaging, each plane by Pillow) to at most ``width``
    wide, even sizes: what :class:`_Shrink` makes of a decoded frame, without copying the
    frame into FFmpeg first."""
    rows, w = arr.shape
    h = rows * 2 // 3
    out_w = max(2, min(w, width) // 2 * 2)
    out_h = max(2, round(h * out_w / max(1, w) / 2) * 2)
    quarter = (h // 2) * (w // 2)
    chroma = arr[h:].reshape(-1)
    planes = [
        (arr[:h], (out_w, out_h)),
        (chroma[:quarter].reshape(h // 2, w // 2), (out_w // 2, out_h // 2)),
        (chroma[quarter : 2 * quarter].reshape(h // 2, w // 2), (out_w // 2, out_h // 2)),
    ]
    small = [_box(np.ascontiguousarray(plane), size).reshape(-1) for plane, size in planes]
    return np.concatenate(small).reshape(out_h * 3 // 2, out_w)


def _box(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One grey plane area-averaged to ``size``: whole blocks (Pillow's reduce) first, then a
    box resize of what is left (a tenth of the cost of a box resize from the full size)."""
    img = Image.fromarray(plane, "L")
    factor = min(img.width // size[0], img.height // size[1])
    if factor >= 2:
        img = img.reduce(factor)
    if img.size != size:
        img = img.resize(size, Image.Resampling.BOX)
    return np.asarray(img)


def _video_frame(arr: np.ndarray) -> VideoFrame:
    from av import VideoFrame

    fmt = "yuv420p" if arr.ndim == 2 else "rgb24"
    frame = VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt)
    if fmt == "yuv420p":  # as write_mp4 encodes them: BT.601, limited range
        frame.colorspace = _AVCOL_SPC_SMPTE170M
        frame.color_range = _AVCOL_RANGE_MPEG
    return frame
