"""The audit trail of the web console's actions: ``imagear_audit`` (schema v4), imagear's own
table. One row per action (generate, approve, reject, delete, settings, users...): when, who
(the user's name and role at the time: a removed user's rows stay readable), what, on which
record, and a short detail (the model asked for, the setting keys changed; never a value that
may be a secret)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Index,
    Integer,
    Select,
    String,
    Table,
    and_,
    exists,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.schema import AWARE, OWN_METADATA, utcnow
from imagear.roles import AuditEntry

DETAIL_MAX = 1000


# One action of a user (schema v4).
AUDIT = Table(
    "imagear_audit",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("at", AWARE, nullable=False, default=utcnow, index=True),
    Column("user_name", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_id", Integer, index=True),
    Column("detail", String(DETAIL_MAX)),
    # the console's refused filter reads the 'refused' rows alone (v7)
    Index("ix_imagear_audit_action_object_id", "action", "object_id"),
)


def add(
    engine: Engine,
    user: str,
    role: str,
    action: str,
    object_id: int | None,
    detail: str | None,
    at: datetime | None = None,
) -> None:
    values = {
        "at": at or utcnow(),
        "user_name": user[:255],
        "role": role,
        "action": action,
        "object_id": object_id,
        "detail": detail[:DETAIL_MAX] if detail else None,
    }
    try:
        with engine.begin() as conn:
            conn.execute(AUDIT.insert().values(**values))
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Recording an action in the audit trail failed", exc) from exc


def last_of(engine: Engine, object_id: int, actions: tuple[str, ...]) -> str | None:
    """The latest of ``actions`` recorded for ``object_id`` (None: none)."""
    query = (
        select(AUDIT.c.action)
        .where(AUDIT.c.object_id == object_id, AUDIT.c.action.in_(actions))
        .order_by(AUDIT.c.id.desc())
        .limit(1)
    )
    try:
        with engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Reading the audit trail failed", exc) from exc
    return str(found) if found is not None else None


def _refused_last() -> ColumnElement[bool]:
    """SQL: this ``refused`` row has no ``stored`` row of its record after it."""
    later = AUDIT.alias("later")
    return and_(
        AUDIT.c.action == "refused",
        ~exists(
            select(later.c.id).where(
                later.c.object_id == AUDIT.c.object_id,
                later.c.action == "stored",
                later.c.id > AUDIT.c.id,
            )
        ),
    )


def gate_refused_sql(oid: ColumnElement[int] | int) -> ColumnElement[bool]:
    """SQL: the last quality-gate verdict the trail holds for record ``oid`` is a refusal
    (a ``refused`` row with no ``stored`` row after it)."""
    return exists(select(AUDIT.c.id).where(AUDIT.c.object_id == oid, _refused_last()))


def gate_refused_ids() -> Select[tuple[int]]:
    """SQL: the ids of the records :func:`gate_refused_sql` holds for, read from the trail's
    ``refused`` rows (its action index), not record by record."""
    return select(AUDIT.c.object_id).where(AUDIT.c.object_id.is_not(None), _refused_last())


def entries(engine: Engine, object_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` actions (of one record when ``object_id``), newest first."""
    query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
    if object_id is not None:
        query = query.where(AUDIT.c.object_id == object_id)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Reading the audit trail failed", exc) from exc
    return [
        AuditEntry(
            int(r.id),
            r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at.astimezone(UTC),
            str(r.user_name),
            str(r.role),
            str(r.action),
            r.object_id,
            r.detail,
        )
        for r in rows
    ]


__all__ = ["AUDIT", "add", "entries"]
