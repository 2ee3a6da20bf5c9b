"""Images a browser can show, for the web console: a record's master as it is when browsers
show its type (JPEG, PNG, GIF, WebP), else AtoM's reference derivative (usage 141, made for
display), else a JPEG converted from the master on first use and kept in
``{storage_root}/display/{record id}/`` (named by the master's size and time, so a changed
master is converted again). TIFF and JPEG 2000 masters, the archive norm, go through here.

:func:`master_for_display` is the signed-in users' view of the master (large);
:func:`still_for_display` the poster of a record without a clip, which guests see too: never
the master itself, a derivative no larger than :data:`STILL_SIDE`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import ImagearError, StorageError
from imagear.records import find_master, master_places

if TYPE_CHECKING:
    from imagear.app import App
    from imagear.domain import MasterImage

BROWSER_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MASTER_SIDE = 4096  # a converted master fits in this square
STILL_SIDE = 1024  # a poster made from the master fits in this square
CACHE = "display"


def _mime(path: Path) -> str:
    from imagear.media import sniff_mime

    try:
        return sniff_mime(path)
    except (ImagearError, OSError, ValueError):
        return ""


def _reference(app: App, object_id: int, master: MasterImage) -> Path | None:
    """AtoM's reference derivative of ``master`` on disk, when it is there and browsers show it."""
    from imagear.db.derivatives import reference_of

    row = reference_of(app.engine, master.digital_object_id)
    if row is None:
        return None
    try:
        places = master_places(app.config.images_root, object_id, row["path"], row["name"])
    except ImagearError:
        return None
    found = next((p for p in places if p.is_file()), None)
    return found if found is not None and _mime(found) in BROWSER_TYPES else None


def _converted(app: App, object_id: int, master: MasterImage, side: int) -> Path:
    """The master as a JPEG fitting ``side`` x ``side``, made once and cached."""
    from imagear.media import prepare_image

    stat = master.file.stat()
    key = f"{master.file}|{stat.st_size}|{stat.st_mtime_ns}|{side}"
    name = f"{side}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jpg"
    folder = Path(app.config.storage_root) / CACHE / str(int(object_id))
    target = folder / name
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{side}-*.jpg"):  # an earlier version of the master
            with contextlib.suppress(OSError):
                old.unlink()
        img = prepare_image(master.file, (side, side))
        part = folder / f".{name}.{os.getpid()}.part"
        try:
            img.save(part, "JPEG", quality=88)
            os.replace(part, target)
        finally:
            img.close()
            with contextlib.suppress(OSError):
                part.unlink()
    except OSError as exc:
        raise StorageError(f"Cannot write a display copy of record {object_id}'s master.") from exc
    return target


def master_for_display(app: App, object_id: int) -> Path:
    """The master when browsers show its type; else its reference derivative; else a JPEG
    converted from it (cached). NotFound errors as :func:`imagear.records.find_master`."""
    master = find_master(app, object_id)
    if _mime(master.file) in BROWSER_TYPES:
        return master.file
    return _reference(app, object_id, master) or _converted(app, object_id, master, MASTER_SIDE)


def still_for_display(app: App, object_id: int) -> Path:
    """A still of the record for a poster: the reference derivative, else the master reduced
    to :data:`STILL_SIDE` (cached); the master file itself only when it is already that small
    and of a type browsers show."""
    master = find_master(app, object_id)
    found = _reference(app, object_id, master)
    if found is not None:
        return found
    if _mime(master.file) in BROWSER_TYPES and _fits(master.file, STILL_SIDE):
        return master.file
    return _converted(app, object_id, master, STILL_SIDE)


def _fits(path: Path, side: int) -> bool:
    from imagear.media import open_image

    try:
        with open_image(path, load=False) as img:
            return max(img.size) <= side
    except (ImagearError, OSError):
        return False


__all__ = ["BROWSER_TYPES", "master_for_display", "still_for_display"]
