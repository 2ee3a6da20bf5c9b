"""The files the console serves: a record's clip (``GET /image-ar/{id}/video``, with HTTP Range
so seeking works: 206 Partial Content), its poster (the master image when the clip has none),
its animated preview and its master image.

Of ``storage_root`` only the clip the row names and its poster and preview are served
(:func:`imagear.store.file_of`: a file of the clip name pattern in the record's own
``uploads/ar/{id}/``, no symlink); masters only from ``images_root``. Any other stored path
(``..``, ``quarantine/``, another record's folder, a symlink) is a 404, as a missing file is.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from imagear import store
from imagear.app import App
from imagear.errors import ImagearError
from imagear.records import find_master, get_record
from imagear.web.deps import AppDep

NO_CLIP = "This record has no clip."


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
def video(object_id: int, app: AppDep) -> Response:
    return FileResponse(clip_of(app, object_id), media_type="video/mp4", headers=_cache())


@router.get("/image-ar/{object_id}/poster")
def poster(object_id: int, app: AppDep) -> Response:
    try:
        clip = clip_of(app, object_id)
    except HTTPException:
        clip = None
    jpg = store.companion_of(clip, store.POSTER_SUFFIX) if clip is not None else None
    if jpg is not None:
        return FileResponse(jpg, media_type="image/jpeg", headers=_cache())
    return FileResponse(master_of(app, object_id), headers=_cache())


@router.get("/image-ar/{object_id}/preview")
def preview(object_id: int, app: AppDep) -> Response:
    webp = store.companion_of(clip_of(app, object_id), store.PREVIEW_SUFFIX)
    if webp is None:
        raise HTTPException(404, "This clip has no preview.")
    return FileResponse(webp, media_type="image/webp", headers=_cache())


@router.get("/image-ar/{object_id}/master")
def master(object_id: int, app: AppDep) -> Response:
    return FileResponse(master_of(app, object_id), headers=_cache())


def _cache() -> dict[str, str]:
    # a clip is replaced under a new name, but its URL stays: browsers must revalidate
    return {"Cache-Control": "no-cache"}


__all__ = ["router"]
