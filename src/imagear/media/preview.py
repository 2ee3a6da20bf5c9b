"""Poster frames and previews: the still and the small moving picture shown before a clip plays.

Both are made from what :func:`imagear.media.scan.scan_clip` kept while the quality gate decoded
the clip (``preview=PreviewSpec()``), so the clip is decoded once:

- the poster: the first frame at the clip's full size, a JPEG (for ``<video poster=...>``);
- the preview: an animated, looping WebP about :attr:`PreviewSpec.width` pixels wide, at most
  :attr:`PreviewSpec.max_fps` frames per second (frames are dropped evenly to get there), for
  lists and search results where a full clip would be too heavy.

They are written beside the clip with its stem (``svd_photo_123456.jpg`` / ``.webp``): see
:mod:`imagear.clips`. Failures become :class:`~imagear.errors.MediaError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import MediaError

if TYPE_CHECKING:
    from imagear.media.scan import ClipScan

__all__ = ["POSTER_QUALITY", "PREVIEW_QUALITY", "write_poster", "write_preview"]

POSTER_QUALITY = 85
PREVIEW_QUALITY = 60
_PREVIEW_METHOD = 2  # libwebp effort 0..6: 2 is ~3x faster than the default 4, ~10% larger


def write_poster(scan: ClipScan, path: str | Path) -> None:
    """Write the first frame kept by the scan as a JPEG at ``path``."""
    if scan.poster is None:
        raise MediaError("No poster frame was kept while scanning the clip.")
    try:
        scan.poster.convert("RGB").save(
            path, format="JPEG", quality=POSTER_QUALITY, optimize=True, progressive=True
        )
    except (OSError, ValueError) as exc:
        raise MediaError(f"Could not write the poster frame {path}: {exc}") from exc


def write_preview(scan: ClipScan, path: str | Path) -> None:
    """Write the frames kept by the scan as a looping animated WebP at ``path``."""
    frames = scan.preview
    if not frames:
        raise MediaError("No preview frames were kept while scanning the clip.")
    fps = scan.preview_fps or 10.0
    try:
        frames[0].save(
            path,
            format="WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=max(20, round(1000.0 / fps)),
            loop=0,
            quality=PREVIEW_QUALITY,
            method=_PREVIEW_METHOD,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise MediaError(f"Could not write the preview {path}: {exc}") from exc
