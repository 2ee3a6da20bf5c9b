"""A record's clip: swap a new one in atomically and log it, delete one, list the recent ones.

The replace protocol (:func:`commit_clip`):

1. the clip was written to a ``.part`` file in the record's folder (:mod:`imagear.store`);
2. under the per-record lock and inside one transaction (:func:`imagear.db.clips.replacing`):
   the row is read, the ``.part`` is renamed to its final name (``os.replace``), the row is
   updated in place or inserted, commit;
3. only after the commit are the old MP4 and any orphan MP4 (left by a run killed between
   rename and commit) deleted.

A failure before the commit removes the new file and leaves the old clip and row untouched.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagear import store
from imagear.app import App
from imagear.db import clips as clips_db
from imagear.db.schema import utcnow
from imagear.errors import AnimationNotFound, StorageError


@dataclass
class Stored:
    """The result of :func:`commit_clip`."""

    status: str  # created | replaced | skipped
    animation: dict[str, Any]
    file: Path | None
    removed: list[Path] = field(default_factory=list)


def _file_error(exc: OSError) -> StorageError:
    return StorageError(
        f"Storing the clip failed: {exc.strerror or exc} ({getattr(exc, 'filename', '')}).",
        "Check free space and permissions under storage_root; the previous clip is kept.",
    )


def commit_clip(
    app: App,
    object_id: int,
    part: store.PartFile,
    *,
    model: str,
    source_name: str,
    values: dict[str, Any],
    force: bool,
) -> Stored:
    """Make ``part`` the record's clip and log it: one transaction, old file removed after.

    ``values`` are the object_image_ar columns other than the ids, names and dates. When
    ``force`` is false and another run stored a clip meanwhile, ours is discarded (skipped).
    """
    directory = part.path.parent
    final: Path | None = None
    committed = False
    old_file: Path | None = None
    orphans: list[Path] = []
    try:
        with clips_db.replacing(app.engine, object_id) as slot:
            row = slot.row
            if row is not None and not force:
                part.discard()
                return Stored("skipped", row, store.file_of(app.config, row))
            old_file = store.file_of(app.config, row) if row is not None else None
            name = store.unique_name(directory, store.clip_name(model, source_name))
            final = directory / name
            orphans = [p for p in directory.glob("*.mp4") if p != old_file]
            os.replace(part.path, final)
            now = utcnow()
            status, animation = slot.write(
                {
                    **values,
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
        part.discard()
        if isinstance(exc, OSError):
            raise _file_error(exc) from exc
        raise
    part.release()
    removed = []
    for stale in ([old_file] if old_file is not None and old_file != final else []) + orphans:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return Stored(status, animation, final, removed)


def delete_clip(app: App, object_id: int) -> dict[str, Any]:
    """Delete the record's row (in a transaction, under the record lock), then its MP4."""
    data = clips_db.delete(app.engine, object_id)
    if data is None:
        raise AnimationNotFound(
            f"Record {object_id} has no animation to delete.",
            "See the clips with `imagear recent`.",
        )
    path = store.file_of(app.config, data)
    removed = False
    if path is not None:
        try:
            path.unlink()
            removed = True
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(
                f"The animation of record {object_id} was deleted, but its file {path} could "
                f"not be removed: {exc.strerror}.",
                "Remove the file by hand.",
            ) from exc
    return {**data, "file": str(path) if path else None, "file_removed": removed}


def recent_clips(app: App, n: int = 5) -> tuple[list[dict[str, Any]], int]:
    """The last ``n`` clips (newest first) with their record's identifier and title, and the
    total number of clips."""
    return clips_db.recent(app.engine, n)


__all__ = ["Stored", "commit_clip", "delete_clip", "recent_clips"]
