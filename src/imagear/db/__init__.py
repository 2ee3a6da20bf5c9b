"""The data layer: the only package that writes SQL.

::

    constants   the schema version, SQLite's busy timeout, AtoM's marker tables (light)
    direct      reads through the standard library's sqlite3, no SQLAlchemy (light)
    schema      the tables (AtoM/Heratio names) and Core handles on them
    engine      URL normalisation, drivers (SQLite, PostgreSQL, MySQL/MariaDB), SQLite pragmas
    flavour     imagear's own database or an AtoM/Heratio one, decided on first use
    diagnose    database errors worded as one line with advice
    migrations  first boot, versioned upgrades, the settings seed handed in by the caller
    locks       every lock: boot, per-record, enqueue, short write transactions
    records     information_object / digital_object, and the master-image rule (once)
    clips       object_image_ar: the animate lookup, the replace transaction, delete, recent
    settings    image_ar_settings rows
    jobs        image_ar_job: states, selection, clock, plan, failures
    claims      the batch claim protocol on image_ar_job

Services (:mod:`imagear.records`, :mod:`imagear.clips`, :mod:`imagear.settings`,
:mod:`imagear.batch`) call these modules with an :class:`sqlalchemy.Engine`; database errors come
back as :class:`imagear.errors.StorageError` (:mod:`imagear.db.diagnose`).

Importing this package loads nothing: the names below are imported from their modules when
first used, so that :mod:`imagear.db.direct` (a command that only reads the settings) never
pays SQLAlchemy's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagear.lazy import lazy_names

if TYPE_CHECKING:
    from imagear.db.constants import (
        SCHEMA_VERSION,
    )
    from imagear.db.engine import (
        make_engine,
        normalize_url,
    )
    from imagear.db.migrations import (
        MIGRATIONS,
        current_version,
        init_db,
        upgrade,
    )
    from imagear.db.schema import (
        CLIPS,
        FILES,
        JOB,
        RECORDS,
        SCHEMA_TABLE,
        SETTINGS,
        USAGE_EXTERNAL,
        USAGE_MASTER,
        USAGE_REFERENCE,
        USAGE_THUMBNAIL,
        utcnow,
    )

_HOMES: dict[str, tuple[str, ...]] = {
    "constants": ("SCHEMA_VERSION",),
    "engine": ("make_engine", "normalize_url"),
    "migrations": ("MIGRATIONS", "current_version", "init_db", "upgrade"),
    "schema": (
        "CLIPS",
        "FILES",
        "JOB",
        "RECORDS",
        "SCHEMA_TABLE",
        "SETTINGS",
        "USAGE_EXTERNAL",
        "USAGE_MASTER",
        "USAGE_REFERENCE",
        "USAGE_THUMBNAIL",
        "utcnow",
    ),
}
__getattr__ = lazy_names(__name__, _HOMES)
__all__ = [
    "CLIPS",
    "FILES",
    "JOB",
    "MIGRATIONS",
    "RECORDS",
    "SCHEMA_TABLE",
    "SCHEMA_VERSION",
    "SETTINGS",
    "USAGE_EXTERNAL",
    "USAGE_MASTER",
    "USAGE_REFERENCE",
    "USAGE_THUMBNAIL",
    "current_version",
    "init_db",
    "make_engine",
    "normalize_url",
    "upgrade",
    "utcnow",
]
