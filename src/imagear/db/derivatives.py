"""AtoM's derivatives of a master image: the reference image (usage 141) AtoM makes for
display, a ``digital_object`` row whose ``parent_id`` is the master's."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.rows import FileRow, file_row
from imagear.db.schema import FILES, USAGE_REFERENCE


def reference_of(engine: Engine, master_id: int) -> FileRow | None:
    """The reference derivative (usage 141, an image) of master ``master_id``, or None."""
    query = (
        select(FILES)
        .where(
            FILES.c.parent_id == master_id,
            FILES.c.usage_id == USAGE_REFERENCE,
            FILES.c.mime_type.like("image/%"),
        )
        .order_by(FILES.c.id)
        .limit(1)
    )
    try:
        with engine.connect() as conn:
            found = conn.execute(query).mappings().first()
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Reading a master's derivatives failed", exc) from exc
    return file_row(found) if found is not None else None


__all__ = ["reference_of"]
