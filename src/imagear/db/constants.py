"""The data layer's facts that need no database library: the schema version this imagear
writes, SQLite's busy timeout, and the tables that mark an AtoM database. Light, so that
:mod:`imagear.db.direct` can use them without importing SQLAlchemy."""

SCHEMA_VERSION = 9
"""The ``imagear_schema`` version this imagear creates and upgrades to (the last step of
:data:`imagear.db.migrations.MIGRATIONS`)."""

SQLITE_BUSY_SECS = 30.0
"""How long a SQLite writer waits for another process's write lock before giving up."""

ATOM_MARKERS = ("object", "information_object_i18n")  # both present: an AtoM database

__all__ = ["ATOM_MARKERS", "SCHEMA_VERSION", "SQLITE_BUSY_SECS"]
