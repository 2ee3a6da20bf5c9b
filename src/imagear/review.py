"""Curators' review of clips, and the browsing of records by what happened to them.

The services behind the web console's grid and its approve/reject buttons (:mod:`imagear.web`).
Approve records the verdict: ``batch --all`` then keeps that clip (unless the record is named
with ``--object-id``); reject removes the clip (with its poster and preview) and queues the
record for the batch with a new seed. The verdict lives in imagear's own ``imagear_review`` table
(:mod:`imagear.db.review`), names the clip it judged (its mp4_path and checksum), and holds only
while the record's clip is that one: imagear forgets it when it replaces or deletes the clip,
and a clip Heratio made since is unreviewed.
"""

from __future__ import annotations

import hashlib

from imagear import clips, store
from imagear.app import App
from imagear.db import browse as browse_db
from imagear.db import records as records_db
from imagear.db import review as review_db
from imagear.db.context import Context as RecordContext
from imagear.db.context import context as context_of
from imagear.domain import DeletedClip, GridRow, Review
from imagear.errors import AnimationNotFound, RecordNotFound, UsageError

FILTERS = browse_db.FILTERS
COUNT_CAP = browse_db.COUNT_CAP


def browse(
    app: App,
    query: str = "",
    show: str = "all",
    limit: int = 24,
    offset: int = 0,
    after: int | None = None,
    before: int | None = None,
    *,
    guest: bool = False,
) -> tuple[list[GridRow], int]:
    """One page of records (id order) matching ``query`` (identifier or title, accents and case
    ignored) and ``show`` (one of :data:`FILTERS`), with their clip row, review state and batch
    status; and the total, counted up to :data:`COUNT_CAP` (``COUNT_CAP + 1``: more). The page
    starts at ``offset``, or is the one after id ``after`` or before id ``before`` (keyset).
    ``guest``: only the records a guest may see (:mod:`imagear.publication`)."""
    from imagear.publication import public

    if show not in FILTERS:
        raise UsageError(f"Unknown filter {show!r}; choose one of {', '.join(FILTERS)}.")
    shown = public(app) if guest else None
    return browse_db.page(
        app.engine,
        query,
        show,
        max(1, int(limit)),
        max(0, int(offset)),
        after,
        before,
        guest_public=shown,
    )


def _clip_file(app: App, object_id: int) -> tuple[str | None, str | None]:
    """The record's clip now: its mp4_path and its file's SHA-256 (None: no video, no file)."""
    found = records_db.get(app.engine, object_id)
    clip = found.animation if found is not None else None
    if clip is None or not clip.has_video:
        return None, None
    path = store.file_of(app.config, clip)
    if path is None:
        return clip.mp4_path, None
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return clip.mp4_path, None
    return clip.mp4_path, digest.hexdigest()


def state(app: App, object_id: int) -> Review | None:
    """The record's review (state, reviewed_by, reviewed_at) or None: also None when the
    record's clip is no longer the one judged (another path, or the same path with other
    contents: Heratio replaced it)."""
    found = review_db.get(app.engine, object_id)
    if found is None:
        return None
    verdict, judged_path, judged_sum = found
    path, digest = _clip_file(app, object_id)
    if not review_db.bound(verdict.state, judged_path, path):
        return None
    if path is not None and judged_sum is not None and digest is not None and digest != judged_sum:
        return None
    return verdict


def _require_clip(app: App, object_id: int) -> None:
    found = records_db.get(app.engine, object_id)
    if found is None:
        raise RecordNotFound(f"Record {object_id} does not exist.")
    if found.animation is None or not found.animation.has_video:
        raise AnimationNotFound(f"Record {object_id} has no clip to review.")


def approve(app: App, object_id: int, by: str | None = None) -> None:
    """Record that the clip the record has now is approved (see :func:`approved_ids`)."""
    _require_clip(app, object_id)
    clip = _clip_file(app, object_id)
    review_db.set_state(app.engine, object_id, review_db.APPROVED, by, clip=clip)


def reject(app: App, object_id: int, by: str | None = None) -> DeletedClip:
    """Remove the record's clip and queue the record for a new seed; the deleted clip row."""
    _require_clip(app, object_id)
    clip = _clip_file(app, object_id)
    removed = clips.delete_clip(app, object_id)
    review_db.set_state(app.engine, object_id, review_db.REJECTED, by, clip=clip, requeue=True)
    return removed


def queue(app: App, limit: int = 200) -> tuple[list[GridRow], int]:
    """The review queue: records with a clip no curator has approved or rejected yet (id
    order, the first ``limit``) and how many there are."""
    return review_db.unreviewed(app.engine, limit)


def record_context(app: App, object_id: int, guest: bool = False) -> RecordContext:
    """The record's place in the hierarchy (AtoM) and its previous and next records (as the
    grid orders them); for a ``guest``, published records only (:mod:`imagear.publication`)."""
    from imagear.publication import public

    return context_of(app.engine, object_id, public(app) if guest else None)


def approved_ids(app: App) -> set[int]:
    return review_db.approved_ids(app.engine)


__all__ = [
    "FILTERS",
    "RecordContext",
    "approve",
    "approved_ids",
    "browse",
    "queue",
    "record_context",
    "reject",
    "state",
]
