"""The temp folder of `imagear serve` (uploads and clips in flight), and what a killed server
left behind.

A running server holds a shared ``flock`` on ``.imagear-serve.lock`` in its folder for as long
as it runs. When a server starts it removes what servers that died without cleaning up (killed
with -9, power loss) left:

- with its own fresh folder (no ``tmp_dir`` set): every other ``imagear-serve-*`` folder of
  this user in the system temp folder whose lock nobody holds;
- with a configured ``tmp_dir``: the ``upload-*`` and ``clip-*`` files in it, unless another
  live server shares the folder (then the files may be that server's, and stay).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("imagear.server")

PREFIX = "imagear-serve-"
LOCK_NAME = ".imagear-serve.lock"
UNLOCKED_GRACE_SECS = 3600.0  # a folder without a lock file: only once it is this old
_LEFTOVERS = ("upload-*", "clip-*")


class TempFolder:
    """One server's temp folder, locked while the server runs (see the module docstring)."""

    def __init__(self, configured: Path | None) -> None:
        self.configured = configured
        self.path: Path | None = None
        self._fd = -1

    def open(self) -> Path:
        """Make (or take) the folder, lock it, and remove what dead servers left."""
        if self.configured is not None:
            self.configured.mkdir(parents=True, exist_ok=True)
            self.path = self.configured
            if self._lock(exclusive_first=True):
                removed = sum(_remove_files(self.path, pattern) for pattern in _LEFTOVERS)
                if removed:
                    log.info("removed %d file(s) a stopped server left in %s", removed, self.path)
            return self.path
        sweep_dead_folders(Path(tempfile.gettempdir()))
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))
        self._lock(exclusive_first=False)
        return self.path

    def close(self) -> None:
        """Unlock; remove the folder when it is our own (not a configured one)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.configured is None and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        self.path = None

    def _lock(self, exclusive_first: bool) -> bool:
        """Hold the folder's lock (shared); True when no other live server holds it."""
        assert self.path is not None
        try:
            self._fd = os.open(self.path / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:  # a read-only folder: run anyway, clean nothing
            log.warning("cannot lock the temp folder %s: %s", self.path, exc.strerror)
            return False
        alone = True
        if exclusive_first:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                alone = False
        with contextlib.suppress(OSError):  # shared from now on: others may share the folder
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return alone


def _remove_files(folder: Path, pattern: str) -> int:
    count = 0
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            path.unlink()
            count += 1
    return count


def sweep_dead_folders(root: Path) -> list[Path]:
    """Remove the ``imagear-serve-*`` folders under ``root`` (this user's) that no running
    server holds; returns them."""
    removed: list[Path] = []
    try:
        candidates = list(root.glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for folder in candidates:
        with contextlib.suppress(OSError):
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            if _dead(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
                log.info("removed %s, left by a server that stopped without cleaning up", folder)
    return removed


def _dead(folder: Path) -> bool:
    lock = folder / LOCK_NAME
    if not lock.exists():  # being made right now, or made by an older imagear: wait an hour
        return time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_SECS
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live server holds it
    finally:
        os.close(fd)
    return True


__all__ = ["LOCK_NAME", "PREFIX", "TempFolder", "sweep_dead_folders"]
