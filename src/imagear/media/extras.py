"""The measurements of a clip, carried with it from the imagear server that made it.

An engine measures every frame as it hands it to the encoder (:class:`imagear.media.scan.
FrameScanner`), so the server that ran it holds what the quality gate judges, and the poster
and preview frames, without decoding anything. Sent with the clip, they spare the client its
one decode of the clip (about half of a client's CPU per record: ``bench/bench_client.py``).

- The client asks with the request header :data:`HEADER` (``X-Imagear-Extras: 1``); Heratio's
  servers ignore it, imagear's servers before this one too, and either way the client decodes
  the clip as it always did.
- The server appends one top-level ``uuid`` box (imagear's :data:`BOX_UUID`) after the clip's
  last box: :func:`append`. Players skip such boxes; nothing before it moves, so a server's
  Content Credentials stay valid once it is taken off.
- The client takes it off before anything else reads the clip (:func:`take`): the file is cut
  back to the server's bytes exactly, and the measurements are used only when they describe
  those bytes (their size and SHA-256); anything else (no box, a malformed one, another clip's)
  leaves the client to decode the clip.

- A client that sent the master's own file (no decode of its own: ``imagear.generators``) also
  asks with :data:`REFERENCE` (``X-Imagear-Reference: 1``): the box then carries the quality
  gate's small grey reference of the image as the server decoded it, and the SHA-256 of the
  upload it was made from. The client believes it only when that hash is the hash of the bytes
  it sent (an answer made from another request's image is not believed); else it decodes the
  master for its reference, as before.

The box's payload: a 4-byte big-endian length, a JSON header of that many bytes, then the
sections the header names in order: the first frame's small grey pixels, the poster (JPEG), the
preview (MP4), and, when asked, the reference's grey pixels. Bounds: :data:`MAX_BOX` bytes in
all, :data:`MAX_HEADER` for the JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from imagear.wire import EXTRAS_HEADER, REFERENCE_HEADER

if TYPE_CHECKING:
    from imagear.media.reference import Reference
    from imagear.media.scan import ClipScan

__all__ = ["BOX_UUID", "HEADER", "MAX_BOX", "REFERENCE", "Sent", "append", "pack", "take"]

HEADER = EXTRAS_HEADER
"""Request header (value ``1``) asking an imagear server to send its measurements."""
REFERENCE = REFERENCE_HEADER
"""Request header (value ``1``) asking for the gate's reference of the upload as well."""
BOX_UUID = bytes.fromhex("6d2b0f1c4a8e4f7b9c3d2e1a5b6c7d8e")
"""The ``uuid`` box's user type: imagear's extras, version 1."""
VERSION = 1
MAX_BOX = 16 * 1024 * 1024
MAX_HEADER = 1024 * 1024
_STATS = ("means", "stds", "from_first", "from_previous")
_HASH_CHUNK = 1 << 20


def _sha256(fh: BinaryIO, length: int) -> str:
    digest = hashlib.sha256()
    fh.seek(0)
    left = length
    while left > 0:
        chunk = fh.read(min(_HASH_CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Sent:
    """What an extras box carried: the clip's measurements and, when asked, the gate's
    reference of the upload with the SHA-256 of the upload it was made from."""

    scan: ClipScan
    reference: Reference | None = None
    upload_sha256: str | None = None

    def reference_for(self, upload_sha256: str) -> Reference | None:
        """The reference, when it was made from the upload with that hash (else None)."""
        return self.reference if self.upload_sha256 == upload_sha256 else None


def pack(
    scan: ClipScan,
    clip_size: int,
    clip_sha256: str,
    poster: bytes,
    preview: bytes,
    reference: tuple[Reference, str] | None = None,
) -> bytes:
    """The extras box for ``scan`` of a clip of ``clip_size`` bytes with that SHA-256;
    ``reference``: the gate's reference of the upload and the upload's SHA-256."""
    first = b""
    first_shape: list[int] = []
    if scan.first is not None:
        small = np.clip(np.rint(scan.first), 0, 255).astype(np.uint8)
        first, first_shape = small.tobytes(), [int(small.shape[0]), int(small.shape[1])]
    header: dict[str, object] = {
        "version": VERSION,
        "clip_bytes": clip_size,
        "clip_sha256": clip_sha256,
        "frames": scan.frames,
        "width": scan.width,
        "height": scan.height,
        "fps": scan.fps,
        "codec": scan.codec,
        "declared_frames": scan.declared_frames,
        "duration_secs": scan.duration_secs,
        "preview_fps": scan.preview_fps,
        **{name: [round(float(v), 4) for v in getattr(scan, name)] for name in _STATS},
        "first": first_shape,
    }
    sections = [first, poster, preview]
    if reference is not None:
        ref, upload_sha256 = reference
        pixels = np.clip(np.rint(ref.pixels), 0, 255).astype(np.uint8)
        header["reference"] = [int(pixels.shape[0]), int(pixels.shape[1])]
        header["upload_sha256"] = upload_sha256
        sections.append(pixels.tobytes())
    header["sections"] = [len(part) for part in sections]
    body = json.dumps(header, separators=(",", ":")).encode()
    payload = BOX_UUID + len(body).to_bytes(4, "big") + body + b"".join(sections)
    return (8 + len(payload)).to_bytes(4, "big") + b"uuid" + payload


def append(path: Path, scan: ClipScan, reference: tuple[Reference, str] | None = None) -> int:
    """Append the extras box for ``scan`` (poster and preview made from its frames) to the clip
    at ``path``, with ``reference`` (the gate's reference of the upload and the upload's
    SHA-256) when given; returns the box's size. MediaError when the poster or preview cannot be
    made."""
    from imagear.media.preview import write_poster, write_preview

    size = path.stat().st_size
    with path.open("rb") as fh:
        digest = _sha256(fh, size)
    poster = io.BytesIO()
    write_poster(scan, poster)
    fd, name = tempfile.mkstemp(suffix=".m4v", dir=path.parent)
    os.close(fd)
    try:
        write_preview(scan, name)
        preview = Path(name).read_bytes()
    finally:
        Path(name).unlink(missing_ok=True)
    box = pack(scan, size, digest, poster.getvalue(), preview, reference)
    with path.open("r+b") as fh:
        try:
            fh.seek(size)
            fh.write(box)
            fh.flush()
        except OSError:
            fh.truncate(size)  # the clip as it was: a box cut short would spoil it
            raise
    return len(box)


def _last_box(fh: BinaryIO, size: int) -> tuple[int, int] | None:
    """(offset, size) of the file's last top-level box, or None when the boxes do not add up
    (the clip's own check then says what is wrong)."""
    pos, last = 0, None
    while pos < size:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            return None
        box = int.from_bytes(head[:4], "big")
        if box == 1 and len(head) == 16:
            box = int.from_bytes(head[8:16], "big")
        elif box == 0:
            box = size - pos
        if box < 8 or pos + box > size:
            return None
        last, pos = (pos, box), pos + box
    return last


def _floats(values: object, count: int) -> np.ndarray | None:
    if not isinstance(values, list) or len(values) != count:
        return None
    if not all(_number(v) is not None for v in values):  # every statistic is 0 or more
        return None
    return np.asarray(values, dtype=np.float32)


def _number(value: object) -> float | None:
    """A finite, non-negative number from the header, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _count(value: object) -> int | None:
    """A positive whole number from the header, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _scan_of(header: dict[str, object], sections: list[bytes]) -> ClipScan | None:
    """The ClipScan a well-formed header describes, or None."""
    from imagear.media.scan import ClipScan

    frames, width, height = (_count(header.get(k)) for k in ("frames", "width", "height"))
    fps, duration, preview_fps = (
        _number(header.get(k)) for k in ("fps", "duration_secs", "preview_fps")
    )
    if frames is None or width is None or height is None:
        return None
    if fps is None or duration is None or preview_fps is None:
        return None
    means, stds, from_first, from_previous = (_floats(header.get(name), frames) for name in _STATS)
    if means is None or stds is None or from_first is None or from_previous is None:
        return None
    first_px, poster, preview = sections[:3]
    if not poster.startswith(b"\xff\xd8\xff") or preview[4:8] != b"ftyp":
        return None  # the client makes none of its own without the frames: decode then
    first = None
    if first_px:
        shape = header.get("first")
        if not isinstance(shape, list) or len(shape) != 2:
            return None
        rows, cols = _count(shape[0]), _count(shape[1])
        if rows is None or cols is None or rows * cols != len(first_px):
            return None
        first = np.frombuffer(first_px, np.uint8).reshape(rows, cols).astype(np.float32)
    declared = header.get("declared_frames")
    return ClipScan(
        frames=frames,
        width=width,
        height=height,
        fps=fps,
        means=means,
        stds=stds,
        from_first=from_first,
        from_previous=from_previous,
        first=first,
        decode_secs=0.0,
        preview_fps=preview_fps,
        codec=str(header.get("codec") or "h264"),
        declared_frames=_count(declared) or 0,
        duration_secs=duration,
        poster_jpeg=poster,
        preview_mp4=preview,
    )


def _read(fh: BinaryIO, start: int, box: int) -> tuple[dict[str, object], list[bytes]] | None:
    """The header and sections of the extras box at ``start``, or None when malformed."""
    fh.seek(start)
    raw = fh.read(box)
    head = 16 if int.from_bytes(raw[:4], "big") == 1 else 8
    payload = raw[head + len(BOX_UUID) :]
    if len(payload) < 4:
        return None
    length = int.from_bytes(payload[:4], "big")
    if length > min(MAX_HEADER, len(payload) - 4):
        return None
    try:
        header = json.loads(payload[4 : 4 + length])
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
        return None
    sizes = header.get("sections") if isinstance(header, dict) else None
    if not (isinstance(sizes, list) and len(sizes) in (3, 4)):
        return None
    if not all(isinstance(s, int) and s >= 0 for s in sizes):
        return None
    rest = payload[4 + length :]
    if sum(sizes) != len(rest):
        return None
    parts, start = [], 0
    for size in sizes:
        parts.append(rest[start : start + size])
        start += size
    return header, parts


def _reference_of(header: dict[str, object], sections: list[bytes]) -> Reference | None:
    """The reference the header and its fourth section describe, or None (also one larger than
    this client would make: :data:`~imagear.media.reference.REFERENCE_SIDE` on its long side,
    which every comparison of the gate then resamples)."""
    from imagear.media.reference import REFERENCE_SIDE, reference_from

    shape = header.get("reference")
    if len(sections) < 4 or not isinstance(shape, list) or len(shape) != 2:
        return None
    rows, cols = _count(shape[0]), _count(shape[1])
    if rows is None or cols is None or rows * cols != len(sections[3]):
        return None
    if max(rows, cols) > REFERENCE_SIDE:
        return None
    return reference_from(np.frombuffer(sections[3], np.uint8).reshape(rows, cols))


def take(path: Path) -> Sent | None:
    """Take the extras box off the end of the clip at ``path`` (the file is cut back to the
    server's clip) and return what it carries when its measurements are this clip's; None when
    there is no box, or it is malformed or describes other bytes (the clip is decoded then). A
    malformed reference is left out (the client then makes its own)."""
    try:
        return _take(path)
    except OSError:
        return None  # the clip's own check says what is wrong with the file


def _take(path: Path) -> Sent | None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        last = _last_box(fh, size)
        if last is None:
            return None
        start, box = last
        fh.seek(start)
        head = fh.read(8)
        fh.seek(start + (16 if int.from_bytes(head[:4], "big") == 1 else 8))
        if start == 0 or head[4:8] != b"uuid" or fh.read(16) != BOX_UUID:
            return None
        read = _read(fh, start, box) if box <= MAX_BOX else None
        fh.truncate(start)
        if read is None:
            return None
        header, sections = read
        if header.get("version") != VERSION or header.get("clip_bytes") != start:
            return None
        if header.get("clip_sha256") != _sha256(fh, start):
            return None
    scan = _scan_of(header, sections)
    if scan is None:
        return None
    upload = header.get("upload_sha256")
    reference = _reference_of(header, sections)
    if reference is None or not isinstance(upload, str):
        return Sent(scan)
    return Sent(scan, reference, upload)
