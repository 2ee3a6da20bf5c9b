"""A record's archival context for the console's record page: its place in the hierarchy (the
chain of parents up to, not including, AtoM's root description) and its neighbours in the
listing (previous and next record by id, as the grid and ``records list`` order them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, func, select, true
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.publication import published_sql
from imagear.db.schema import ATOM_EVENT_I18N, ATOM_EVENTS

MAX_DEPTH = 30  # a parent chain longer than this (or a loop) is cut
MAX_DATES = 10
log = logging.getLogger("imagear.db")


@dataclass(frozen=True)
class Crumb:
    """One level of a record's hierarchy."""

    id: int
    identifier: str | None
    title: str | None


@dataclass(frozen=True)
class Context:
    """The record's ancestors (the top first; empty on imagear's own database, which has no
    hierarchy) and the previous and next listed records (None at either end)."""

    ancestors: list[Crumb]
    previous: int | None
    next: int | None
    dates: list[str] = field(default_factory=list)  # AtoM's events: as catalogued, or start-end


def context(engine: Engine, object_id: int, guest_public: bool | None = None) -> Context:
    """The hierarchy above ``object_id`` and its neighbours; with ``guest_public`` (not None:
    what a guest is shown, the config's ``web_public``) only published neighbours and
    ancestors (a draft ancestor is left out of the chain). Raises StorageError."""
    fl = flavour.of(engine)
    r = fl.records
    shown = true() if guest_public is None else published_sql(fl, r.c.id, guest_public)
    try:
        with engine.connect() as conn:
            before = conn.execute(
                select(func.max(r.c.id)).where(fl.listed(), shown, r.c.id < object_id)
            ).scalar_one_or_none()
            after = conn.execute(
                select(func.min(r.c.id)).where(fl.listed(), shown, r.c.id > object_id)
            ).scalar_one_or_none()
            ancestors: list[Crumb] = []
            if fl.is_atom:
                seen = {object_id}
                parent = conn.execute(
                    select(r.c.parent_id).where(r.c.id == object_id)
                ).scalar_one_or_none()
                while parent is not None and parent not in seen and len(seen) <= MAX_DEPTH:
                    seen.add(parent)
                    row = conn.execute(
                        select(
                            r.c.id,
                            r.c.identifier,
                            r.c.parent_id,
                            fl.title().label("title"),
                            shown.label("shown"),
                        ).where(r.c.id == parent)
                    ).first()
                    if row is None or row.parent_id is None:  # AtoM's root description
                        break
                    if row.shown:
                        ancestors.append(Crumb(int(row.id), row.identifier, row.title))
                    parent = row.parent_id
                ancestors.reverse()
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine, f"Reading the context of record {object_id} failed", exc
        ) from exc
    return Context(
        ancestors,
        int(before) if before is not None else None,
        int(after) if after is not None else None,
        dates(engine, object_id) if fl.is_atom else [],
    )


def dates(engine: Engine, object_id: int) -> list[str]:
    """The record's dates from AtoM's events: the display date a cataloguer wrote (its source
    culture's first), else ``start - end`` from the normalised dates. An AtoM without these
    tables or columns shows none (logged), never an error page."""
    e, i = ATOM_EVENTS, ATOM_EVENT_I18N
    shown = (
        select(i.c.date)
        .where(i.c.id == e.c.id, i.c.date.is_not(None), i.c.date != "")
        .order_by((i.c.culture != e.c.source_culture), i.c.culture)
        .limit(1)
        .correlate(e)
        .scalar_subquery()
    )
    query = (
        select(e.c.start_date, e.c.end_date, shown.label("shown"))
        .where(and_(e.c.object_id == object_id))
        .order_by(e.c.start_date, e.c.id)
        .limit(MAX_DATES)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        log.warning("the dates of record %s could not be read: %s", object_id, exc)
        return []
    out: list[str] = []
    for row in rows:
        if row.shown:
            text = str(row.shown)
        else:
            ends = [d.isoformat() for d in (row.start_date, row.end_date) if d is not None]
            text = " – ".join(dict.fromkeys(ends))
        if text and text not in out:
            out.append(text)
    return out


__all__ = ["Context", "Crumb", "context", "dates"]
