"""Images in, MP4 out: loading and preparing master images here; encoding and probing MP4 clips
in :mod:`imagear.media.mp4` (re-exported here).

Every failure is mapped to an :mod:`imagear.errors` class at this boundary: a file that is not an
image (or is too large to decode safely) raises :class:`~imagear.errors.InvalidImage`, a missing
file :class:`~imagear.errors.ImageMissing`, and anything PyAV/FFmpeg refuses
:class:`~imagear.errors.MediaError`. Nothing here prints, and the source files are only read.

``av`` (PyAV) is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import tempfile
import threading
import warnings
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imagear.errors import ImageMissing, InvalidImage, MediaError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "RASTER_FORMATS",
    "Mp4Info",
    "check_boxes",
    "encode_upload",
    "looks_like_mp4",
    "open_image",
    "open_raster",
    "decoded_bytes",
    "open_reduced",
    "UPLOAD_SLACK",
    "prepare_image",
    "probe_mp4",
    "sample_image_path",
    "sniff_mime",
    "write_mp4",
]

MAX_IMAGE_PIXELS = 200_000_000
"""Images with more pixels than this are refused as possible decompression bombs.

Read at call time, so it can be changed at run time (``imagear.media.MAX_IMAGE_PIXELS = ...``).
"""

RASTER_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF", "JPEG2000")
"""The only formats decoded (Pillow format ids; multi-picture JPEGs open as JPEG's MPO).

Every other Pillow plugin is never asked to read a file: EPS, PostScript and PDF would run
Ghostscript on the file's program (``{ 1 pop } loop`` never ends), and the rest are formats
no archive master needs. These decoders are linear in the pixels, so with
:data:`MAX_IMAGE_PIXELS` every decode is bounded in time and memory.
"""

_RASTER_PLUGINS = (
    "JpegImagePlugin",
    "PngImagePlugin",
    "TiffImagePlugin",
    "WebPImagePlugin",
    "BmpImagePlugin",
    "GifImagePlugin",
    "Jpeg2KImagePlugin",
)
"""Pillow's modules for :data:`RASTER_FORMATS`, imported before the first open: Pillow otherwise
registers every one of its 45 plugins the first time a file is not one of the five it loads up
front (a TIFF master, a WebP): about 50 ms, several times that beside a batch's other threads,
where these seven take a few."""
_IMAGE_KINDS = "JPEG, PNG, TIFF, WebP, BMP, GIF, JPEG 2000"
_POSTSCRIPT_MAGIC = (b"%!", b"\xc5\xd0\xd3\xc6", b"%PDF")
_PILLOW_LIMIT_LOCK = threading.Lock()
_PILLOW_WARNING_SILENCED = False
_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_WHITE = (255, 255, 255)


def sample_image_path() -> Path:
    """Path of the sample image shipped with imagear (1600x1000 JPEG), for demos and benchmarks."""
    return Path(str(resources.files("imagear") / "data" / "sample.jpg"))


def _raise_pillow_limit(limit: int) -> None:
    """Let our check replace Pillow's: its limit is raised to ours (so it never refuses first)
    and its warning, which would only repeat our refusal, is silenced once per process."""
    global _PILLOW_WARNING_SILENCED
    with _PILLOW_LIMIT_LOCK:
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and current < limit:
            Image.MAX_IMAGE_PIXELS = limit
        if not _PILLOW_WARNING_SILENCED:
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
            _PILLOW_WARNING_SILENCED = True


def open_raster(path: str | Path) -> Image.Image:
    """Pillow's ``Image.open`` of ``path`` as one of :data:`RASTER_FORMATS` only (the header
    read, Pillow's own exceptions raised), with those formats' plugins imported first
    (:data:`_RASTER_PLUGINS`; a plugin that fails to import is left to Pillow, which then
    registers it, or not, the way it always did)."""
    if "TIFF" not in Image.OPEN or "JPEG2000" not in Image.OPEN:
        import importlib

        for name in _RASTER_PLUGINS:
            try:
                importlib.import_module(f"PIL.{name}")
            except ImportError:  # e.g. a Pillow built without WebP: Image.open says so
                continue
    return Image.open(path, formats=RASTER_FORMATS)


def open_image(path: str | Path, *, load: bool = True) -> Image.Image:
    """Open an image file with Pillow, mapping every failure to an imagear error.

    Raises :class:`ImageMissing` when ``path`` does not exist and :class:`InvalidImage` when it
    is not an image Pillow can read, is truncated, or has more than :data:`MAX_IMAGE_PIXELS`
    pixels (a decompression bomb). With ``load=False`` only the header is read (so that
    :meth:`PIL.Image.Image.draft` can still be applied); the pixels are decoded later.
    """
    path = Path(path)
    if not path.exists():
        raise ImageMissing(f"The image file {path} does not exist.")
    if not path.is_file():
        raise InvalidImage(f"{path} is not a file, so it is not an image.")
    limit = MAX_IMAGE_PIXELS
    _raise_pillow_limit(limit)
    try:
        img = open_raster(path)
    except Image.DecompressionBombError as exc:
        raise _bomb(path, None, limit) from exc
    except FileNotFoundError as exc:
        raise ImageMissing(f"The image file {path} does not exist.") from exc
    except PermissionError as exc:  # a file this user may not read is not a bad image
        raise MediaError(
            f"The image file {path} cannot be read: {exc.strerror}.",
            "Check the file's permissions: imagear reads it as the user it runs as.",
        ) from exc
    except UnidentifiedImageError as exc:
        raise _not_raster(path, exc) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise _not_an_image(path, exc) from exc
    width, height = img.size
    if width * height > limit:
        img.close()
        raise _bomb(path, (width, height), limit)
    if load:
        _load(img, path)
    return img


def _load(img: Image.Image, path: object) -> None:
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise _bomb(path, img.size, MAX_IMAGE_PIXELS) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _not_an_image(path, exc) from exc


def _not_an_image(path: object, exc: BaseException) -> InvalidImage:
    return InvalidImage(
        f"{path} is not an image Pillow can read ({_IMAGE_KINDS}): {exc}",
        advice="Check that the file is a complete image, or convert it to JPEG or PNG.",
    )


def _not_raster(path: Path, exc: BaseException) -> InvalidImage:
    """A file no raster decoder takes; PostScript, EPS and PDF are named as such."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    if not head.startswith(_POSTSCRIPT_MAGIC):
        return _not_an_image(path, exc)
    return InvalidImage(
        f"{path} is PostScript, EPS or PDF, not a raster image: imagear decodes only "
        f"{_IMAGE_KINDS}.",
        advice="Convert it to JPEG, PNG or TIFF first.",
    )


def _bomb(path: object, size: tuple[int, int] | None, limit: int) -> InvalidImage:
    dims = f" ({size[0]}x{size[1]} pixels)" if size else ""
    return InvalidImage(
        f"{path} is too large to decode safely{dims}: the limit is {limit:,} pixels.",
        advice="Scale the image down first, or raise imagear.media.MAX_IMAGE_PIXELS if you "
        "trust the file.",
    )


def sniff_mime(path: str | Path) -> str:
    """The MIME type of an image file, read from its content (not its name), e.g. ``image/jpeg``.

    Raises :class:`InvalidImage` when the file is not an image and :class:`ImageMissing` when it
    does not exist.
    """
    img = open_image(path, load=False)
    try:
        fmt = img.format or ""
        mime = Image.MIME.get(fmt.upper())
    finally:
        img.close()
    return mime or f"image/{fmt.lower() or 'unknown'}"


def prepare_image(
    img_or_path: Image.Image | str | Path,
    max_size: tuple[int, int] | None = None,
    *,
    slack: float = 1.0,
) -> Image.Image:
    """An RGB copy of an image, upright and fitted inside ``max_size`` (never upscaled).

    EXIF orientation is applied; CMYK, 16-bit and 32-bit integer/float, palette, grayscale and
    images with alpha (composited on white) become 8-bit RGB. The aspect ratio is kept. When a
    path is given it is decoded no larger than needed (:func:`open_reduced`: JPEG at 1/2, 1/4 or
    1/8 scale, JPEG 2000 at a power-of-two reduction, while decoding); other large files (TIFF
    and PNG scans) are first shrunk by a whole factor (:func:`_reduce`). Neither the file nor a
    given image is modified.

    ``slack`` > 1: an image that after that reduction is at most ``slack`` times ``max_size``
    (on its limiting side) is returned as it is, not resampled: for a consumer that resamples
    it again anyway (a server fitting an upload to its model's size), where a second Lanczos
    pass would cost time for nothing (see :data:`UPLOAD_SLACK`).
    """
    if isinstance(img_or_path, Image.Image):
        img = img_or_path
        _load(img, getattr(img, "filename", None) or "the image")
        owned = False
    else:
        img = _load_reduced(img_or_path, max_size)
        owned = True
        if max_size is not None:
            reduced = _reduce(img, max_size)
            if reduced is not img:
                img.close()
                img = reduced
    rgb: Image.Image | None = None
    try:
        upright = _exif_transpose(img, in_place=owned)  # a decode of our own: no copy
        rgb = _to_rgb(upright)
        if rgb is img and getattr(img, "fp", None) is not None:
            rgb = img.copy()  # its file is still open (a multi-page TIFF): the pixels only
    finally:
        if owned and rgb is not img:
            img.close()
    assert rgb is not None
    if max_size is not None:
        rgb = _fit(rgb, max_size, slack)
    return rgb


UPLOAD_SLACK = 2.0
"""How much larger than the box a client's upload may stay rather than be resampled: the most
a power-of-two reduction while decoding (JPEG's DCT scaling, a whole-factor reduce) leaves. Every
server fits the upload to its model's size itself (Heratio's stretches it to ``width x
height``; imagear's engines resample it), so a client-side Lanczos fit was a second resampling
of the same pixels: 22 ms of a 3000x2000 JPEG's 44 ms on a 2-core machine. The upload is then at
most twice the box on a side (a 3000x2000 JPEG for 944x624 sends 1500x1000: about 310 KB
instead of 113 KB, where Heratio's own client sends the whole 1.2 MB master)."""


def open_reduced(path: str | Path, max_size: tuple[int, int] | None = None) -> Image.Image:
    """The image at ``path``, header only, set to decode no more pixels than fitting it in
    ``max_size`` needs, where the format can reduce while decoding (JPEG's draft mode, JPEG
    2000's resolution levels). :func:`decoded_bytes` says what loading it will then take."""
    img = open_image(path, load=False)
    if max_size is not None:
        if img.format in ("JPEG", "MPO"):
            _draft(img, max_size)
        elif img.format == "JPEG2000":
            levels = _j2k_levels(img.size, max_size)
            if levels:
                img.reduce = levels  # type: ignore[assignment,method-assign]
    return img


def _load_reduced(path: str | Path, max_size: tuple[int, int] | None) -> Image.Image:
    img = open_reduced(path, max_size)
    try:
        _load(img, path)
    except InvalidImage:
        img.close()
        if img.format != "JPEG2000" or max_size is None:
            raise
        img = open_image(path)  # a codestream with fewer resolution levels: decode it whole
    return img


def _j2k_levels(size: tuple[int, int], max_size: tuple[int, int]) -> int:
    """How many halvings of a JPEG 2000 image still cover the fit of ``max_size`` (at most 5,
    the levels an encoder makes by default)."""
    scale = min(max(1, int(max_size[0])) / size[0], max(1, int(max_size[1])) / size[1])
    levels = 0
    while levels < 5 and scale * (1 << (levels + 1)) <= 1.0:
        levels += 1
    return levels


_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
"""Bytes Pillow keeps per pixel by mode; every other mode (RGB included) takes 4."""


def decoded_bytes(path: str | Path, max_size: tuple[int, int] | None = None) -> int:
    """About the most memory :func:`prepare_image` (``path``, ``max_size``) holds at once, read
    from the header only: the pixels decoded (after any reduction while decoding) and the copies
    made from them (whole-factor reduced; or, where it cannot reduce, upright and RGB at full
    size, and the white background an image with alpha is composited on)."""
    with open_reduced(path, max_size) as img:
        width, height = img.size
        levels = getattr(img, "_reduce", 0) if img.format == "JPEG2000" else 0
        if isinstance(levels, int) and levels > 0:  # as Pillow's JPEG 2000 load sizes it
            power = 1 << levels
            width, height = (width + power // 2) // power, (height + power // 2) // power
        pixels = width * height
        per_pixel = _PIXEL_BYTES.get(img.mode, 4)
        factor = 1 if max_size is None else _reduce_factor(img, max_size, (width, height))
        alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if factor > 1:  # the reduced copy and its upright RGB copy
        return pixels * per_pixel + 2 * 4 * (-(-pixels // (factor * factor)))
    return pixels * (2 * per_pixel + 4 + (8 if alpha else 0))


def _draft(img: Image.Image, max_size: tuple[int, int]) -> None:
    box_w, box_h = max(1, int(max_size[0])), max(1, int(max_size[1]))
    try:
        orientation = int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block must not stop us: it only costs speed
        orientation = 1
    if orientation in _SWAPPING_ORIENTATIONS:
        box_w, box_h = box_h, box_w
    # The box must be requested in the aspect of the image so that draft keeps enough pixels to
    # fit (not fill) the box after the final resize.
    width, height = img.size
    scale = min(box_w / width, box_h / height)
    if scale >= 1.0:
        return
    img.draft(img.mode, (max(1, int(width * scale)), max(1, int(height * scale))))


def _orientation(img: Image.Image, header_only: bool = False) -> int:
    """The EXIF orientation. ``header_only``: never decode for it (Pillow decodes a whole PNG
    to look for an eXIf chunk after the pixels; one before them is already in ``info``)."""
    if header_only and img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block: take the pixels as stored
        return 1


def _reduce(img: Image.Image, max_size: tuple[int, int]) -> Image.Image:
    """``img`` shrunk by the largest whole factor that still covers the fit of ``max_size``
    (box averaging in C, what JPEG's draft mode does while decoding), so that the final Lanczos
    fit works on less than twice its output; ``img`` itself when that factor is 1.

    16-bit greyscale is reduced through 32-bit integers (Pillow cannot reduce I;16) and stays
    16-bit; palette images and images with an EXIF orientation are left to the slow path.
    """
    mode = img.mode
    factor = _reduce_factor(img, max_size)
    if factor < 2:
        return img
    try:
        if mode.startswith("I;16"):
            return img.convert("I").reduce(factor).convert("I;16")
        return img.reduce(factor)
    except (ValueError, OSError):  # a mode Pillow cannot reduce: the slow path still works
        return img


def _reduce_factor(
    img: Image.Image, max_size: tuple[int, int], size: tuple[int, int] | None = None
) -> int:
    """The whole factor :func:`_reduce` shrinks ``img`` (of ``size`` once loaded; given when
    ``img`` is not loaded yet) by (1: it is left to the slow path)."""
    if img.mode in ("1", "P", "PA") or _orientation(img, header_only=size is not None) != 1:
        return 1
    width, height = size or img.size
    scale = min(max(1, int(max_size[0])) / width, max(1, int(max_size[1])) / height)
    return max(1, int(1.0 / scale)) if scale > 0 else 1


def _exif_transpose(img: Image.Image, in_place: bool = False) -> Image.Image:
    """``img`` upright: a copy, or ``img`` itself turned in place when ``in_place`` (an
    image of our own: a 24 MP decode is not copied for nothing). Broken EXIF: as stored."""
    try:
        if in_place:
            ImageOps.exif_transpose(img, in_place=True)
            return img
        out = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF: keep the pixels as stored
        return img if in_place else img.copy()
    return out if out is not None else img.copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "CMYK":
        return img.convert("RGB")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "L"):
        return img.convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(img), mode), "L").convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise InvalidImage(
            f"Images in Pillow mode {mode!r} cannot be converted to RGB: {exc}",
            advice="Convert the image to an RGB JPEG or PNG first.",
        ) from exc


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16/32-bit integer or float gray levels to 0..255."""
    data = arr.astype(np.float64)
    if mode.startswith("I;16"):
        return np.clip(np.rint(data / 257.0), 0, 255).astype(np.uint8)
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = data * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = data
    elif lo >= 0.0 and hi <= 65535.0:
        scaled = data / 257.0
    else:
        scaled = (data - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _fit(img: Image.Image, max_size: tuple[int, int], slack: float = 1.0) -> Image.Image:
    box_w, box_h = max(1, int(max_size[0])), max(1, int(max_size[1]))
    width, height = img.size
    scale = min(box_w / width, box_h / height)
    if scale * max(1.0, slack) >= 1.0:
        return img
    size = (
        min(box_w, max(1, round(width * scale))),
        min(box_h, max(1, round(height * scale))),
    )
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def encode_upload(img: Image.Image, quality: int = 92) -> bytes:
    """JPEG bytes of ``img`` (converted to RGB first), for sending to an image-to-video server.

    Encoded into an unnamed temporary file, not a :class:`io.BytesIO`: Pillow lets go of the GIL
    while it encodes into a file descriptor and holds it while it encodes into a Python buffer,
    where a batch's other workers (storing, signing, talking HTTP) would wait on every upload
    (the same bytes either way; a ``BytesIO`` still when no temporary file can be made)."""
    rgb = _to_rgb(img)
    try:
        fh: BinaryIO = tempfile.TemporaryFile()
    except OSError:  # no writable temporary folder: encode in memory
        fh = io.BytesIO()
    with fh:
        rgb.save(fh, format="JPEG", quality=int(quality))
        fh.seek(0)
        return fh.read()


from imagear.media.mp4 import (  # noqa: E402
    Mp4Info,
    check_boxes,
    looks_like_mp4,
    probe_mp4,
    write_mp4,
)
