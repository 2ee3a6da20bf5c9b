"""Poster frames and previews: the still and the small moving picture shown before a clip plays.

Both are made from what :func:`imagear.media.scan.scan_clip` kept while the quality gate decoded
the clip (``preview=PreviewSpec()``), or from what an in-process engine's frames gave
(:class:`imagear.media.scan.FrameScanner`), so the clip is decoded at most once:

- the poster: the first frame at the clip's full size, a plain baseline JPEG (for ``<video
  poster=...>``; progressive and optimised Huffman tables cost 4x the CPU for 6 % fewer bytes);
- the preview: a small muted H.264 MP4 (no audio track, ``+faststart``) about
  :attr:`PreviewSpec.width` pixels wide, at most :attr:`PreviewSpec.max_fps` frames per second
  (frames are dropped evenly to get there), that the console plays looped on hover in a
  ``<video muted loop playsinline>``. It costs a quarter of the CPU of the animated WebP earlier
  versions wrote, at a tenth of its bytes (``bench/bench_client.py``); the WebP previews already
  stored are still served.

They are written beside the clip with its stem (``svd_photo_123456.jpg`` /
``.m4v``): see :mod:`imagear.clips`. Failures become
:class:`~imagear.errors.MediaError`.

An in-process engine's preview is encoded ahead
(:class:`~imagear.media.preview_encoder.PreviewAhead`), on a thread of its own
as soon as the engine's last frame is in, while the clip's own encoder finishes and the clip is
checked and signed; :func:`write_preview` then writes its bytes (a Ken Burns clip: 26 ms off
the end of ``imagear animate``, where one core idled).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from imagear.errors import MediaError
from imagear.media.preview_encoder import PREVIEW_CRF, PREVIEW_PRESET, encode

if TYPE_CHECKING:
    from imagear.media.scan import ClipScan

__all__ = [
    "POSTER_QUALITY",
    "PREVIEW_CRF",
    "PREVIEW_PRESET",
    "write_poster",
    "write_preview",
]

POSTER_QUALITY = 85


def write_poster(scan: ClipScan, path: str | Path | BinaryIO) -> None:
    """Write the first frame kept by the scan as a JPEG at ``path`` (the server's own poster
    when the scan came with the clip: :mod:`imagear.media.extras`)."""
    if scan.poster_jpeg is not None and isinstance(path, str | Path):
        _write_bytes(path, scan.poster_jpeg, "poster frame")
        return
    if scan.poster is None:
        raise MediaError("No poster frame was kept while scanning the clip.")
    try:
        scan.poster.convert("RGB").save(path, format="JPEG", quality=POSTER_QUALITY)
    except (OSError, ValueError) as exc:
        raise MediaError(f"Could not write the poster frame {path}: {exc}") from exc


def write_preview(scan: ClipScan, path: str | Path) -> None:
    """Write the frames kept by the scan as a small muted H.264 MP4 at ``path`` (the server's
    own preview when the scan came with the clip: :mod:`imagear.media.extras`)."""
    if scan.preview_mp4 is not None:
        _write_bytes(path, scan.preview_mp4, "preview")
        return
    if scan.preview_ahead is not None:
        _write_bytes(path, scan.preview_ahead.result(), "preview")
        return
    if not scan.preview:
        raise MediaError("No preview frames were kept while scanning the clip.")
    try:
        encode(scan.preview, scan.preview_fps, path)
    except MediaError as err:
        raise MediaError(f"Could not write the preview {path}: {err.message}") from err


def _write_bytes(path: str | Path, data: bytes, what: str) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise MediaError(f"Could not write the {what} {path}: {exc}") from exc
