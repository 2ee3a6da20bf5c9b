"""Re-audit stored clips with the quality gate: the service behind ``imagear check``.

For each clip row (``object_image_ar``) asked for, :func:`audit_clips` checks that the file is
where the row says and inside storage_root, that it is a playable MP4 whose frames all decode,
and then runs the same checks as the gate on new clips (:mod:`imagear.quality`): black, blank,
frozen, not of the master image (models that take the image; the record's master image as it is
now), and not what the row records (its width, height and frame rate; the frame count its MP4
header declares). The gate's thresholds are the ``ar_quality_*`` settings; the audit runs even
when ``ar_quality_gate`` is 0. It reads only: nothing is changed, moved or deleted.

A named record without a clip, or that does not exist, is a problem too. Services never print:
:func:`audit_clips` yields one :class:`ClipAudit` per clip as it goes, so a long run can be
reported while it runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from imagear import quality, store
from imagear import settings as settings_svc
from imagear.app import App
from imagear.db import clips as clips_db
from imagear.domain import Clip, ClipAudit
from imagear.errors import ImagearError, MediaError, UnknownModel

if TYPE_CHECKING:
    from imagear.media.scan import Reference

__all__ = ["ClipAudit", "audit_clips"]


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
    from imagear.media.scan import load_reference
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
        audit.problem("file", f"its stored path {row.mp4_path!r} leaves storage_root")
        return audit
    audit.file = path
    if not path.is_file():
        audit.problem("file", f"the file {path} does not exist")
        return audit
    poster, preview = store.companions(path)
    audit.poster = poster if poster.is_file() else None
    audit.preview = preview if preview.is_file() else None
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
