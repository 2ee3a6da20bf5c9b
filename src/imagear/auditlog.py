"""The audit trail: every action taken in the web console (generate, approve, reject, delete,
settings changes, sign-ins are logged but not audited) with its user and time, in
``imagear_audit`` (:mod:`imagear.db.auditlog`); read by the record page and ``imagear audit``.
The quality gate's refusals of new clips, by any front end (``imagear animate``, the web
worker, the batch), are entries too (``refused``; ``stored`` once a clip is kept after one),
which the grid's "refused" filter reads.
Named ``auditlog`` because :mod:`imagear.audit` is ``imagear check``'s re-audit of clips."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from imagear.roles import AuditEntry

if TYPE_CHECKING:
    from imagear.app import App

log = logging.getLogger("imagear.audit")


def record(
    app: App,
    user: str,
    role: str,
    action: str,
    object_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add one action to the trail."""
    from imagear.db import auditlog as db

    db.add(app.engine, user, role, action, object_id, detail)


REFUSED, STORED = "refused", "stored"
"""A quality-gate refusal of a new clip (by ``imagear animate``, the web worker or the batch),
and the clip stored after one (so the grid's "refused" filter forgets the record)."""


def gate_refused(app: App, object_id: int, user: str, via: str, why: str) -> None:
    """Record that the quality gate refused a new clip of ``object_id``; an audit trail that
    cannot be written is logged, never in the way of the refusal itself."""
    _quietly(app, user, via, REFUSED, object_id, why[:200])


def gate_cleared(app: App, object_id: int, user: str, via: str) -> None:
    """A clip of ``object_id`` was stored: recorded only when its last gate verdict in the
    trail was a refusal (one indexed read per generation)."""
    from imagear.db import auditlog as db
    from imagear.errors import ImagearError

    try:
        if db.last_of(app.engine, object_id, (REFUSED, STORED)) == REFUSED:
            _quietly(app, user, via, STORED, object_id, None)
    except ImagearError as err:
        log.warning("the audit trail could not be read: %s", err)


def _quietly(
    app: App, user: str, role: str, action: str, object_id: int, detail: str | None
) -> None:
    from imagear.errors import ImagearError

    try:
        record(app, user, role, action, object_id, detail)
    except ImagearError as err:
        log.warning("the audit trail could not be written: %s", err)


def entries(app: App, object_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` actions, newest first (of one record when ``object_id``)."""
    from imagear.db import auditlog as db

    return db.entries(app.engine, object_id, limit)


__all__ = ["REFUSED", "STORED", "entries", "gate_cleared", "gate_refused", "record"]
