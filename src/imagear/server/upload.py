"""Requests of `imagear serve`: the streamed multipart upload, and form fields -> options.

The body is parsed as it arrives (python-multipart): text fields stay in memory (small, counted),
the ``image`` part goes straight to a temp file, and the size limit is enforced while reading,
whatever Content-Length said. Then the image is sniffed from its content (Heratio labels every
upload image/jpeg) and its pixel count is checked from the header before anything is decoded.
Refusals are raised as :class:`ApiError` (status, JSON body), which the app answers as they are.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from imagear.errors import InvalidImage, InvalidOption
from imagear.models import COMMON_PARAMETERS, ModelDescriptor, OptionNames, list_models
from imagear.server import MB
from imagear.wire import EXTRAS_HEADER, REFERENCE_HEADER

if TYPE_CHECKING:
    from imagear.provenance.manifest import MasterFacts

MAX_FIELD_BYTES = 64 * 1024  # one text field (a prompt is at most 2000 characters)
MAX_FIELDS = 64
FORM_OVERHEAD = MB  # boundaries, part headers and text fields on top of the image
WRITE_CHUNK = MB  # upload bytes buffered before one write to disk (in a thread)
MAX_ZOOM = 2.0  # the tightest view a camera move may take (kenburns zoom is at most 2.0)


class ApiError(Exception):
    """An HTTP error answered as ``{"error": message, "type": kind}``."""

    def __init__(
        self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": self.message, "type": self.kind}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class ImageTooLarge(InvalidImage):
    """More pixels than the server decodes (a possible decompression bomb)."""

    code = "image_too_large"


# -- the upload ----------------------------------------------------------------------------------


@dataclass
class Upload:
    """The form fields and the image part of one request (the image on disk)."""

    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    filename: str | None = None
    size: int = 0
    extras: bool = False  # the client asked for the clip's measurements (imagear.media.extras)
    reference: bool = False  # and for the gate's reference of the image (the master's own file)

    def cleanup(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def master(self) -> MasterFacts | None:
        """The image as the clip's Content Credentials name it (read while it is on disk)."""
        from imagear.server.signing import master_of

        return master_of(self.path, self.filename)


class _FormReader:
    """python-multipart callbacks: text fields in memory, the ``image`` part to a temp file."""

    def __init__(self, tmp_dir: Path, max_bytes: int) -> None:
        self.tmp_dir, self.max_bytes = tmp_dir, max_bytes
        self.upload = Upload()
        self._name = ""
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._text: bytearray | None = None
        self._pending = bytearray()
        self._file: BinaryIO | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._add("_header_name", d[s:e]),
            "on_header_value": lambda d, s, e: self._add("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _part_begin(self) -> None:
        self._name, self._disposition, self._text = "", b"", None

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if self._name != "image":
            if filename is not None:
                raise _bad_form(f"Unexpected file part {self._name!r}: send the image as 'image'.")
            if len(self.upload.fields) >= MAX_FIELDS:
                raise _bad_form(f"Too many form fields (at most {MAX_FIELDS}).")
            self._text = bytearray()
            return
        if self._file is not None or self.upload.path is not None:
            raise _bad_form("The form has more than one 'image' part; send one.")
        # The label (Heratio always says image/jpeg) is not trusted: the content is sniffed.
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".img", dir=self.tmp_dir)
        self.upload.path = Path(name)
        self.upload.filename = filename.decode("utf-8", "replace") if filename else None
        self._file = os.fdopen(fd, "wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._text is not None:
            if len(self._text) + len(chunk) > MAX_FIELD_BYTES:
                raise ApiError(
                    413, f"Form field {self._name!r} is over {MAX_FIELD_BYTES} bytes.", "TooLarge"
                )
            self._text.extend(chunk)
            return
        self.upload.size += len(chunk)
        if self.upload.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        self._pending.extend(chunk)

    def _part_end(self) -> None:
        if self._text is not None:
            self.upload.fields[self._name] = self._text.decode("utf-8", "replace")
            self._text = None

    async def flush(self, final: bool = False) -> None:
        """Write the buffered image bytes to disk in a thread (never on the event loop)."""
        if self._file is not None and (final or len(self._pending) >= WRITE_CHUNK):
            data, self._pending = bytes(self._pending), bytearray()
            await run_in_threadpool(self._file.write, data)
            if final:
                await run_in_threadpool(self._file.close)
                self._file = None

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.upload.cleanup()


def _bad_form(message: str) -> ApiError:
    return ApiError(422, message, "InvalidRequest")


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        f"The upload is larger than this server's limit of {max_bytes / MB:.1f} MB.",
        "UploadTooLarge",
    )


class ClientGone(Exception):
    """The client hung up before its request was answered (answered 499 in the log only)."""


async def read_upload(
    request: Request, tmp_dir: Path, max_bytes: int, deadline: float | None = None
) -> Upload:
    """Stream a multipart/form-data body: fields in memory, the image to ``tmp_dir``.

    The whole body must arrive within ``deadline`` seconds (None: no limit), else 408 and the
    connection is closed (a client trickling bytes holds nothing but its own connection).
    A client that hangs up while sending raises :class:`ClientGone`.
    """
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(
            415, "POST /animate takes multipart/form-data with an 'image' file.", "InvalidRequest"
        )
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD:
        raise _too_large(max_bytes)  # early; the limit is enforced while reading anyway
    reader = _FormReader(tmp_dir, max_bytes)
    try:
        with anyio.move_on_after(deadline) as scope:
            await _read_body(request, reader, params[b"boundary"], max_bytes)
    except FormParserError as exc:
        reader.discard()
        raise ApiError(400, f"The multipart body is malformed: {exc}", "InvalidRequest") from exc
    except ClientDisconnect as exc:
        reader.discard()
        raise ClientGone("the client went away while sending the upload") from exc
    except BaseException:
        reader.discard()
        raise
    if scope.cancelled_caught:
        reader.discard()
        raise ApiError(
            408,
            f"The upload did not arrive within {deadline:g} s; the connection is closed.",
            "RequestTimeout",
            {"Connection": "close"},
        )
    if reader.upload.path is None:
        raise _bad_form("The form has no 'image' file part (the image to animate).")
    reader.upload.extras = request.headers.get(EXTRAS_HEADER, "").strip() == "1"
    reader.upload.reference = request.headers.get(REFERENCE_HEADER, "").strip() == "1"
    return reader.upload


async def _read_body(request: Request, reader: _FormReader, boundary: bytes, limit: int) -> None:
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit + FORM_OVERHEAD:
            raise _too_large(limit)
        parser.write(chunk)
        await reader.flush()
    parser.finalize()
    await reader.flush(final=True)


# -- from form fields to a job -------------------------------------------------------------------


class FormWording(OptionNames):
    """The server's wording of options: its form fields, which are the option names."""

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        return f"GET /models lists the options of {model}."


FORM = FormWording()


def split_fields(
    desc: ModelDescriptor, fields: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(per-call parameters, model options, dropped field names) from the form fields.

    Empty strings mean "not given". A field this model ignores but another model knows
    (motion_bucket_id for kenburns, prompt for svd) is dropped; a field no model knows is an
    error, so a misspelt option is not silently ignored.
    """
    own = desc.Options.model_fields
    ignored = desc.ignored_parameters()
    overrides: dict[str, str] = {}
    extra: dict[str, str] = {}
    dropped: list[str] = []
    known = {key for model in list_models() for key in model.Options.model_fields}
    for key, value in fields.items():
        if key == "model" or value.strip() == "":
            continue
        if key in COMMON_PARAMETERS and key not in ignored:
            overrides[key] = value
        elif key in own and key not in ignored:
            extra[key] = value
        elif key in known or key in COMMON_PARAMETERS:
            dropped.append(key)
        else:
            raise InvalidOption(
                f"Unknown form field {key!r}; {desc.name} takes: {', '.join(own)}.",
                advice="GET /models lists the options of every model.",
                fields=(key,),
            )
    return overrides, extra, dropped


def working_box(
    image_size: tuple[int, int], out_size: tuple[int, int], options: object = None
) -> tuple[int, int] | None:
    """The box to shrink the source into: still covering the output at the tightest view of
    the request's ``options`` (:func:`camera_reach`; :data:`MAX_ZOOM` without options)."""
    reach = MAX_ZOOM if options is None else camera_reach(options)
    (src_w, src_h), (out_w, out_h) = image_size, out_size
    scale = max(out_w * reach / src_w, out_h * reach / src_h)
    if scale >= 1.0:
        return None
    return math.ceil(src_w * scale) + 2, math.ceil(src_h * scale) + 2


def camera_reach(options: object) -> float:
    """Source pixels per output pixel a request's tightest view needs: a Ken Burns camera's own
    final zoom times the engine's working margin (the engine shrinks a larger source to that
    anyway; a queued request then holds a third of the pixels at zoom 1.3); 1 for a model with
    no camera (a diffusers engine resizes the whole image to its output size)."""
    from imagear.engines.kenburns import WORK_MARGIN

    zoom = getattr(options, "zoom", None)
    return 1.0 if zoom is None else min(MAX_ZOOM, float(zoom)) * WORK_MARGIN


def decode_slack(options: object) -> float:
    """How much larger than its :func:`working_box` a request's image may be kept, as the
    reduction while decoding left it (JPEG's DCT scaling, a whole-factor reduce), rather than
    resampled here: :data:`imagear.media.UPLOAD_SLACK` for a model with no camera, whose engine
    resizes the image to its output size anyway (a 3000x2000 JPEG for 944x624 is decoded at 1/2
    and kept at 1500x1000: no Lanczos pass here as well); none for Ken Burns, whose decoded
    image is held at exactly what its camera needs."""
    from imagear.media import UPLOAD_SLACK

    return UPLOAD_SLACK if getattr(options, "zoom", None) is None else 1.0


_SMALLER = "Send a smaller derivative of the image (e.g. the reference copy)."


def check_image(path: Path, max_pixels: int, label: str = "The upload") -> tuple[int, int]:
    """The image's size, read from its header only (no pixels are decoded yet).

    Raises ImageTooLarge (413) over ``max_pixels`` or imagear.media's own bomb limit, and
    InvalidImage (415) when the content is not an image, whatever its label said.
    """
    from imagear.media import open_image

    try:
        img = open_image(path, load=False)
    except InvalidImage as exc:
        if _too_many_pixels(path):
            raise ImageTooLarge(relabel(exc, path, label).message, _SMALLER) from exc
        raise InvalidImage(
            f"{label} is not an image this server can read (a raster image: JPEG, PNG, TIFF, "
            "WebP, BMP, GIF, JPEG 2000).",
            advice="Send a complete image file; the part's Content-Type does not matter.",
        ) from exc
    with img:
        width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{label} is {width}x{height} pixels; this server decodes at most "
            f"{max_pixels:,} pixels.",
            advice=_SMALLER,
        )
    return width, height


def relabel(exc: InvalidImage, path: Path, label: str) -> InvalidImage:
    """The same error naming the upload rather than our temp file."""
    message = exc.message.replace(f"'{path}'", label).replace(str(path), label)
    advice = exc.advice.replace(str(path), label) if exc.advice else None
    return InvalidImage(message, advice)


def _too_many_pixels(path: Path) -> bool:
    """True when Pillow refuses the header as a decompression bomb (or it is over the limit)."""
    import warnings

    from PIL import Image

    from imagear import media

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with media.open_raster(path) as img:
                return img.size[0] * img.size[1] > media.MAX_IMAGE_PIXELS
    except Image.DecompressionBombError:
        return True
    except Exception:
        return False
