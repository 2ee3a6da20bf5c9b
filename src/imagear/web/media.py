"""The files the console serves: a record's clip (``GET|HEAD /image-ar/{id}/video``, with HTTP
Range so seeking works: 206 Partial Content), its poster (a still of the master when the clip
has none: :func:`imagear.display.still_for_display`), its preview (a small muted MP4, or an
older clip's animated WebP), a public still (``/still``) and its master image (signed-in users
only; a TIFF or JPEG 2000 master through AtoM's reference derivative, or
converted: :func:`imagear.display.master_for_display`).

A guest gets the clip, poster and preview of a published record only
(:data:`~imagear.web.deps.VisibleId`: anything else is a 404, as Heratio's video route answers),
and never the master. The clip carries Heratio's ``Cache-Control: private, max-age=0,
no-store``; what a signed-in user gets is never stored by a shared cache either.

Of ``storage_root`` only the clip the row names and its poster and preview are served
(:func:`imagear.store.file_of`: a file of the clip name pattern in the record's own
``uploads/ar/{id}/``, no symlink), and the display copies imagear made; masters only from
``images_root``. Any other stored path (``..``, ``quarantine/``, another record's folder, a
symlink) is a 404, as a missing file is.

An image is served as the type read from its bytes, never from its name (a PNG named
``x.html`` is ``image/png``), and only as one of :data:`IMAGE_TYPES` (else 415); every answer
here also carries ``nosniff`` and a sandboxing Content-Security-Policy
(:mod:`imagear.web.security`), so no stored file can run as a page of the console.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from imagear import store
from imagear.app import App
from imagear.display import master_for_display, still_for_display
from imagear.errors import ImagearError
from imagear.httperrors import status_of
from imagear.media import sniff_mime
from imagear.records import get_record
from imagear.web.auth import Who
from imagear.web.deps import AppDep, VisibleId, WhoDep

NO_CLIP = "This record has no clip."
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/jp2"}
)
"""The image types served (read from the bytes): raster formats a browser shows as images."""
HERATIO_CACHE = "private, max-age=0, no-store"  # what Heratio's video route sends


router = APIRouter()


def clip_of(app: App, object_id: int) -> Path:
    anim = get_record(app, object_id).animation  # RecordNotFound: 404
    clip = store.file_of(app.config, anim) if anim else None
    if clip is None or not clip.is_file():
        raise HTTPException(404, NO_CLIP)
    return clip


def _shown(find: Callable[[App, int], Path], app: App, object_id: int) -> Path:
    try:
        return find(app, object_id)
    except ImagearError as err:  # not there: 404; not an image: 415 (the shared table)
        raise HTTPException(status_of(err), err.message) from err


@router.api_route("/image-ar/{object_id}/video", methods=["GET", "HEAD"])
def video(object_id: VisibleId, app: AppDep) -> Response:
    headers = {"Cache-Control": HERATIO_CACHE, **_shared(app, object_id)}
    return FileResponse(clip_of(app, object_id), media_type="video/mp4", headers=headers)


@router.get("/image-ar/{object_id}/poster")
def poster(object_id: VisibleId, app: AppDep, who: WhoDep) -> Response:
    try:
        clip = clip_of(app, object_id)
    except HTTPException:
        clip = None
    jpg = store.companion_of(clip, store.POSTER_SUFFIX) if clip is not None else None
    if jpg is not None:
        response = image(jpg, who)
    else:
        response = image(_shown(still_for_display, app, object_id), who)
    response.headers.update(_shared(app, object_id))
    return response


def _shared(app: App, object_id: int) -> dict[str, str]:
    """CORS headers for a record a guest may see (IIIF viewers on other sites play its clip
    and show its poster: :mod:`imagear.web.iiif`); none for the others."""
    from imagear.publication import guest_may_see
    from imagear.web.iiif import CORS

    return dict(CORS) if guest_may_see(app, object_id) else {}


@router.get("/image-ar/{object_id}/still")
def still(object_id: VisibleId, app: AppDep, who: WhoDep) -> Response:
    """A derivative of the master that guests may see (a IIIF manifest's photograph): AtoM's
    reference derivative, else the master reduced to 1024 px; never the master itself."""
    response = image(_shown(still_for_display, app, object_id), who)
    response.headers.update(_shared(app, object_id))
    return response


@router.get("/image-ar/{object_id}/preview")
def preview(object_id: VisibleId, app: AppDep, who: WhoDep) -> Response:
    """The clip's preview: a small muted MP4 (``video/mp4``), or the animated WebP of a clip
    made before imagear wrote MP4 previews."""
    found = store.preview_of(clip_of(app, object_id))
    if found is None:
        raise HTTPException(404, "This clip has no preview.")
    if found.name.endswith(store.PREVIEW_SUFFIX):
        return FileResponse(found, media_type="video/mp4", headers=_cache(who))
    return image(found, who)


@router.get("/image-ar/{object_id}/master")
def master(object_id: VisibleId, app: AppDep, who: WhoDep) -> Response:
    """The archive's master, for signed-in users (a guest gets the same 404 as for nothing)."""
    if not who.signed_in:
        raise HTTPException(404, "There is nothing at this address.")
    return image(_shown(master_for_display, app, object_id), who)


def image(path: Path, who: Who) -> Response:
    """``path`` as the image type its bytes say; 415 when that is not one of IMAGE_TYPES."""
    try:
        mime = sniff_mime(path)
    except (ImagearError, OSError, ValueError):
        mime = ""
    if mime not in IMAGE_TYPES:
        raise HTTPException(415, "This file is not an image the console serves.")
    return FileResponse(path, media_type=mime, headers=_cache(who))


def _cache(who: Who) -> dict[str, str]:
    # a clip is replaced under a new name, but its URL stays: browsers must revalidate; what a
    # signed-in user sees (a draft's poster) is never kept by a shared cache
    return {"Cache-Control": HERATIO_CACHE if who.signed_in else "no-cache"}


__all__ = ["HERATIO_CACHE", "router"]
