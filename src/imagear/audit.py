"""Re-audit stored clips with the quality gate: the service behind ``imagear check``.

For each clip row (``object_image_ar``) asked for, :func:`audit_clips` checks that the file is
where the row says and inside storage_root, that it is a playable MP4 whose frames all decode,
and then runs the same checks as the gate on new clips (:mod:`imagear.quality`): black, blank,
frozen, not of the master image (models that take the image; the record's master image as it is
now), and not what the row records (its width, height and frame rate; the frame count its MP4
header declares). The gate's thresholds are the ``ar_quality_*`` settings; the audit runs even
when ``ar_quality_gate`` is 0. A clip with Content Credentials (imagear.provenance) must still
match them (a changed byte is a ``credentials`` problem). It reads only: nothing is changed, moved or deleted.

:func:`leftovers` lists the files in record folders that imagear would have written and that
no row of this database names (a clip left by a run killed between its rename and its commit,
the poster and preview of a clip Heratio replaced or deleted); :func:`repair` removes them, but
never a file younger than an hour (another tool may be about to record it), one a row names, a
file not of a clip's name, or anything in the folder of a record this database does not have
(another database sharing storage_root). ``imagear check --repair`` shows the list first and
removes only with ``--yes``.

A named record without a clip, or that does not exist, is a problem too. Services never print:
:func:`audit_clips` yields one :class:`ClipAudit` per clip as it goes, so a long run can be
reported while it runs.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagear import quality, store
from imagear import settings as settings_svc
from imagear.app import App
from imagear.db import clips as clips_db
from imagear.domain import Clip, ClipAudit
from imagear.errors import ImagearError, MediaError, StorageError, UnknownModel

if TYPE_CHECKING:
    from imagear.media.reference import Reference

__all__ = ["REPAIR_MIN_AGE", "ClipAudit", "Leftover", "audit_clips", "leftovers", "repair"]

REPAIR_MIN_AGE = 3600.0
"""Seconds: a file younger than this is never removed by :func:`repair`."""


def _takes_image(row: Clip) -> bool | None:
    """Whether the row's model takes the image; None for a model imagear does not know.

    No ai_model means Heratio's earlier, non-AI renderer (zoompan over the image): True."""
    name = row.ai_model
    if not name:
        return True
    from imagear.models import get_model

    try:
        return bool(get_model(str(name)).takes_image)
    except UnknownModel:
        return None


def _reference(app: App, object_id: int, audit: ClipAudit) -> Reference | None:
    """The record's master image as the gate compares it, or None (the reason in skipped)."""
    from imagear.media.reference import load_reference
    from imagear.records import master_image

    try:
        found = clips_db.lookup(app.engine, object_id)
        master = master_image(app, object_id, found.master)
        return load_reference(master.file)
    except ImagearError as err:
        audit.skipped["resemblance"] = f"no master image to compare with: {err.message}"
        return None


def _audit_one(app: App, row: Clip, limits: quality.Thresholds) -> ClipAudit:
    from imagear.media import probe_mp4

    oid = row.object_id
    audit = ClipAudit(oid)
    path = store.file_of(app.config, row)
    if path is None:
        audit.problem(
            "file",
            f"its stored path {row.mp4_path!r} is not a clip file in its own "
            f"uploads/ar/{oid}/ inside storage_root",
        )
        return audit
    audit.file = path
    if not path.is_file():
        audit.problem("file", f"the file {path} does not exist")
        return audit
    audit.poster = store.companion_of(path, store.POSTER_SUFFIX)
    audit.preview = store.preview_of(path)
    _credentials(path, audit)
    try:
        info = probe_mp4(path)
        takes_image = _takes_image(row)
        reference = _reference(app, oid, audit) if takes_image else None
        if takes_image is None:
            audit.skipped["resemblance"] = f"model {row.ai_model!r} is not known here"
        expected = quality.Expected(
            frames=info.frames or None,
            width=row.mp4_width or None,
            height=row.mp4_height or None,
            fps=float(row.mp4_fps) if row.mp4_fps else None,
            said="recorded",
        )
        verdict = quality.inspect(
            path,
            expected=expected,
            reference=reference,
            takes_image=bool(takes_image) and reference is not None,
            thresholds=limits,
        )
    except MediaError as err:
        audit.problem("decode", err.message)
        return audit
    audit.measured = verdict.measured
    for key, why in verdict.skipped.items():
        audit.skipped.setdefault(key, why)
    for finding in verdict.findings:
        audit.problem(
            finding.check, finding.message, measured=finding.measured, limit=finding.limit
        )
    return audit


def _credentials(path: Path, audit: ClipAudit) -> None:
    """The clip's Content Credentials: bytes that no longer match them are a problem."""
    from imagear.provenance.service import audit_problem

    problem, skipped = audit_problem(path)
    if problem is not None:
        audit.problem("credentials", problem)
    if skipped is not None:
        audit.skipped["credentials"] = skipped


def audit_clips(app: App, object_ids: Sequence[int] | None = None) -> Iterator[ClipAudit]:
    """Audit the clips of ``object_ids`` (None: every clip), in object_id order; a named
    record without a clip yields an audit with a ``row`` problem."""
    limits = dataclasses.replace(
        quality.Thresholds.from_settings(settings_svc.get_all(app.engine)), enabled=True
    )
    wanted = None if object_ids is None else sorted({int(i) for i in object_ids})
    found = {r.object_id: r for r in clips_db.rows(app.engine, wanted)}
    for oid in wanted if wanted is not None else sorted(found):
        row = found.get(oid)
        if row is None:
            audit = ClipAudit(oid)
            exists = clips_db.lookup(app.engine, oid).record_exists
            audit.problem(
                "row",
                "it has no animation" if exists else "the record does not exist",
            )
            yield audit
            continue
        yield _audit_one(app, row, limits)


@dataclass
class Leftover:
    """A file in a record folder no row names. ``kept``: why :func:`repair` leaves it (too
    young), None when it would remove it."""

    object_id: int
    file: Path
    reason: str
    kept: str | None = None


def leftovers(
    app: App,
    object_ids: Sequence[int] | None = None,
    *,
    min_age: float = REPAIR_MIN_AGE,
    now: float | None = None,
) -> list[Leftover]:
    """The files of the record folders of ``object_ids`` (None: every record folder) that
    imagear would have written and no row names (:func:`imagear.store.unnamed_files`);
    folders of records this database does not have are left out."""
    wanted = None if object_ids is None else {int(i) for i in object_ids}
    folders = [
        (oid, f) for oid, f in store.record_folders(app.config) if wanted is None or oid in wanted
    ]
    if not folders:
        return []
    ids = [oid for oid, _ in folders]
    rows = {
        int(r.object_id): r
        for start in range(0, len(ids), 500)  # bounded IN lists (SQLite's variable limit)
        for r in clips_db.rows(app.engine, ids[start : start + 500])
    }
    clock = time.time() if now is None else now
    found: list[Leftover] = []
    for oid, folder in folders:
        row = rows.get(oid)
        if row is None and not clips_db.lookup(app.engine, oid).record_exists:
            continue  # not a record here: another database's folder
        said = [row.mp4_filename or "", row.mp4_path or ""] if row else []
        named = {s.replace("\\", "/").rsplit("/", 1)[-1] for s in said} - {""}  # valid or not
        for path in store.unnamed_files(folder, named):
            is_clip = path.suffix == ".mp4"
            reason = (
                "a clip no row names"
                if is_clip
                else f"the {'poster' if path.suffix == store.POSTER_SUFFIX else 'preview'} "
                "of a clip no row names"
            )
            try:
                young = clock - os.lstat(path).st_mtime < min_age
            except OSError:
                continue
            found.append(Leftover(oid, path, reason, "younger than an hour" if young else None))
    return found


def repair(found: Sequence[Leftover]) -> list[Path]:
    """Remove the leftovers :func:`leftovers` did not keep, each checked again just before
    (still a plain file, still old enough); the files removed."""
    removed: list[Path] = []
    now = time.time()
    for item in found:
        if item.kept is not None:
            continue
        try:
            info = os.lstat(item.file)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < REPAIR_MIN_AGE:
            continue  # replaced by a link or written again meanwhile
        try:
            item.file.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError(
                f"Removing {item.file} failed: {exc.strerror}.",
                "Check the permissions of the record folder; the files listed after it were "
                "not removed.",
            ) from exc
        removed.append(item.file)
    return removed
