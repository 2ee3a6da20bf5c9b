"""The audit trail: every action taken in the web console (generate, approve, reject, delete,
settings changes, sign-ins are logged but not audited) with its user and time, in
``imagear_audit`` (:mod:`imagear.db.auditlog`); read by the record page and ``imagear audit``.
Named ``auditlog`` because :mod:`imagear.audit` is ``imagear check``'s re-audit of clips."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagear.roles import AuditEntry

if TYPE_CHECKING:
    from imagear.app import App


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


def entries(app: App, object_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` actions, newest first (of one record when ``object_id``)."""
    from imagear.db import auditlog as db

    return db.entries(app.engine, object_id, limit)


__all__ = ["entries", "record"]
