"""The Ken Burns camera: where the view of every frame is, as a float rectangle in the image.

The motions of Heratio's earlier ffmpeg ``zoompan`` renderer (zoom_in, zoom_out, pan_lr,
pan_rl, ken_burns_diagonal; final zoom 1.05..2.0), each a view ("camera") of the output's
aspect ratio inside the image, computed from an eased progress value (zoom is interpolated
geometrically, so it feels steady); the widest view covers the image without black bars. With
``loop`` the camera goes out and back on a cosine, so the last frame flows into the first.
Pure geometry: :mod:`imagear.engines.kenburns` renders the views.
"""

from __future__ import annotations

import math

from imagear.errors import InvalidOption

__all__ = [
    "DEFAULT_MOTION",
    "DEFAULT_ZOOM",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "MOTIONS",
    "Rect",
    "camera_path",
]

MOTIONS: tuple[str, ...] = ("zoom_in", "zoom_out", "pan_lr", "pan_rl", "ken_burns_diagonal")
"""The motions the engine knows, in Heratio's names."""

DEFAULT_MOTION = "zoom_in"
DEFAULT_ZOOM = 1.30
MIN_ZOOM, MAX_ZOOM = 1.05, 2.0
EASE_STRENGTH = 0.5
"""How much the one-way motions ease in and out: speed goes from ``1 - s`` at the ends to
``1 + s`` in the middle, so the camera never stands still (no repeated frames)."""

Rect = tuple[float, float, float, float]
"""A view in source pixels: ``(left, top, right, bottom)``, floats."""


def _ease(t: float) -> float:
    """Gentle ease-in-out on 0..1 whose speed never reaches zero."""
    return t - EASE_STRENGTH * math.sin(2.0 * math.pi * t) / (2.0 * math.pi)


def _progress(index: int, num_frames: int, loop: bool) -> float:
    if loop:
        # out and back; frame num_frames would be frame 0 again, so N-1 flows into 0
        return 0.5 - 0.5 * math.cos(2.0 * math.pi * index / num_frames)
    if num_frames <= 1:
        return 0.0
    return _ease(index / (num_frames - 1))


def _pose(motion: str, p: float, zoom: float) -> tuple[float, float, float]:
    """(scale, anchor_x, anchor_y) at progress ``p``; anchors 0 = left/top, 1 = right/bottom."""
    if motion == "zoom_in":
        return zoom**p, 0.5, 0.5
    if motion == "zoom_out":
        return zoom ** (1.0 - p), 0.5, 0.5
    if motion == "pan_lr":
        return zoom, p, 0.5
    if motion == "pan_rl":
        return zoom, 1.0 - p, 0.5
    if motion == "ken_burns_diagonal":
        return zoom**p, p, p
    raise InvalidOption(
        f"Unknown Ken Burns motion {motion!r}.", advice=f"Use one of: {', '.join(MOTIONS)}."
    )


def camera_path(
    src_size: tuple[int, int],
    out_size: tuple[int, int],
    num_frames: int,
    motion: str = DEFAULT_MOTION,
    zoom: float = DEFAULT_ZOOM,
    loop: bool = False,
) -> list[Rect]:
    """The float view rectangle of every frame, in source pixels.

    At scale 1 the view is the largest rectangle of the output's aspect ratio that fits in the
    image (a cover crop: no bars); at scale ``zoom`` it is ``zoom`` times smaller. Pans run from
    one edge of the image to the other at scale ``zoom``.
    """
    src_w, src_h = float(src_size[0]), float(src_size[1])
    aspect = out_size[0] / out_size[1]
    if src_w / src_h > aspect:
        base_w, base_h = src_h * aspect, src_h
    else:
        base_w, base_h = src_w, src_w / aspect
    rects: list[Rect] = []
    for i in range(num_frames):
        scale, ax, ay = _pose(motion, _progress(i, num_frames, loop), zoom)
        view_w, view_h = base_w / scale, base_h / scale
        left = ax * (src_w - view_w)
        top = ay * (src_h - view_h)
        rects.append((left, top, left + view_w, top + view_h))
    return rects
