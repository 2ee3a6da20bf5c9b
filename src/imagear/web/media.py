"""The files the console serves: a record's clip (``GET /image-ar/{id}/video``, with HTTP Range
so seeking works: 206 Partial Content), its poster (the master image when the clip has none),
its preview (a small MP4, or an older clip's animated WebP) and its master image.

Of ``storage_root`` only the clip the row names and its poster and preview are served
(:func:`imagear.store.file_of`: a file of the clip name pattern in the record's own
``uploads/ar/{id}/``, no symlink); masters only from ``images_root``. Any other stored path
(``..``, ``quarantine/``, another record's folder, a symlink) is a 404, as a missing file is.

An image is served as the type read from its bytes, never from its name (a PNG named
``x.html`` is ``image/png``), and only as one of :data:`IMAGE_TYPES` (else 415); every answer
here also carries ``nosniff`` and a sandboxing Content-Security-Policy
(:mod:`imagear.web.security`), so no stored file can run as a page of the console.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from imagear import store
from imagear.app import App
from imagear.errors import ImagearError
from imagear.media import sniff_mime
from imagear.records import find_master, get_record
from imagear.web.deps import AppDep, RecordId

NO_CLIP = "This record has no clip."
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/jp2"}
)
"""The image types served (read from the bytes): raster formats a browser shows as images."""


router = APIRouter()


def clip_of(app: App, object_id: int) -> Path:
    anim = get_record(app, object_id).animation  # RecordNotFound: 404
    clip = store.file_of(app.config, anim) if anim else None
    if clip is None or not clip.is_file():
        raise HTTPException(404, NO_CLIP)
    return clip


def master_of(app: App, object_id: int) -> Path:
    try:
        master = find_master(app, object_id)
    except ImagearError as err:
        raise HTTPException(404, err.message) from err
    return master.file


@router.get("/image-ar/{object_id}/video")
def video(object_id: RecordId, app: AppDep) -> Response:
    return FileResponse(clip_of(app, object_id), media_type="video/mp4", headers=_cache())


@router.get("/image-ar/{object_id}/poster")
def poster(object_id: RecordId, app: AppDep) -> Response:
    try:
        clip = clip_of(app, object_id)
    except HTTPException:
        clip = None
    jpg = store.companion_of(clip, store.POSTER_SUFFIX) if clip is not None else None
    if jpg is not None:
        return image(jpg)
    return image(master_of(app, object_id))


@router.get("/image-ar/{object_id}/preview")
def preview(object_id: RecordId, app: AppDep) -> Response:
    """The clip's preview: a small muted MP4 (``video/mp4``), or the animated WebP of a clip
    made before imagear wrote MP4 previews."""
    found = store.preview_of(clip_of(app, object_id))
    if found is None:
        raise HTTPException(404, "This clip has no preview.")
    if found.name.endswith(store.PREVIEW_SUFFIX):
        return FileResponse(found, media_type="video/mp4", headers=_cache())
    return image(found)


@router.get("/image-ar/{object_id}/master")
def master(object_id: RecordId, app: AppDep) -> Response:
    return image(master_of(app, object_id))


def image(path: Path) -> Response:
    """``path`` as the image type its bytes say; 415 when that is not one of IMAGE_TYPES."""
    try:
        mime = sniff_mime(path)
    except (ImagearError, OSError, ValueError):
        mime = ""
    if mime not in IMAGE_TYPES:
        raise HTTPException(415, "This file is not an image the console serves.")
    return FileResponse(path, media_type=mime, headers=_cache())


def _cache() -> dict[str, str]:
    # a clip is replaced under a new name, but its URL stays: browsers must revalidate
    return {"Cache-Control": "no-cache"}


__all__ = ["router"]
