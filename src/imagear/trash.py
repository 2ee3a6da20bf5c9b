"""Deleted clips kept for a while, so that a deletion can be undone (undo beats confirm).

:func:`delete_to_trash` deletes the record's clip row (as :func:`imagear.clips.delete_clip`
does, its review with it) but moves its MP4, poster and preview into
``{storage_root}/trash/{key}/`` instead of removing them, and keeps the row in
``imagear_trash``. :func:`restore` puts the last deleted clip of a record back (row and files)
unless a new clip was made since. Kept clips older than :data:`KEEP_HOURS` are purged
(:func:`purge`, run on every deletion and restore; ``now`` injectable). Never prints."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imagear import store
from imagear.app import App
from imagear.db import clips as clips_db
from imagear.db import trash as trash_db
from imagear.domain import Clip, to_json
from imagear.errors import AnimationNotFound, RecordNotFound, Refused, StorageError

KEEP_HOURS = 24.0  # how long a deleted clip can be restored


@dataclass(frozen=True)
class Trashed:
    """A deletion that can be undone until ``until``."""

    trash_id: int
    object_id: int
    until: datetime


def folder(app: App) -> Path:
    return Path(app.config.storage_root) / "trash"


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError:
        shutil.move(str(source), str(target))  # another file system


def delete_to_trash(
    app: App,
    object_id: int,
    by: str | None = None,
    now: datetime | None = None,
    clip_id: int | None = None,
) -> Trashed:
    """Delete the record's clip (with ``clip_id``: only while the record's row is that one),
    keeping it (row and files) for :data:`KEEP_HOURS`. RecordNotFound / AnimationNotFound as
    :func:`imagear.clips.delete_clip`."""
    now = now or datetime.now(UTC)
    purge(app, now)
    clip = clips_db.delete(app.engine, object_id, clip_id)
    if clip is None:
        if not clips_db.lookup(app.engine, object_id).record_exists:
            raise RecordNotFound(f"Record {object_id} does not exist.")
        raise AnimationNotFound(f"Record {object_id} has no animation to delete.")
    path = store.file_of(app.config, clip)
    kept = folder(app) / secrets.token_hex(8)
    moved: list[list[str]] = []
    if path is not None:
        for source in (path, *store.companion_files(path)):
            if not source.is_file():
                continue
            try:
                kept.mkdir(parents=True, exist_ok=True)
                _move(source, kept / source.name)
            except OSError as exc:
                raise StorageError(
                    f"The clip of record {object_id} was deleted, but {source.name} could not "
                    f"be moved to the trash: {exc.strerror}.",
                    "Check free space and permissions under storage_root.",
                ) from exc
            moved.append([str(source), str(kept / source.name)])
    row = json.dumps(to_json(clip), default=str)
    trash_id = trash_db.put(app.engine, object_id, row, json.dumps(moved), by)
    return Trashed(trash_id, object_id, now + timedelta(hours=KEEP_HOURS))


def _clip(row: str) -> dict[str, object]:
    values: dict[str, object] = json.loads(row)
    for key in ("created_at", "updated_at"):
        value = values.get(key)
        if isinstance(value, str):
            values[key] = datetime.fromisoformat(value)
    return values


def restore(app: App, object_id: int, now: datetime | None = None) -> Clip:
    """Put the record's last deleted clip back; the restored row. AnimationNotFound when
    nothing of the record is in the trash (never deleted, or purged); Refused when the record
    has a clip again (a new one was made since)."""
    purge(app, now or datetime.now(UTC))
    item = trash_db.latest(app.engine, object_id)
    if item is None:
        raise AnimationNotFound(
            f"Record {object_id} has no deleted clip to restore "
            f"(deleted clips are kept {KEEP_HOURS:g} hours)."
        )
    values = _clip(item.clip)
    pairs = [(Path(a), Path(b)) for a, b in json.loads(item.files)]
    with clips_db.replacing(app.engine, object_id) as slot:
        if slot.row is not None:
            raise Refused(
                f"Record {object_id} has a new clip since; the deleted one stays in the trash.",
                "Delete the new clip first to restore the old one.",
            )
        back: list[tuple[Path, Path]] = []
        try:
            for original, kept in pairs:
                if original.exists():
                    raise Refused(f"A file named {original.name} is in the way of the restore.")
                original.parent.mkdir(parents=True, exist_ok=True)
                _move(kept, original)
                back.append((original, kept))
            columns = {k: v for k, v in values.items() if k in clips_db.COLUMNS}
            columns.pop("id", None)
            columns.pop("object_id", None)
            _status, clip = slot.write(columns)
            slot.commit()
        except BaseException:
            for original, kept in back:  # the files go back to the trash
                _move(original, kept)
            raise
    trash_db.forget(app.engine, item.id)
    if pairs:
        shutil.rmtree(pairs[0][1].parent, ignore_errors=True)
    return clip


def purge(app: App, now: datetime) -> int:
    """Forget the clips deleted more than :data:`KEEP_HOURS` before ``now`` (rows and files);
    how many."""
    old = trash_db.older_than(app.engine, now - timedelta(hours=KEEP_HOURS))
    for item in old:
        for _original, kept in json.loads(item.files):
            shutil.rmtree(Path(kept).parent, ignore_errors=True)
        trash_db.forget(app.engine, item.id)
    return len(old)


__all__ = ["KEEP_HOURS", "Trashed", "delete_to_trash", "folder", "purge", "restore"]
