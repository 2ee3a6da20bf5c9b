"""A record's archival context for the console's record page: its place in the hierarchy (the
chain of parents up to, not including, AtoM's root description) and its neighbours in the
listing (previous and next record by id, as the grid and ``records list`` order them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour

MAX_DEPTH = 30  # a parent chain longer than this (or a loop) is cut


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


def context(engine: Engine, object_id: int) -> Context:
    """The hierarchy above ``object_id`` and its neighbours; raises StorageError."""
    fl = flavour.of(engine)
    r = fl.records
    try:
        with engine.connect() as conn:
            before = conn.execute(
                select(func.max(r.c.id)).where(fl.listed(), r.c.id < object_id)
            ).scalar_one_or_none()
            after = conn.execute(
                select(func.min(r.c.id)).where(fl.listed(), r.c.id > object_id)
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
                            r.c.id, r.c.identifier, r.c.parent_id, fl.title().label("title")
                        ).where(r.c.id == parent)
                    ).first()
                    if row is None or row.parent_id is None:  # AtoM's root description
                        break
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
    )


__all__ = ["Context", "Crumb", "context"]
