"""Who may see a record without signing in: the publication rule as SQL, written once.

On an AtoM/Heratio database a guest sees a description only when AtoM's ``status`` table holds
its publication status as published (``type_id`` 158, ``status_id`` 160), exactly the check
Heratio's video route makes (REFERENCE.md section 6); a draft (159) or a description with no
publication row is hidden. On imagear's own database there is no such status: every record is
public when ``public`` (config ``web_public``) is true, none otherwise. ``public = False`` hides
every record from guests on an AtoM database too (an install that wants no public face).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Engine, and_, exists, false, literal, select, true
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.flavour import Flavour
from imagear.db.schema import ATOM_STATUS, STATUS_PUBLISHED, STATUS_TYPE_PUBLICATION


def published_sql(fl: Flavour, oid: ColumnElement[int], public: bool) -> ColumnElement[bool]:
    """The SQL predicate "a guest may see record ``oid``" on a database of flavour ``fl``."""
    if not public:
        return false()
    if not fl.is_atom:
        return true()
    status = ATOM_STATUS
    return exists(
        select(status.c.id).where(
            and_(
                status.c.object_id == oid,
                status.c.type_id == STATUS_TYPE_PUBLICATION,
                status.c.status_id == STATUS_PUBLISHED,
            )
        )
    )


def is_published(engine: Engine, object_id: int, public: bool) -> bool:
    """Whether a guest may see record ``object_id`` (see :func:`published_sql`)."""
    fl = flavour.of(engine)
    rule = published_sql(fl, literal(object_id), public)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(select(rule)).scalar())
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine, "Reading a record's publication status failed", exc, table="status"
        ) from exc
