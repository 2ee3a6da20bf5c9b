"""Curators' review of clips, and the browsing of records by what happened to them.

The services behind the web console's grid and its approve/reject buttons (:mod:`imagear.web`).
Approve records the verdict: ``batch --all`` then keeps that clip (unless the record is named
with ``--object-id``); reject removes the clip (with its poster and preview) and queues the
record for the batch with a new seed. The verdict lives in imagear's own ``imagear_review`` table
(:mod:`imagear.db.review`) and is forgotten when the clip is replaced or deleted.
"""

from __future__ import annotations

from imagear import clips
from imagear.app import App
from imagear.db import browse as browse_db
from imagear.db import records as records_db
from imagear.db import review as review_db
from imagear.db.context import Context as RecordContext
from imagear.db.context import context as context_of
from imagear.domain import DeletedClip, GridRow, Review
from imagear.errors import AnimationNotFound, RecordNotFound, UsageError

FILTERS = browse_db.FILTERS


def browse(
    app: App,
    query: str = "",
    show: str = "all",
    limit: int = 24,
    offset: int = 0,
    *,
    guest: bool = False,
) -> tuple[list[GridRow], int]:
    """One page of records (id order) matching ``query`` (identifier or title) and ``show``
    (one of :data:`FILTERS`), with their clip row, review state and batch status; and the total.
    ``guest``: only the records a guest may see (:mod:`imagear.publication`)."""
    from imagear.publication import public

    if show not in FILTERS:
        raise UsageError(f"Unknown filter {show!r}; choose one of {', '.join(FILTERS)}.")
    shown = public(app) if guest else None
    return browse_db.page(
        app.engine, query, show, max(1, int(limit)), max(0, int(offset)), guest_public=shown
    )


def state(app: App, object_id: int) -> Review | None:
    """The record's review (state, reviewed_by, reviewed_at) or None."""
    return review_db.get(app.engine, object_id)


def _require_clip(app: App, object_id: int) -> None:
    found = records_db.get(app.engine, object_id)
    if found is None:
        raise RecordNotFound(f"Record {object_id} does not exist.")
    if found.animation is None:
        raise AnimationNotFound(f"Record {object_id} has no clip to review.")


def approve(app: App, object_id: int, by: str | None = None) -> None:
    """Record that the clip is approved (see :func:`approved_ids`)."""
    _require_clip(app, object_id)
    review_db.set_state(app.engine, object_id, review_db.APPROVED, by)


def reject(app: App, object_id: int, by: str | None = None) -> DeletedClip:
    """Remove the record's clip and queue the record for a new seed; the deleted clip row."""
    _require_clip(app, object_id)
    removed = clips.delete_clip(app, object_id)
    review_db.set_state(app.engine, object_id, review_db.REJECTED, by, requeue=True)
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
