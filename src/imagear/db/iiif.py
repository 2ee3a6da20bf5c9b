"""The SQL of the IIIF documents: a record's titles by culture (AtoM keeps one per culture in
``information_object_i18n``) and the collection's keyset pages (records a guest may see that
have a clip, in id order, after an id: an index range, however deep the page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.publication import published_sql
from imagear.db.records import master_row
from imagear.db.rows import FileRow, clip_of
from imagear.db.schema import ATOM_TITLES
from imagear.domain import Clip


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


@dataclass(frozen=True)
class ManifestRows:
    """What a manifest shows of a record, read in one connection: its identifier, its titles
    (culture, title), its clip row and its master image row."""

    id: int
    identifier: str | None
    titles: list[tuple[str, str]]
    clip: Clip
    master: FileRow | None


def manifest_rows(engine: Engine, object_id: int, public: bool) -> ManifestRows | None:
    """Record ``object_id`` with its clip, master and titles, when a guest may see it and it
    has a clip; else None. Three statements at most on one connection (a manifest is read at
    every viewer's visit)."""
    fl = flavour.of(engine)
    r, c = fl.records, fl.clips
    query = (
        select(
            r.c.identifier,
            fl.title().label("title"),
            *(col.label(f"clip_{col.name}") for col in c.c),
        )
        .join(c, c.c.object_id == r.c.id)
        .where(r.c.id == object_id, published_sql(fl, r.c.id, public))
    )
    try:
        with engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            names = _titles(conn, fl, object_id) if fl.is_atom else []
            if not names and row["title"]:
                names = [("none", str(row["title"]))]
            clip = clip_of({k: row[f"clip_{k}"] for k in c.c.keys()}, fl)
            return ManifestRows(
                object_id, row["identifier"], names, clip, master_row(conn, object_id)
            )
    except SQLAlchemyError as exc:
        raise _failed(engine, f"record {object_id}", exc) from exc


def _titles(conn: Connection, fl: flavour.Flavour, object_id: int) -> list[tuple[str, str]]:
    """(culture, title) of a record on an AtoM/Heratio database, its source culture first."""
    t, r = ATOM_TITLES, fl.records
    query = (
        select(t.c.culture, t.c.title, (t.c.culture == r.c.source_culture).label("source"))
        .join(r, r.c.id == t.c.id)
        .where(t.c.id == object_id, t.c.title.is_not(None), t.c.title != "")
        .order_by(t.c.culture)
    )
    rows = list(conn.execute(query))
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
    if after is not None:  # on both sides of the join: each index scan starts at ``after``
        query = query.where(r.c.id > after, c.c.object_id > after)
    try:
        with engine.connect() as conn:
            rows = [
                ListedRecord(int(row.id), row.identifier, row.title) for row in conn.execute(query)
            ]
    except SQLAlchemyError as exc:
        raise _failed(engine, "the IIIF collection", exc) from exc
    return rows[:limit], len(rows) > limit


__all__ = ["ListedRecord", "ManifestRows", "collection_page", "manifest_rows"]
