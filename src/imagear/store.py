"""Where clips live on disk: naming, ``.part`` files, and the sweep of dead ones.

A record's clips live in ``{storage_root}/uploads/ar/{object_id}/`` (web path
``/uploads/ar/{object_id}/{file}``), named Heratio's way:
``{model without punctuation}_{source stem}_{last 6 digits of unix time}.mp4``.

A clip being written is a ``.part`` file in that folder, held under an exclusive ``flock`` while
it is written, so a sweep can tell a live download from one whose process died. A clip's poster
(``.jpg``) and preview (``.m4v``; clips made before it have an animated ``.webp``) have
its stem (:func:`companions`, :func:`preview_of`). The protocol
that swaps a new clip in and records it is :mod:`imagear.clips`; this module never touches the
database.

What a row may name (:func:`file_of`): only a file of the clip name pattern
(:data:`CLIP_NAME`) directly in its own record folder, the folder inside storage_root. Whatever
a tampered row says, imagear serves and deletes nothing else. A record folder that leads out
of storage_root (a symlink) is refused before anything is written (:func:`record_dir`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Collection, Iterator
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
CLIP_NAME = re.compile(r"[A-Za-z0-9]+_[^/\\\x00-\x1f\x7f]+_[0-9]{6}(?:_[0-9a-f]{6})?\.mp4")
"""A clip's file name, Heratio's and imagear's (:func:`clip_name`, :func:`unique_name`):
``{model}_{source stem}_{6 digits}[_{6 hex}].mp4``."""


def is_clip_name(name: str) -> bool:
    """Whether ``name`` is a plain file name of the clip name pattern."""
    return CLIP_NAME.fullmatch(name) is not None


def record_dir(config: Config, object_id: int) -> Path:
    """``{storage_root}/uploads/ar/{object_id}``; StorageError when that folder is a symlink,
    or leads out of storage_root (through a symlink above it)."""
    root = Path(config.storage_root)
    folder = root / "uploads" / "ar" / str(int(object_id))
    with contextlib.suppress(OSError, RuntimeError):  # a loop: mkdir fails, said there
        real = folder.resolve()
        if folder.is_symlink() or not real.is_relative_to(root.resolve()):
            raise StorageError(
                f"The record folder {folder} is a link to {real}, which imagear does not "
                "write through (it must be a plain folder inside storage_root); nothing was "
                "written."
            )
    return folder


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
    """Where an object_image_ar row's MP4 is on disk (resolved), or None when the row does not
    name a clip of its own: the file must have the clip name pattern (:data:`CLIP_NAME`), sit
    directly in ``uploads/ar/{object_id}/`` (``mp4_path``'s folder, when set, must be that
    one, and agree with ``mp4_filename``), not be a symlink, and stay inside storage_root."""
    try:
        object_id = int(clip.object_id)
    except (TypeError, ValueError):
        return None
    web = clip.mp4_path or ""
    name = clip.mp4_filename or web.rsplit("/", 1)[-1]
    if web and web.strip("/") != web_path(object_id, name).strip("/"):
        return None  # another folder, or the two columns disagree
    if not is_clip_name(name):
        return None
    try:
        folder = record_dir(config, object_id)
        path = safe_join(Path(config.storage_root), web_path(object_id, "").strip("/"), name)
    except (UnsafePath, StorageError):
        return None
    if path != folder.resolve() / name:  # a symlink: the file is elsewhere
        return None
    return path


def companion_of(clip: Path, suffix: str) -> Path | None:
    """The clip's poster or preview (``suffix``) when it is a regular file beside it (not a
    symlink), else None."""
    path = clip.with_suffix(suffix)
    return path if path.is_file() and not path.is_symlink() else None


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
PREVIEW_SUFFIX = ".m4v"  # an MP4: not named .mp4, so that nothing listing clips takes it for one
WEBP_PREVIEW_SUFFIX = ".webp"
COMPANION_SUFFIXES = (POSTER_SUFFIX, PREVIEW_SUFFIX, WEBP_PREVIEW_SUFFIX)
"""A clip's poster frame (JPEG) and preview (a small muted MP4; an animated WebP for clips made
before) sit beside it with its stem: every file that goes with the clip."""


def companions(clip: Path) -> list[Path]:
    """The poster and preview paths imagear writes for the clip at ``clip`` (whether they
    exist or not)."""
    return [clip.with_suffix(POSTER_SUFFIX), clip.with_suffix(PREVIEW_SUFFIX)]


def companion_files(clip: Path) -> list[Path]:
    """Every companion path the clip at ``clip`` may have (the WebP preview of older clips
    too): what goes when the clip goes."""
    return [clip.with_suffix(suffix) for suffix in COMPANION_SUFFIXES]


def preview_of(clip: Path) -> Path | None:
    """The clip's preview: its MP4, or the animated WebP of a clip made before; None: none."""
    return companion_of(clip, PREVIEW_SUFFIX) or companion_of(clip, WEBP_PREVIEW_SUFFIX)


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


def record_folders(config: Config) -> list[tuple[int, Path]]:
    """The record folders under ``uploads/ar`` (plain folders named by a record id, no
    symlinks), by id."""
    root = Path(config.storage_root) / "uploads" / "ar"
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    found = [
        (int(e.name), Path(e.path))
        for e in entries
        if e.name.isascii() and e.name.isdigit() and e.is_dir(follow_symlinks=False)
    ]
    return sorted(found)


def unnamed_files(folder: Path, named: Collection[str]) -> list[Path]:
    """The files in a record folder that imagear would have written and no row names: clips
    of the clip name pattern whose name is not in ``named`` (the file names a row gives), and
    the posters and previews of such clips. Plain files only: symlinks, dot files (``.part``),
    and any file not of a clip's name are never listed."""
    keep = set(named)
    found: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        suffix = next((s for s in (*COMPANION_SUFFIXES, ".mp4") if name.endswith(s)), "")
        clip = f"{name[: -len(suffix)]}.mp4" if suffix else ""
        if suffix and is_clip_name(clip) and clip not in keep:
            found.append(Path(entry.path))
    return sorted(found)


def unique_name(directory: Path, name: str) -> str:
    """``name``, or ``name`` with a random suffix, such that neither the clip nor its poster
    or preview exists in ``directory``. The companions count: another run may be removing an
    old clip of that name, its MP4 first, and would then remove our new poster and preview.
    (It removes the companions last, so once they are gone it is done with that name.)"""
    candidate = name
    while any(p.exists() for p in (directory / candidate, *companion_files(directory / candidate))):
        candidate = f"{name[:-4]}_{secrets.token_hex(3)}.mp4"
    return candidate


__all__ = [
    "COMPANION_SUFFIXES",
    "POSTER_SUFFIX",
    "PREVIEW_SUFFIX",
    "WEBP_PREVIEW_SUFFIX",
    "STALE_PART_SECS",
    "PartFile",
    "CLIP_NAME",
    "clip_name",
    "companion_files",
    "companion_of",
    "companions",
    "file_of",
    "preview_of",
    "is_clip_name",
    "part_file",
    "record_dir",
    "record_folders",
    "sweep_all_parts",
    "sweep_parts",
    "unique_name",
    "unnamed_files",
    "web_path",
]
