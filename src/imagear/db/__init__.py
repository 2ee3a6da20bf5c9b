"""The data layer: the only package that writes SQL.

::

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
"""

from __future__ import annotations

from imagear.db.engine import make_engine, normalize_url
from imagear.db.migrations import MIGRATIONS, SCHEMA_VERSION, current_version, init_db, upgrade
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

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "USAGE_EXTERNAL",
    "USAGE_MASTER",
    "USAGE_REFERENCE",
    "USAGE_THUMBNAIL",
    "CLIPS",
    "FILES",
    "JOB",
    "RECORDS",
    "SCHEMA_TABLE",
    "SETTINGS",
    "current_version",
    "init_db",
    "make_engine",
    "normalize_url",
    "upgrade",
    "utcnow",
]
