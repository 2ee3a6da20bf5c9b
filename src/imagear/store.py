"""Where clips live on disk: naming, ``.part`` files, and the sweep of dead ones.

A record's clips live in ``{storage_root}/uploads/ar/{object_id}/`` (web path
``/uploads/ar/{object_id}/{file}``), named Heratio's way:
``{model without punctuation}_{source stem}_{last 6 digits of unix time}.mp4``.

A clip being written is a ``.part`` file in that folder, held under an exclusive ``flock`` while
it is written, so a sweep can tell a live download from one whose process died. A clip's poster
(``.jpg``) and preview (``.webp``) have its stem (:func:`companions`). The protocol
that swaps a new clip in and records it is :mod:`imagear.clips`; this module never touches the
database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.config import Config
from imagear.errors import StorageError, UnsafePath
from imagear.records import safe_join

if TYPE_CHECKING:
    from imagear.domain import Clip

STALE_PART_SECS = 3600
_STEM = re.compile(r"[^A-Za-z0-9_-]+")


def record_dir(config: Config, object_id: int) -> Path:
    """``{storage_root}/uploads/ar/{object_id}``."""
    return Path(config.storage_root) / "uploads" / "ar" / str(int(object_id))


def web_path(object_id: int, filename: str) -> str:
    """``/uploads/ar/{object_id}/{filename}``, as Heratio stores it in ``mp4_path``."""
    return f"/uploads/ar/{int(object_id)}/{filename}"


def clip_name(model: str, source_name: str, now: float | None = None) -> str:
    """Heratio's file name: ``svdxt_photo_123456.mp4`` for svd-xt, photo.tif."""
    model_part = re.sub(r"[^A-Za-z0-9]", "", model) or "clip"
    stem = _STEM.sub("_", Path(source_name).stem).strip("_")[:80] or "image"
    stamp = str(int(now if now is not None else time.time()))[-6:]
    return f"{model_part}_{stem}_{stamp}.mp4"


def file_of(config: Config, clip: Clip) -> Path | None:
    """Where a clip's MP4 is on disk; None when its stored path would leave storage_root."""
    web = clip.mp4_path or ""
    name = clip.mp4_filename or web.rsplit("/", 1)[-1]
    folder = web.rsplit("/", 1)[0] if "/" in web else ""
    try:
        return safe_join(Path(config.storage_root), folder, name)
    except UnsafePath:
        return None


# -- .part files -------------------------------------------------------------------------------


@dataclass
class PartFile:
    """A ``.part`` file in a record folder, flock-ed while this process is writing it."""

    path: Path
    fd: int = -1

    def release(self) -> None:
        """Close (and so unlock) the file; the file itself stays."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """Remove the file (if still there) and release it."""
        self.path.unlink(missing_ok=True)
        self.release()


@contextlib.contextmanager
def part_file(directory: Path, model: str, suffix: str = ".mp4") -> Iterator[PartFile]:
    """Create a locked ``.{model}-{random}{suffix}.part`` in ``directory``; removed on failure."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stem = f".{re.sub(r'[^A-Za-z0-9]', '', model)}-{secrets.token_hex(4)}"
        path = directory / f"{stem}{suffix}.part"
        # 0o666 less the umask, as any new file (0644 under umask 022): a web server serves it
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
    except OSError as exc:
        raise StorageError(
            f"Cannot create a file in {directory}: {exc.strerror}.",
            "Check storage_root (`imagear config show`): it must be writable.",
        ) from exc
    part = PartFile(path, fd)
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield part
    except BaseException:
        part.discard()
        raise
    finally:
        part.release()


def sweep_parts(directory: Path, max_age: float = STALE_PART_SECS) -> list[Path]:
    """Remove ``.part`` files whose writer is gone (unlocked) or that are older than max_age."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    now = time.time()
    for path in directory.glob("*.part"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                dead = True
            except BlockingIOError:
                dead = False
            except OSError:  # no flock here: fall back to the age rule
                dead = False
            old = now - os.fstat(fd).st_mtime > max_age
            if dead or old:
                path.unlink(missing_ok=True)
                removed.append(path)
        finally:
            os.close(fd)
    return removed


POSTER_SUFFIX = ".jpg"
PREVIEW_SUFFIX = ".webp"
COMPANION_SUFFIXES = (POSTER_SUFFIX, PREVIEW_SUFFIX)
"""A clip's poster frame (JPEG) and animated preview (WebP) sit beside it with its stem."""


def companions(clip: Path) -> list[Path]:
    """The poster and preview paths of the clip at ``clip`` (whether they exist or not)."""
    return [clip.with_suffix(suffix) for suffix in COMPANION_SUFFIXES]


def sweep_all_parts(config: Config, max_age: float = STALE_PART_SECS) -> list[Path]:
    """:func:`sweep_parts` in every record folder under storage_root: the ``.part`` files of
    runs that died beside records that already have a clip (which no animate call visits)."""
    root = Path(config.storage_root) / "uploads" / "ar"
    removed: list[Path] = []
    try:
        folders = [entry for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    except OSError:  # no storage yet, or unreadable: nothing to sweep
        return removed
    for entry in folders:
        with contextlib.suppress(OSError):
            removed += sweep_parts(Path(entry.path), max_age)
    return removed


def unique_name(directory: Path, name: str) -> str:
    """``name``, or ``name`` with a random suffix, such that neither the clip nor its poster
    or preview exists in ``directory``. The companions count: another run may be removing an
    old clip of that name, its MP4 first, and would then remove our new poster and preview.
    (It removes the companions last, so once they are gone it is done with that name.)"""
    candidate = name
    while any(p.exists() for p in (directory / candidate, *companions(directory / candidate))):
        candidate = f"{name[:-4]}_{secrets.token_hex(3)}.mp4"
    return candidate


__all__ = [
    "COMPANION_SUFFIXES",
    "POSTER_SUFFIX",
    "PREVIEW_SUFFIX",
    "STALE_PART_SECS",
    "PartFile",
    "clip_name",
    "companions",
    "file_of",
    "part_file",
    "record_dir",
    "sweep_all_parts",
    "sweep_parts",
    "unique_name",
    "web_path",
]
