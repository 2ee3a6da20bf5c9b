"""A record's clip: swap a new one in atomically and log it, delete one, list the recent ones.

The replace protocol (:func:`commit_clip`):

1. the clip was written to a ``.part`` file in the record's folder (:mod:`imagear.store`), and
   passed the quality gate; its poster (``.jpg``) and preview (``.m4v``) were written to
   ``.part`` files beside it;
2. under the per-record lock and inside one transaction (:func:`imagear.db.clips.replacing`):
   the row is read, the ``.part`` files are renamed to their final names, one stem
   (``os.replace``), the old row (if any) is deleted and the new one inserted (a new id, as
   Heratio replaces a clip), commit;
3. only after the commit is the old MP4 (the one the replaced row named) deleted, with its
   poster and preview.

A failure before the commit removes the new files and leaves the old clip and row untouched.

imagear removes only the files named by the row it replaces or deletes (and its own ``.part``
files): never another MP4 in the folder, which may be another database's clip sharing this
storage_root, or one Heratio has written and not yet recorded. :func:`imagear.store.file_of`
refuses a row that names anything but a clip of its own record folder. Files no row names are
listed (and on request removed) by ``imagear check --repair`` (:mod:`imagear.audit`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from imagear import store
from imagear.app import App
from imagear.db import clips as clips_db
from imagear.domain import Clip, DeletedClip, RecentClip
from imagear.errors import AnimationNotFound, RecordNotFound, StorageError
from imagear.generation.values import NewClip


@dataclass
class Stored:
    """The result of :func:`commit_clip`."""

    status: str  # created | replaced | skipped
    animation: Clip
    file: Path | None
    removed: list[Path] = field(default_factory=list)
    companions: dict[str, Path] = field(default_factory=dict)  # suffix -> poster / preview


def _file_error(exc: OSError) -> StorageError:
    return StorageError(
        f"Storing the clip failed: {exc.strerror or exc} ({getattr(exc, 'filename', '')}).",
        "Check free space and permissions under storage_root; the previous clip is kept.",
    )


def _columns(clip: NewClip) -> dict[str, object]:
    """The object_image_ar columns of ``clip`` other than the ids, names and dates."""
    return {
        "digital_object_id": clip.digital_object_id,
        "mp4_size": clip.size_bytes,
        "mp4_duration_secs": clip.duration_secs,
        "mp4_width": clip.width,
        "mp4_height": clip.height,
        "mp4_fps": clip.fps,
        "mp4_motion": clip.motion,
        "ai_model": clip.model,
        "ai_prompt": clip.prompt,
        "ai_seed": clip.seed,
        "ai_motion_bucket_id": clip.motion_bucket_id,
        "generation_secs": clip.generation_secs,
        "created_by": clip.created_by,
    }


def commit_clip(
    app: App,
    object_id: int,
    part: store.PartFile,
    clip: NewClip,
    *,
    force: bool,
    companions: Mapping[str, store.PartFile] | None = None,
) -> Stored:
    """Make ``part`` the record's clip and log it: one transaction, old files removed after.

    ``clip`` (:class:`~imagear.generation.values.NewClip`) says what becomes the row.
    ``companions`` maps a suffix (``.jpg``, ``.webp``) to the ``.part`` file of the clip's
    poster or preview, renamed with it to the clip's stem. When ``force`` is false and another
    run stored a clip meanwhile, ours is discarded (skipped).
    """
    directory = part.path.parent
    extras = dict(companions or {})
    placed: dict[str, Path] = {}
    final: Path | None = None
    committed = False
    old_file: Path | None = None
    try:
        with clips_db.replacing(app.engine, object_id) as slot:
            row = slot.row
            if row is not None and row.has_video and not force:  # a row with no video: ours
                part.discard()
                for extra in extras.values():
                    extra.discard()
                return Stored("skipped", row, store.file_of(app.config, row))
            old_file = store.file_of(app.config, row) if row is not None else None
            name = store.unique_name(directory, store.clip_name(clip.model, clip.source_name))
            final = directory / name
            os.replace(part.path, final)
            for suffix, extra in extras.items():
                target = final.with_suffix(suffix)
                os.replace(extra.path, target)
                placed[suffix] = target
            now = clips_db.now(app.engine)  # Heratio's DATETIMEs: the configured zone
            status, animation = slot.write(
                {
                    **_columns(clip),
                    "mp4_filename": name,
                    "mp4_path": store.web_path(object_id, name),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            slot.commit()
            committed = True
    except BaseException as exc:
        if committed:  # interrupted after the commit: the new clip stands
            raise
        if final is not None:
            final.unlink(missing_ok=True)
        for placed_file in placed.values():
            placed_file.unlink(missing_ok=True)
        part.discard()
        for extra in extras.values():
            extra.discard()
        if isinstance(exc, OSError):
            raise _file_error(exc) from exc
        raise
    part.release()
    for extra in extras.values():
        extra.release()
    removed = []
    if old_file is not None and (final is None or old_file.name != final.name):
        for path in [old_file, *store.companion_files(old_file)]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return Stored(status, animation, final, removed, placed)


def record_of_clip(app: App, clip_id: int) -> int:
    """The record of clip row ``clip_id`` (``object_image_ar.id``, the id Heratio's delete
    route takes); AnimationNotFound when there is no such row."""
    object_id = clips_db.record_of_clip(app.engine, clip_id)
    if object_id is None:
        raise AnimationNotFound(f"There is no clip with the id {clip_id}.")
    return object_id


def delete_clip(app: App, object_id: int, clip_id: int | None = None) -> DeletedClip:
    """Delete the record's row (in a transaction, under the record lock), then its MP4, poster
    and preview (``removed``: the files that were there), then the record's clip folder when
    that left it empty. RecordNotFound when there is no such record, AnimationNotFound when it
    has no clip (or, with ``clip_id``, when its clip row is no longer that one)."""
    data = clips_db.delete(app.engine, object_id, clip_id)
    if data is None:
        if not clips_db.lookup(app.engine, object_id).record_exists:
            raise RecordNotFound(f"Record {object_id} does not exist.")
        raise AnimationNotFound(
            f"Record {object_id} has no animation to delete.",
            "See the clips with `imagear recent`.",
        )
    path = store.file_of(app.config, data)
    removed = False
    gone: list[str] = []
    if path is not None:
        for index, target in enumerate([path, *store.companion_files(path)]):
            try:
                target.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(
                    f"The animation of record {object_id} was deleted, but its file {target} "
                    f"could not be removed: {exc.strerror}.",
                    "Remove the file by hand.",
                ) from exc
            removed = removed or index == 0
            gone.append(str(target))
    with contextlib.suppress(OSError, StorageError):  # not empty, or a link: kept
        store.record_dir(app.config, object_id).rmdir()
    return DeletedClip(data, str(path) if path else None, removed, gone)


def recent_clips(app: App, n: int = 5) -> tuple[list[RecentClip], int]:
    """The last ``n`` clips (newest first) with their record's identifier and title, and the
    total number of clips. Each row also names its ``poster`` and ``preview`` files (None when
    the clip has none, e.g. one made before imagear wrote them, or by Heratio)."""
    rows, total = clips_db.recent(app.engine, n)
    for row in rows:
        clip = store.file_of(app.config, row.clip)
        poster = store.companion_of(clip, store.POSTER_SUFFIX) if clip else None
        preview = store.preview_of(clip) if clip else None
        row.poster = str(poster) if poster else None
        row.preview = str(preview) if preview else None
    return rows, total


__all__ = ["Stored", "commit_clip", "delete_clip", "recent_clips", "record_of_clip"]
