"""IIIF Image API (2 and 3, levels 0 to 2): an info.json read as :class:`ImageInfo`, and what
to fetch to get the smallest image whose long side covers what the models need
(:func:`plan`): one request of a scaled size where the service can scale (level 1 and 2, or a
listed size at level 0), else the tiles of the right scale factor (level 0), else the full
image. Pure: :mod:`imagear.iiif.fetch` does the HTTP. URLs are in the canonical form of each
version (region ``full`` for the whole image; size ``w,`` in 2, ``w,h`` in 3, ``full`` /
``max`` for the full size), which is how static (level 0) services name their files."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from imagear.errors import MediaError

NEED = 1280
"""The long side a master must have: covers every model's frame (SVD 1024x576, Wan's 1280x720)
without fetching a 100-megapixel master."""

CONTEXT_2 = "http://iiif.io/api/image/2/context.json"
CONTEXT_3 = "http://iiif.io/api/image/3/context.json"
_LEVEL = re.compile(r"level([012])")
_REQUEST = re.compile(r"/[^/]+/[^/]+/!?[0-9.]+/[a-z]+\.[a-z0-9]+$")  # /region/size/rotation/q.fmt


@dataclass(frozen=True)
class Size:
    width: int
    height: int


@dataclass(frozen=True)
class TileSpec:
    width: int
    height: int
    scale_factors: tuple[int, ...]


@dataclass(frozen=True)
class ImageInfo:
    """What an info.json says: the service's id, API version and level, the full size, the
    sizes and tiles it offers, and its limits (0: none)."""

    id: str
    version: int
    level: int
    width: int
    height: int
    sizes: tuple[Size, ...] = ()
    tiles: tuple[TileSpec, ...] = ()
    max_width: int = 0
    max_height: int = 0
    max_area: int = 0


@dataclass(frozen=True)
class Piece:
    """One request: its URL and where its pixels go in the result."""

    url: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Plan:
    """The image to make (its size) and the requests that make it (one, or the tiles)."""

    width: int
    height: int
    pieces: tuple[Piece, ...]


def info_url(url: str) -> str:
    """The info.json of a service named by its base URI, its info.json or one of its image
    requests (``.../full/max/0/default.jpg``)."""
    url = url.strip()
    if url.endswith("/info.json"):
        return url
    if _REQUEST.search(url):
        url = _REQUEST.sub("", url)
    return url.rstrip("/") + "/info.json"


def _not_iiif(url: str, why: str) -> MediaError:
    return MediaError(
        f"{url} is not a IIIF Image service ({why}).",
        "Give the address of a IIIF Image API service: its base URI or its info.json.",
        params={"url": url},
    )


def _int(data: dict[str, object], key: str) -> int:
    value = data.get(key, 0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_info(data: object, url: str) -> ImageInfo:
    """The info.json ``data`` read from ``url``; MediaError when it is not a IIIF Image
    API 2 or 3 info.json."""
    if not isinstance(data, dict):
        raise _not_iiif(url, "its info.json is not a JSON object")
    context = data.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if CONTEXT_3 in contexts or data.get("type") == "ImageService3":
        version, ident, profile = 3, data.get("id"), data.get("profile")
    elif CONTEXT_2 in contexts or data.get("protocol") == "http://iiif.io/api/image":
        version, ident = 2, data.get("@id")
        raw = data.get("profile")
        profile = raw[0] if isinstance(raw, list) and raw else raw
    else:
        raise _not_iiif(url, "its info.json names no IIIF Image API 2 or 3 context")
    width, height = _int(data, "width"), _int(data, "height")
    if not isinstance(ident, str) or not ident or width <= 0 or height <= 0:
        raise _not_iiif(url, "its info.json lacks the id, width or height")
    found = _LEVEL.search(profile) if isinstance(profile, str) else None
    sizes = tuple(
        Size(_int(s, "width"), _int(s, "height"))
        for s in data.get("sizes") or []
        if isinstance(s, dict) and _int(s, "width") > 0 and _int(s, "height") > 0
    )
    tiles = tuple(
        TileSpec(
            _int(t, "width"),
            _int(t, "height") or _int(t, "width"),
            tuple(int(f) for f in t.get("scaleFactors") or [1] if isinstance(f, int) and f > 0),
        )
        for t in data.get("tiles") or []
        if isinstance(t, dict) and _int(t, "width") > 0
    )
    return ImageInfo(
        id=ident.rstrip("/"),
        version=version,
        level=int(found.group(1)) if found else 0,
        width=width,
        height=height,
        sizes=sizes,
        tiles=tiles,
        max_width=_int(data, "maxWidth"),
        max_height=_int(data, "maxHeight"),
        max_area=_int(data, "maxArea"),
    )


def _size_part(info: ImageInfo, w: int, h: int, full: bool) -> str:
    if full:
        return "max" if info.version >= 3 else "full"
    return f"{w},{h}" if info.version >= 3 else f"{w},"


def _url(info: ImageInfo, region: str, size: str) -> str:
    return f"{info.id}/{region}/{size}/0/default.jpg"


def _scaled(info: ImageInfo, need: int) -> tuple[int, int]:
    """The smallest size whose long side is ``need`` (the full size when that is smaller),
    within the service's limits."""
    scale = min(1.0, need / max(info.width, info.height))
    limits = [scale]
    if info.max_width:
        limits.append(info.max_width / info.width)
    if info.max_height:
        limits.append(info.max_height / info.height)
    if info.max_area:
        limits.append(math.sqrt(info.max_area / (info.width * info.height)))
    scale = min(limits)
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


def plan(info: ImageInfo, need: int = NEED) -> Plan:
    """The requests that give the smallest image covering ``need`` on its long side."""
    full = Size(info.width, info.height)
    if info.level >= 1:
        w, h = _scaled(info, need)
        whole = (w, h) == (full.width, full.height)
        url = _url(info, "full", _size_part(info, w, h, whole))
        return Plan(w, h, (Piece(url, 0, 0, w, h),))
    goal = min(need, max(info.width, info.height))
    covering = sorted(
        (s for s in info.sizes if max(s.width, s.height) >= goal),
        key=lambda s: s.width * s.height,
    )
    if covering:
        s = covering[0]
        whole = (s.width, s.height) == (full.width, full.height)
        url = _url(info, "full", _size_part(info, s.width, s.height, whole))
        return Plan(s.width, s.height, (Piece(url, 0, 0, s.width, s.height),))
    if info.tiles:
        return _tiled(info, info.tiles[0], goal)
    return Plan(
        full.width,
        full.height,
        (Piece(_url(info, "full", _size_part(info, 0, 0, True)), 0, 0, full.width, full.height),),
    )


def _tiled(info: ImageInfo, spec: TileSpec, goal: int) -> Plan:
    """The tiles of the largest scale factor that still covers ``goal``."""
    factors = sorted(spec.scale_factors or (1,), reverse=True)
    long_side = max(info.width, info.height)
    factor = next((f for f in factors if math.ceil(long_side / f) >= goal), min(factors))
    out_w, out_h = math.ceil(info.width / factor), math.ceil(info.height / factor)
    step_w, step_h = spec.width * factor, spec.height * factor
    pieces = []
    for y in range(0, info.height, step_h):
        for x in range(0, info.width, step_w):
            rw, rh = min(step_w, info.width - x), min(step_h, info.height - y)
            sw, sh = math.ceil(rw / factor), math.ceil(rh / factor)
            whole = (x, y, rw, rh) == (0, 0, info.width, info.height)
            region = "full" if whole else f"{x},{y},{rw},{rh}"
            size = _size_part(info, sw, sh, whole and factor == 1)
            pieces.append(Piece(_url(info, region, size), x // factor, y // factor, sw, sh))
    return Plan(out_w, out_h, tuple(pieces))


__all__ = [
    "NEED",
    "ImageInfo",
    "Piece",
    "Plan",
    "Size",
    "TileSpec",
    "info_url",
    "parse_info",
    "plan",
]
