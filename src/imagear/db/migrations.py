"""First-boot creation and in-place upgrades, with the seed data handed in by the caller.

Schema versions are recorded in ``imagear_schema`` (one row). :data:`MIGRATIONS` is an ordered
list of steps; :func:`upgrade` runs the missing ones under the boot lock
(:mod:`imagear.db.locks`), so two processes booting at once are safe. A database written by a
newer imagear is refused rather than guessed at. We keep this small runner instead of Alembic:
the steps are few, must also run against foreign (Heratio) schemas where Alembic's autogenerate
would see dozens of unrelated tables, and must run from a wheel with no script dir.

The seed rows (``image_ar_settings`` defaults) come from the caller
(:func:`imagear.settings.seed_rows`): the data layer stores settings, it does not define them.
Rows whose key is already present are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import SQLModel

from imagear.db import locks
from imagear.db.engine import make_engine
from imagear.db.schema import (
    SCHEMA_TABLE,
    SETTINGS,
    DigitalObject,
    ImageArJob,
    ImageArSetting,
    InformationObject,
    ObjectImageAr,
    utcnow,
)
from imagear.errors import StorageError

SCHEMA_VERSION = 2


def _create(*models: type[SQLModel]) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for model in models:
            model.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]

    return step


# (version, what it does, step). Append only; never edit a released step.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "Heratio tables", _create(InformationObject, DigitalObject, ObjectImageAr, ImageArSetting)),
    (2, "batch job table", _create(ImageArJob)),
]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "imagear_schema"):
        return 0
    row = conn.execute(select(SCHEMA_TABLE.c.version).where(SCHEMA_TABLE.c.id == 1)).first()
    return int(row[0]) if row else 0


def _check_not_newer(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"The database is at schema version {version}, newer than this imagear ({SCHEMA_VERSION}).",
            "Upgrade imagear (pip install -U imagear) before using this database.",
        )
    return version


def seed(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the settings rows whose ``setting_key`` is missing (existing values are kept)."""
    present = {row[0] for row in conn.execute(select(SETTINGS.c.setting_key))}
    missing = [r for r in rows if r["setting_key"] not in present]
    if missing:
        conn.execute(SETTINGS.insert(), missing)


def upgrade(
    engine: Engine,
    target: int = SCHEMA_VERSION,
    seed_rows: Sequence[dict[str, Any]] = (),
) -> int:
    """Run the missing migrations up to ``target`` and add missing ``seed_rows``; return the
    version now in the database."""
    try:
        with engine.connect() as conn:
            version = _check_not_newer(current_version(conn))
            if version >= target:
                return version
        with locks.boot_lock(engine), engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # released by the commit
                locks.lock_key(conn, locks.BOOT_KEY)
            SCHEMA_TABLE.create(conn, checkfirst=True)
            version = _check_not_newer(current_version(conn))
            for number, _what, step in MIGRATIONS:
                if version < number <= target:
                    step(conn)
                    version = number
            if version >= 1 and seed_rows:
                seed(conn, seed_rows)
            now = utcnow()
            if conn.execute(select(SCHEMA_TABLE.c.id)).first() is None:
                conn.execute(SCHEMA_TABLE.insert().values(id=1, version=version, upgraded_at=now))
            else:
                conn.execute(SCHEMA_TABLE.update().values(version=version, upgraded_at=now))
            return version
    except OperationalError as exc:
        raise StorageError(
            f"Cannot open the database at {engine.url.render_as_string(hide_password=True)}: {locks.reason(exc)}.",
            "Check database_url (`imagear config show`) and that the server is running.",
        ) from exc
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Creating or upgrading the database failed: {locks.reason(exc)}."
        ) from exc


def init_db(url: str, seed_rows: Sequence[dict[str, Any]] = ()) -> Engine:
    """Open the database at ``url``, creating it and adding ``seed_rows`` on first use."""
    engine = make_engine(url)
    upgrade(engine, seed_rows=seed_rows)
    return engine


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "init_db", "seed", "upgrade"]
