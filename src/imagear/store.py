"""Where clips live, and how a new clip replaces the old one atomically.

A record's clips live in ``{storage_root}/uploads/ar/{object_id}/`` (web path
``/uploads/ar/{object_id}/{file}``), named Heratio's way:
``{model without punctuation}_{source stem}_{last 6 digits of unix time}.mp4``.

The replace protocol (:func:`commit_clip`):

1. the clip is written to a ``.part`` file in that folder, held under an exclusive ``flock``
   while it is written (so a sweep can tell a live download from one whose process died);
2. under a per-record lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: ``BEGIN IMMEDIATE``,
   the database's writer lock) and inside one transaction: the row is read, the ``.part`` is
   renamed to its final name (``os.replace``), the row is updated in place or inserted, commit;
3. only after the commit are the old MP4 and any orphan MP4 (left by a run killed between
   rename and commit) deleted.

A failure before the commit removes the new file and leaves the old clip and row untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from imagear.app import App
from imagear.config import Config
from imagear.db import InformationObject, ObjectImageAr, utcnow
from imagear.errors import AnimationNotFound, StorageError, UnsafePath
from imagear.records import safe_join

STALE_PART_SECS = 3600
_LOCK_NAMESPACE = 7243101  # pg_advisory_xact_lock(namespace, object_id); db.py boots on 7243100
_STEM = re.compile(r"[^A-Za-z0-9_-]+")

# The statements of the commit path, built once (it runs once per record of a batch).
_AR: Table = ObjectImageAr.__table__  # type: ignore[attr-defined]
_AR_COLUMNS = tuple(c.name for c in _AR.c)
_ROW_OF = sa_select(_AR).where(_AR.c.object_id == bindparam("object_id"))
_INSERT = insert(_AR)
_UPDATE = update(_AR).where(_AR.c.id == bindparam("row_id"))
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:ns, :key)")


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


def file_of(config: Config, row: ObjectImageAr | dict[str, Any]) -> Path | None:
    """Where a row's MP4 is on disk; None when its stored path would leave storage_root."""
    data = row if isinstance(row, dict) else row.model_dump()
    web = str(data.get("mp4_path") or "")
    name = data.get("mp4_filename") or web.rsplit("/", 1)[-1]
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
def part_file(directory: Path, model: str) -> Iterator[PartFile]:
    """Create a locked ``.{model}-{random}.mp4.part`` in ``directory``; removed on failure."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f".{re.sub(r'[^A-Za-z0-9]', '', model)}-{secrets.token_hex(4)}.mp4.part"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
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


# -- the per-record lock -----------------------------------------------------------------------


def lock_record(session: Session, object_id: int) -> None:
    """Take the per-record write lock for the rest of this transaction."""
    _lock(session.connection(), object_id)


def _lock(conn: Connection, object_id: int) -> None:
    """:func:`lock_record` on a Connection: the transaction begins here (SQLite: the writer
    lock itself, so the row read next is the latest committed one)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK, {"ns": _LOCK_NAMESPACE, "key": int(object_id) % 2**31})
    elif conn.dialect.name == "sqlite":
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def animation_row(values: Any) -> dict[str, Any]:
    """An object_image_ar row as a dict keyed by column (what ``row.model_dump()`` gives), from
    a result mapping or a dict; columns it lacks are None."""
    return {name: values.get(name) for name in _AR_COLUMNS}


def _storage_error(exc: Exception) -> StorageError:
    if isinstance(exc, OSError):
        return StorageError(
            f"Storing the clip failed: {exc.strerror or exc} ({getattr(exc, 'filename', '')}).",
            "Check free space and permissions under storage_root; the previous clip is kept.",
        )
    return StorageError(
        f"Recording the clip in the database failed: {exc}.",
        "The previous clip is kept; check the database and try again.",
    )


@dataclass
class Stored:
    """The result of :func:`commit_clip`."""

    status: str  # created | replaced | skipped
    animation: dict[str, Any]
    file: Path | None
    removed: list[Path] = field(default_factory=list)


def _unique_name(directory: Path, name: str) -> str:
    candidate = name
    while (directory / candidate).exists():
        candidate = f"{name[:-4]}_{secrets.token_hex(3)}.mp4"
    return candidate


def commit_clip(
    app: App,
    object_id: int,
    part: PartFile,
    *,
    model: str,
    source_name: str,
    values: dict[str, Any],
    force: bool,
) -> Stored:
    """Make ``part`` the record's clip and log it: one transaction, old file removed after.

    ``values`` are the ObjectImageAr columns other than the ids, names and dates. When
    ``force`` is false and another run stored a clip meanwhile, ours is discarded (skipped).
    """
    directory = part.path.parent
    final: Path | None = None
    committed = False
    try:
        # one connection, Core statements: BEGIN, lock, read, write, COMMIT (no ORM)
        with app.engine.connect() as conn:
            try:
                _lock(conn, object_id)
                found = conn.execute(_ROW_OF, {"object_id": object_id}).mappings().first()
                row = animation_row(found) if found is not None else None
                if row is not None and not force:
                    conn.rollback()
                    part.discard()
                    return Stored("skipped", row, file_of(app.config, row))
                old_file = file_of(app.config, row) if row is not None else None
                name = _unique_name(directory, clip_name(model, source_name))
                final = directory / name
                orphans = [p for p in directory.glob("*.mp4") if p != old_file]
                os.replace(part.path, final)
                now = utcnow()
                columns = {
                    **values,
                    "mp4_filename": name,
                    "mp4_path": web_path(object_id, name),
                    "created_at": now,
                    "updated_at": now,
                }
                if row is None:
                    status = "created"
                    columns["object_id"] = object_id
                    key = conn.execute(_INSERT, columns).inserted_primary_key
                    columns["id"] = key[0] if key else None
                    animation = animation_row(columns)
                else:
                    status = "replaced"
                    conn.execute(_UPDATE, {**columns, "row_id": row["id"]})
                    animation = animation_row({**row, **columns})
                conn.commit()
                committed = True
            except BaseException:
                conn.rollback()
                raise
    except BaseException as exc:
        if committed:  # interrupted after the commit: the new clip stands
            raise
        if final is not None:
            final.unlink(missing_ok=True)
        part.discard()
        if isinstance(exc, OSError | SQLAlchemyError):
            raise _storage_error(exc) from exc
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
    try:
        with app.session() as session:
            lock_record(session, object_id)
            row = session.exec(
                select(ObjectImageAr).where(ObjectImageAr.object_id == object_id)
            ).first()
            if row is None:
                session.rollback()
                raise AnimationNotFound(
                    f"Record {object_id} has no animation to delete.",
                    "See the clips with `imagear recent`.",
                )
            data = row.model_dump()
            path = file_of(app.config, row)
            session.delete(row)
            session.commit()
    except SQLAlchemyError as exc:
        raise _storage_error(exc) from exc
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
    try:
        with app.session() as session:
            total = session.exec(select(func.count()).select_from(ObjectImageAr)).one()
            rows = session.exec(
                select(ObjectImageAr, InformationObject)
                .join(
                    InformationObject,
                    col(InformationObject.id) == col(ObjectImageAr.object_id),
                    isouter=True,
                )
                .order_by(col(ObjectImageAr.updated_at).desc(), col(ObjectImageAr.id).desc())
                .limit(max(0, int(n)))
            ).all()
    except SQLAlchemyError as exc:
        raise _storage_error(exc) from exc
    out = []
    for anim, record in rows:
        item = anim.model_dump()
        item["identifier"] = record.identifier if record else None
        item["title"] = record.title if record else None
        out.append(item)
    return out, int(total)


__all__ = [
    "PartFile",
    "Stored",
    "animation_row",
    "clip_name",
    "commit_clip",
    "delete_clip",
    "file_of",
    "lock_record",
    "part_file",
    "recent_clips",
    "record_dir",
    "sweep_parts",
    "web_path",
]
