"""MP4 out: encoding frames to H.264 MP4 (PyAV) and probing a clip from its boxes and first
frame. FFmpeg failures become :class:`~imagear.errors.MediaError`; ``av`` is imported inside the
functions that need it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

from imagear.errors import MediaError

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = ["Mp4Info", "check_boxes", "looks_like_mp4", "probe_mp4", "write_mp4"]

_AVCOL_SPC_SMPTE170M = 6  # FFmpeg's AVColorSpace for the BT.601 (525) matrix
_AVCOL_RANGE_MPEG = 1  # limited ("TV") range


@dataclass(frozen=True)
class Mp4Info:
    """What :func:`probe_mp4` learnt about a clip."""

    duration_secs: float
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    size_bytes: int


def looks_like_mp4(first_bytes: bytes) -> bool:
    """True when the bytes start with an ISO-BMFF ``ftyp`` box (MP4, MOV...): a quick check."""
    if len(first_bytes) < 12 or first_bytes[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(first_bytes[0:4], "big")
    return box_size == 1 or box_size >= 16 or box_size == 0


def write_mp4(
    frames: Iterable[np.ndarray | Image.Image],
    fps: float,
    out_path: str | Path,
    width: int,
    height: int,
    crf: int = 18,
    *,
    preset: str = "medium",
    threads: int = 0,
    tap: Callable[[np.ndarray | Image.Image], None] | None = None,
    x264_params: str = "",
) -> int:
    """Encode frames to an H.264 (libx264, yuv420p, ``+faststart``) MP4; return the count.

    Frames are ``HxWx3`` uint8 RGB arrays, PIL images, or planar yuv420p (I420) uint8 arrays of
    ``height * 3 / 2`` rows of ``width`` (Y, U, V; BT.601 limited range), all ``width`` x
    ``height``. They are encoded as they arrive, so a generator never has all of them in memory. ``width`` and ``height`` must be
    even. FFmpeg failures raise :class:`MediaError` and leave no partial file behind; an error
    raised by the frame iterable itself propagates unchanged (the partial file is removed too).
    ``fps`` may be fractional (12.5). ``threads``: 0 lets x264 pick (frame threads), 1 encodes
    in this thread (small clips). ``tap`` is handed each frame before it is encoded (an
    engine's :class:`~imagear.media.scan.FrameScanner`: the quality gate without a decode).
    ``x264_params``: libx264's own ``key=value:key=value`` options on top of the preset.
    """
    out_path = Path(out_path)
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise MediaError(
            f"Cannot encode a {width}x{height} MP4: "
            "H.264 in yuv420p needs an even width and height."
        )
    if fps <= 0:
        raise MediaError(f"Cannot encode an MP4 at {fps} fps: the frame rate must be positive.")
    writer = _Mp4Writer(out_path, fps, width, height, crf, preset, threads, x264_params)
    count = 0
    try:
        for frame in frames:
            if tap is not None:
                tap(frame)
            writer.write(frame)
            count += 1
        if count == 0:
            raise MediaError(f"Cannot write {out_path}: there were no frames to encode.")
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    return count


class _Mp4Writer:
    """PyAV output container + stream, with every FFmpeg error mapped to MediaError."""

    def __init__(
        self,
        out_path: Path,
        fps: float,
        width: int,
        height: int,
        crf: int,
        preset: str,
        threads: int = 0,
        x264_params: str = "",
    ) -> None:
        import av

        self._av = av
        self.out_path = out_path
        self.width = width
        self.height = height
        self._pts = 0
        self._container: OutputContainer | None = None
        try:
            container = av.open(
                str(out_path), mode="w", format="mp4", options={"movflags": "+faststart"}
            )
            self._container = container
            rate = Fraction(fps).limit_denominator(1001)
            stream: VideoStream = container.add_stream("libx264", rate=rate)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            if threads == 1:
                stream.codec_context.thread_count = 1
            else:
                stream.codec_context.thread_type = "FRAME"
            # rgb24 frames are converted with swscale's default BT.601 limited-range matrix, and
            # yuv420p frames are expected in it: say so, so players do not guess BT.709
            stream.codec_context.colorspace = _AVCOL_SPC_SMPTE170M
            stream.codec_context.color_range = _AVCOL_RANGE_MPEG
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(int(crf)), "preset": preset}
            if x264_params:
                stream.options = {**stream.options, "x264-params": x264_params}
            self._stream = stream
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.abort()
            raise self._error("open", exc) from exc

    def _error(self, what: str, exc: BaseException) -> MediaError:
        return MediaError(f"Could not {what} the MP4 {self.out_path}: {exc}")

    def _to_video_frame(self, frame: np.ndarray | Image.Image) -> VideoFrame:
        if isinstance(frame, Image.Image):
            arr = np.asarray(frame if frame.mode == "RGB" else frame.convert("RGB"))
        else:
            arr = np.asarray(frame)
        if arr.dtype == np.uint8 and arr.ndim == 2:  # planar I420: Y rows, then U, then V
            if arr.shape != (self.height * 3 // 2, self.width):
                raise MediaError(
                    f"Cannot encode a yuv420p frame of shape {arr.shape} into a "
                    f"{self.width}x{self.height} MP4: it must be {self.height * 3 // 2}x"
                    f"{self.width}."
                )
            fmt = "yuv420p"
        elif arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
            if arr.shape[0] != self.height or arr.shape[1] != self.width:
                raise MediaError(
                    f"Cannot encode a {arr.shape[1]}x{arr.shape[0]} frame into a "
                    f"{self.width}x{self.height} MP4."
                )
            fmt = "rgb24"
        else:
            raise MediaError(
                f"Cannot encode a frame of shape {arr.shape} and type {arr.dtype}: frames must "
                "be HxWx3 uint8 RGB or (H*3/2)xW uint8 yuv420p."
            )
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt)
        video_frame.pts = self._pts
        self._pts += 1
        return video_frame

    def write(self, frame: np.ndarray | Image.Image) -> None:
        video_frame = self._to_video_frame(frame)
        try:
            self._mux(self._stream.encode(video_frame))
        except (self._av.FFmpegError, OSError, ValueError) as exc:
            raise self._error("encode a frame of", exc) from exc

    def _mux(self, packets: Iterable[Packet]) -> None:
        assert self._container is not None
        for packet in packets:
            self._container.mux(packet)

    def finish(self) -> None:
        try:
            self._mux(self._stream.encode(None))
            assert self._container is not None
            self._container.close()
            self._container = None
        except (self._av.FFmpegError, OSError, ValueError) as exc:
            raise self._error("finish", exc) from exc

    def abort(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # the file is removed below; a second error says nothing new
                pass
        self.out_path.unlink(missing_ok=True)


_BOX_HEADER = 8
_LARGE_HEADER = 16
_DECODE_PACKETS = 32  # packets fed to the decoder before it is flushed for the first frame


def probe_mp4(path: str | Path) -> Mp4Info:
    """Read the facts of an MP4 clip from its headers, without reading its media data.

    The cost does not grow with the clip: the top-level ISO-BMFF boxes are walked by their
    size/type headers only (a file whose last box runs past the end, or that lacks ``ftyp``,
    ``moov`` or ``mdat``, is refused as truncated or not an MP4), then the container is opened
    with PyAV. The frame count comes from the ``moov`` sample table (packets are counted only
    when it declares none, e.g. a fragmented MP4), duration, fps and size from the stream, and
    the first video frame is decoded so the clip is known to be playable. Raises
    :class:`MediaError` ("... is not a playable MP4: ...") for a missing, empty, truncated or
    otherwise unplayable file.
    """
    path = Path(path)
    size_bytes = check_boxes(path)

    import av

    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise _not_mp4(path, "it has no video stream")
            stream = container.streams.video[0]
            declared = int(stream.frames or 0)
            stream.codec_context.thread_count = 1  # one frame: no decoder threads to start
            packets, decoded = _first_frame(container.demux(stream), stream, count=not declared)
            ctx = stream.codec_context
            width, height, codec = int(ctx.width), int(ctx.height), str(ctx.name)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            duration = _duration(stream, container.duration)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise _not_mp4(path, str(exc)) from exc
    if not decoded:
        raise _not_mp4(path, "no video frame could be decoded")
    frames = declared or packets
    if duration <= 0.0 and fps > 0.0:
        duration = frames / fps
    return Mp4Info(
        duration_secs=round(duration, 3),
        frames=frames,
        width=width,
        height=height,
        fps=round(fps, 3),
        codec=codec,
        size_bytes=size_bytes,
    )


def rewritten(info: Mp4Info, path: str | Path) -> Mp4Info:
    """The facts of a clip rewritten around the same media by a tool that adds boxes to it
    (Content Credentials: the same frames, a new size), from ``info`` of the clip before and
    the top-level boxes of the file now (:func:`check_boxes`: whole, nothing decoded; a
    :func:`probe_mp4` would decode a first frame again, 15-30 ms a clip)."""
    return replace(info, size_bytes=check_boxes(path))


def check_boxes(path: str | Path) -> int:
    """The size in bytes of the MP4 at ``path``, once its top-level boxes are known whole
    (headers only, nothing decoded; MediaError "... is not a playable MP4: ..." when it is
    truncated or lacks ``ftyp``, ``moov`` or ``mdat``). What :func:`probe_mp4` checks first;
    the pipeline then lets the quality gate's one decode read the rest."""
    path = Path(path)
    try:
        size_bytes = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(32)
            if not looks_like_mp4(head):
                raise _not_mp4(path, "it does not start with an MP4 'ftyp' box")
            boxes = _top_level_boxes(fh, size_bytes, path)
    except OSError as exc:
        raise _not_mp4(path, f"cannot read it ({exc})") from exc
    missing = [kind for kind in ("ftyp", "moov", "mdat") if kind not in boxes]
    if missing:
        raise _not_mp4(path, f"it has no '{missing[0]}' box (truncated or not an MP4)")
    return size_bytes


def _top_level_boxes(fh: BinaryIO, size_bytes: int, path: Path) -> set[str]:
    """The types of the top-level boxes, read from their headers alone (``fh`` is seeked).

    Raises MediaError when a header is cut short, a size is impossible, or the last box runs
    past the end of the file (what a truncated download looks like).
    """
    kinds: set[str] = set()
    pos = 0
    while pos < size_bytes:
        fh.seek(pos)
        header = fh.read(_LARGE_HEADER)
        if len(header) < _BOX_HEADER:
            raise _not_mp4(
                path, f"it is truncated ({size_bytes - pos} stray bytes at offset {pos})"
            )
        size = int.from_bytes(header[0:4], "big")
        kind = header[4:8].decode("latin-1")
        header_len = _BOX_HEADER
        if size == 1:  # 64-bit largesize follows the type
            if len(header) < _LARGE_HEADER:
                raise _not_mp4(path, f"it is truncated (the '{kind}' box header is cut short)")
            size = int.from_bytes(header[8:16], "big")
            header_len = _LARGE_HEADER
        elif size == 0:  # the box runs to the end of the file
            size = size_bytes - pos
        if size < header_len:
            raise _not_mp4(path, f"its '{kind}' box at offset {pos} has an impossible size {size}")
        end = pos + size
        if end > size_bytes:
            raise _not_mp4(
                path,
                f"it is truncated (its '{kind}' box needs {end:,} bytes, "
                f"the file has {size_bytes:,})",
            )
        kinds.add(kind)
        pos = end
    return kinds


def _first_frame(
    packets: Iterator[Packet], stream: VideoStream, *, count: bool
) -> tuple[int, bool]:
    """Decode until the first frame comes out (draining the decoder after at most
    ``_DECODE_PACKETS`` packets, so garbage data is not read to the end). With ``count``, go on
    counting the packets with data: only for a clip whose header declares no frame count."""
    ctx = stream.codec_context
    seen = 0
    decoded = drained = False
    for packet in packets:
        if packet.size == 0:  # the demuxer's flush packet
            continue
        seen += 1
        if not decoded:
            decoded = bool(ctx.decode(packet))
            if not decoded and seen >= _DECODE_PACKETS:
                drained = True
                decoded = bool(ctx.decode(None))
                if not decoded:
                    break
        if decoded and not count:
            break
    if not decoded and not drained and seen:
        decoded = bool(ctx.decode(None))
    return seen, decoded


def _duration(stream: VideoStream, container_duration: int | None) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container_duration is not None:
        return container_duration / 1_000_000  # AV_TIME_BASE
    return 0.0


def _not_mp4(path: Path, why: str) -> MediaError:
    return MediaError(f"{path} is not a playable MP4: {why}.")
