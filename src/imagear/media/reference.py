"""The master image as the quality gate compares a clip with it.

:func:`reference_of` / :func:`load_reference` make the small grey version of the master image
(:func:`reference_from`: the same, from grey pixels an imagear server sent with its clip) that
:func:`resemblance` compares the clip's first frame with (:mod:`imagear.media.scan` keeps it),
over the ways an engine frames an image: stretched to the clip (diffusers, Heratio's server) or a
crop of the clip's aspect ratio at several zooms and anchors (Ken Burns starts zoomed in, at an
edge or a corner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from imagear.media.scan import GRID

if TYPE_CHECKING:
    from imagear.media.scan import ClipScan

__all__ = [
    "REFERENCE_SIDE",
    "Reference",
    "load_reference",
    "reference_from",
    "reference_of",
    "resemblance",
]

REFERENCE_SIDE = 256
"""Long side of the grey master image kept for the comparison (crops are taken from it)."""
ZOOMS = (1.0, 1.05, 1.15, 1.3, 1.5, 1.75, 2.0)
"""Crop zooms tried by :func:`resemblance` (Ken Burns allows 1.05..2.0)."""
ANCHORS = (0.0, 0.5, 1.0)


@dataclass(frozen=True)
class Reference:
    """The master image, grey, at most :data:`REFERENCE_SIDE` px, with its overall statistics
    (on a full-range 0..255 scale) used to tell when a check cannot judge it."""

    pixels: np.ndarray  # float32 (height, width)
    mean: float
    std: float


def reference_of(image: Image.Image) -> Reference:
    """The reference of an (already upright) PIL image."""
    grey = image if image.mode == "L" else image.convert("L")
    if max(grey.size) > REFERENCE_SIDE:
        grey = grey.copy()
        grey.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE), Image.Resampling.BOX)
    return reference_from(np.asarray(grey))


def reference_from(grey: np.ndarray) -> Reference:
    """The reference of grey pixels (height, width; 0..255) already at most
    :data:`REFERENCE_SIDE` on a side: what :func:`reference_of` makes of an image, from the pixels
    an imagear server sent (:mod:`imagear.media.extras`)."""
    pixels = np.asarray(grey, dtype=np.float32)
    step = max(1, math.ceil(max(pixels.shape) / GRID))
    sample = pixels[step // 2 :: step, step // 2 :: step]
    return Reference(pixels, float(sample.mean()), float(sample.std()))


def load_reference(path: str | Path) -> Reference:
    """The reference of an image file, upright (EXIF orientation), decoded cheaply (JPEG draft
    mode). Raises ImageMissing / InvalidImage as :func:`imagear.media.open_image` does."""
    from imagear.media import open_image

    with open_image(path, load=False) as img:
        img.draft("L", (REFERENCE_SIDE * 2, REFERENCE_SIDE * 2))
        upright = ImageOps.exif_transpose(img)
        return reference_of(upright)


def _views(ref_w: int, ref_h: int, aspect: float) -> list[tuple[float, float, float, float]]:
    """The source rectangles tried: the whole image (stretched), then crops of the clip's aspect
    ratio at every zoom of ZOOMS and anchor of ANCHORS (duplicates dropped)."""
    views = [(0.0, 0.0, float(ref_w), float(ref_h))]
    if ref_w / ref_h > aspect:
        base_w, base_h = ref_h * aspect, float(ref_h)
    else:
        base_w, base_h = float(ref_w), ref_w / aspect
    for zoom in ZOOMS:
        vw, vh = base_w / zoom, base_h / zoom
        for ax in ANCHORS:
            for ay in ANCHORS:
                left, top = ax * (ref_w - vw), ay * (ref_h - vh)
                box = (round(left, 2), round(top, 2), round(left + vw, 2), round(top + vh, 2))
                if box not in views:
                    views.append(box)
    return views


def resemblance(scan: ClipScan, reference: Reference) -> float | None:
    """How much the clip's first frame looks like the master image: the best normalised
    cross-correlation (-1..1) of the two, small and grey, over the framings of :func:`_views`.
    None when either is uniform (there is nothing to compare)."""
    first = scan.first
    if first is None or first.size < 4:
        return None
    small_h, small_w = first.shape
    ref_h, ref_w = reference.pixels.shape
    aspect = scan.width / scan.height if scan.height else small_w / small_h
    source = Image.fromarray(reference.pixels)
    views = np.stack(
        [
            np.asarray(source.resize((small_w, small_h), Image.Resampling.BOX, box=box))
            for box in _views(ref_w, ref_h, aspect)
        ]
    ).reshape(-1, small_h * small_w)
    # normalised cross-correlation with every framing at once (one row each)
    a = first.reshape(-1).astype(np.float64)
    a -= a.mean()
    b = views.astype(np.float64)
    b -= b.mean(axis=1, keepdims=True)
    denom = np.sqrt(float(a @ a) * np.einsum("ij,ij->i", b, b))
    usable = denom >= 1e-6
    if not usable.any():
        return None
    return float(((b @ a)[usable] / denom[usable]).max())
