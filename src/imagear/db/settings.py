"""The ``image_ar_settings`` rows: read them all, write one. Values are text, typed by the
caller (:mod:`imagear.settings`), exactly as Heratio stores them."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour, locks
from imagear.db.schema import SETTINGS


def read_all(engine: Engine) -> dict[str, str | None]:
    """Every row as ``{setting_key: setting_value}`` (keys of other tools included)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(SETTINGS.c.setting_key, SETTINGS.c.setting_value)).all()
    except SQLAlchemyError as exc:
        raise flavour.failed(
            engine,
            "Reading the settings (image_ar_settings) failed",
            exc,
            "Check database_url (`imagear config show`) and that the database is reachable.",
        ) from exc
    return {str(k): v for k, v in rows}


def write(engine: Engine, key: str, value: str, setting_type: str, description: str) -> None:
    """Store one value (the row is created when missing), in one transaction. ``updated_at``
    is the database's kind of time (Heratio's: the configured zone's wall clock)."""
    fl = flavour.of(engine)
    now, table = fl.now(), fl.settings
    with locks.write_tx(engine, f"Saving the setting {key} failed") as conn:
        done = conn.execute(
            update(table)
            .where(table.c.setting_key == key)
            .values(setting_value=value, setting_type=setting_type, updated_at=now)
        )
        if not done.rowcount:
            conn.execute(
                table.insert().values(
                    setting_key=key,
                    setting_value=value,
                    setting_type=setting_type,
                    description=description,
                    updated_at=now,
                )
            )


__all__ = ["read_all", "write"]
