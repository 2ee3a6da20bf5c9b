"""The SQL of the IIIF documents: a record's titles by culture (AtoM keeps one per culture in
``information_object_i18n``) and the collection's keyset pages (records a guest may see that
have a clip, in id order, after an id: an index range, however deep the page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.publication import published_sql
from imagear.db.schema import ATOM_TITLES


@dataclass(frozen=True)
class ListedRecord:
    """A record of a collection page."""

    id: int
    identifier: str | None
    title: str | None


def _failed(engine: Engine, what: str, exc: SQLAlchemyError) -> Exception:
    return flavour.failed(
        engine,
        f"Reading {what} from the database failed",
        exc,
        "Check database_url (`imagear config show`).",
    )


def titles(engine: Engine, object_id: int) -> list[tuple[str, str]]:
    """(culture, title) of a record on an AtoM/Heratio database, its source culture first;
    [] on imagear's own (its one title has no culture: the caller has it)."""
    fl = flavour.of(engine)
    if not fl.is_atom:
        return []
    t, r = ATOM_TITLES, fl.records
    query = (
        select(t.c.culture, t.c.title, (t.c.culture == r.c.source_culture).label("source"))
        .join(r, r.c.id == t.c.id)
        .where(t.c.id == object_id, t.c.title.is_not(None), t.c.title != "")
        .order_by(t.c.culture)
    )
    try:
        with engine.connect() as conn:
            rows = list(conn.execute(query))
    except SQLAlchemyError as exc:
        raise _failed(engine, f"the titles of record {object_id}", exc) from exc
    rows.sort(key=lambda row: not row.source)  # stable: the source culture, then the others
    return [(str(row.culture), str(row.title)) for row in rows]


def collection_page(
    engine: Engine, after: int | None, limit: int, public: bool
) -> tuple[list[ListedRecord], bool]:
    """Up to ``limit`` records a guest may see that have a clip, with ids above ``after``, in
    id order; and whether more follow."""
    fl = flavour.of(engine)
    r, c = fl.records, fl.clips
    query = (
        select(r.c.id, r.c.identifier, fl.title().label("title"))
        .join(c, c.c.object_id == r.c.id)
        .where(and_(fl.listed(), published_sql(fl, r.c.id, public)))
        .order_by(r.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(r.c.id > after)
    try:
        with engine.connect() as conn:
            rows = [
                ListedRecord(int(row.id), row.identifier, row.title) for row in conn.execute(query)
            ]
    except SQLAlchemyError as exc:
        raise _failed(engine, "the IIIF collection", exc) from exc
    return rows[:limit], len(rows) > limit


__all__ = ["ListedRecord", "collection_page", "titles"]
