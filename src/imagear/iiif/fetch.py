"""Masters from IIIF Image API services, over HTTP: the info.json read, the smallest image
that covers :data:`~imagear.iiif.image.NEED` fetched (:func:`~imagear.iiif.image.plan`: one
scaled request, a listed size, or level 0's tiles put together), and kept in a cache under
``{storage_root}/iiif-cache/`` so a record animated again asks nothing of the service.

Connect and read timeouts, a byte cap on every answer and a pixel cap on the image; every
failure is one :class:`~imagear.errors.MediaError` line: unreachable, not a IIIF service, too
big, or a 401/403 that needs the IIIF Authentication flow (imagear cannot sign in)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import MediaError
from imagear.iiif import is_remote
from imagear.iiif.image import NEED, ImageInfo, Plan, info_url, parse_info, plan
from imagear.iiif.values import ImageService, MasterView

if TYPE_CHECKING:
    import httpx

    from imagear.app import App
    from imagear.config import Config
    from imagear.domain import MasterImage

MAX_INFO_BYTES = 1 << 20
MAX_IMAGE_BYTES = 64 << 20
MAX_PIXELS = 60_000_000
CONNECT_SECS, READ_SECS = 5.0, 30.0
CACHE = "iiif-cache"


@dataclass(frozen=True)
class FetchedMaster:
    """A master fetched (or found in the cache): the JPEG and the service's info."""

    file: Path
    info: ImageInfo


def cache_folder(config: Config, url: str) -> Path:
    key = hashlib.sha256(info_url(url).encode()).hexdigest()[:24]
    return config.storage_root / CACHE / key


def cached_file(config: Config, url: str, need: int = NEED) -> Path:
    """Where the master of the service at ``url`` is (or will be) cached."""
    return cache_folder(config, url) / f"master-{need}.jpg"


def cached_info(config: Config, url: str) -> ImageInfo | None:
    try:
        text = (cache_folder(config, url) / "info.json").read_text(encoding="utf-8")
        return parse_info(json.loads(text), info_url(url))
    except (OSError, ValueError, MediaError):
        return None


def service_of(app: App, master: MasterImage) -> MasterView | None:
    """The manifest's view of a master that came from a IIIF service (its full size and the
    service), from the cached info.json; None for a local master or one never fetched."""
    if not is_remote(master.path):
        return None
    info = cached_info(app.config, master.path)
    if info is None:
        return None
    return MasterView(
        info.width, info.height, "image/jpeg", ImageService(info.id, info.version, info.level)
    )


def fetch_master(
    config: Config,
    url: str,
    need: int = NEED,
    *,
    transport: httpx.BaseTransport | None = None,
) -> FetchedMaster:
    """The master of the IIIF service at ``url``, at least ``need`` pixels on its long side
    (or its full size when smaller): from the cache, else fetched and cached."""
    file = cached_file(config, url, need)
    info = cached_info(config, url)
    if info is not None and file.is_file():
        return FetchedMaster(file, info)
    import httpx

    timeout = httpx.Timeout(READ_SECS, connect=CONNECT_SECS)
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as client:
        where = info_url(url)
        raw = _get(client, where, MAX_INFO_BYTES, "info.json")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise MediaError(
                f"{where} is not a IIIF Image service (its info.json is not JSON).",
                "Give the address of a IIIF Image API service: its base URI or its info.json.",
                params={"url": url},
            ) from exc
        info = parse_info(data, where)
        todo = plan(info, need)
        if todo.width * todo.height > MAX_PIXELS:
            raise MediaError(
                f"The image at {info.id} is too big: the service offers no size under "
                f"{MAX_PIXELS // 1_000_000} megapixels ({todo.width}x{todo.height}).",
                "Ask the image server for a level 1 or 2 service, or listed sizes.",
                params={"url": url},
            )
        _write(file, _assemble(client, todo))
        _write(file.parent / "info.json", json.dumps(data).encode())
    return FetchedMaster(file, info)


def _get(client: httpx.Client, url: str, cap: int, what: str) -> bytes:
    import httpx

    try:
        with client.stream("GET", url) as response:
            status = response.status_code
            if status in (401, 403):
                raise MediaError(
                    f"The IIIF service at {url} answered {status}: the image needs the IIIF "
                    "Authentication flow (a sign-in at the image server), which imagear "
                    "cannot follow.",
                    "Ask the archive for an open derivative, or download the image and add "
                    "the file.",
                    params={"url": url, "status": status},
                )
            if status >= 400:
                raise MediaError(
                    f"The IIIF service answered HTTP {status} for its {what} ({url}).",
                    "Check the address of the image service.",
                    params={"url": url, "status": status},
                )
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > cap:
                raise _too_big(url, cap)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise _too_big(url, cap)
            return bytes(body)
    except httpx.TimeoutException as exc:
        raise MediaError(
            f"The IIIF service at {url} did not answer in time ({type(exc).__name__}).",
            "Check that the image server is up, or retry later.",
            params={"url": url},
        ) from exc
    except httpx.HTTPError as exc:
        raise MediaError(
            f"The IIIF service at {url} cannot be reached ({exc or type(exc).__name__}).",
            "Check the address and that the image server is up.",
            params={"url": url},
        ) from exc


def _too_big(url: str, cap: int) -> MediaError:
    return MediaError(
        f"The answer of {url} is too big (over {cap // (1 << 20)} MB); nothing was kept.",
        "Ask the image server for a smaller size, or download the image and add the file.",
        params={"url": url},
    )


def _assemble(client: httpx.Client, todo: Plan) -> bytes:
    """The JPEG of the planned image (the one request's, or the tiles put together)."""
    import io

    from PIL import Image

    def load(piece_url: str) -> Image.Image:
        data = _get(client, piece_url, MAX_IMAGE_BYTES, "image")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise _too_big(piece_url, MAX_IMAGE_BYTES)
                return im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise MediaError(
                f"{piece_url} is not an image imagear can read ({exc}).",
                "Check the image service.",
                params={"url": piece_url},
            ) from exc

    if len(todo.pieces) == 1:
        canvas = load(todo.pieces[0].url)
    else:
        canvas = Image.new("RGB", (todo.width, todo.height))
        for piece in todo.pieces:
            tile = load(piece.url)
            canvas.paste(tile, (piece.x, piece.y))
            tile.close()
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=92)
    canvas.close()
    return out.getvalue()


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".part-{secrets.token_hex(6)}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"Could not write the IIIF cache file {dest}: {exc.strerror}.") from exc


__all__ = [
    "FetchedMaster",
    "cached_file",
    "cached_info",
    "fetch_master",
    "is_remote",
    "service_of",
]
