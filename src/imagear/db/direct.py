"""Reads through the standard library's :mod:`sqlite3`, without SQLAlchemy.

A script or cron job that asks one setting (``imagear settings get ar_enabled``) would otherwise
spend most of its time importing SQLAlchemy (130-230 ms here, several times the rest of the
command). On the embedded default, an existing SQLite file at this imagear's schema version,
the settings are read here instead; anything else (another database, a file that does not exist
yet, an older or newer schema, any error) answers None, and the caller opens the database the
usual way (:attr:`imagear.app.App.engine`: created, upgraded, checked, errors worded).

The statements are the plain ones every kind of database shares; what they read is what
:mod:`imagear.db.settings` and :func:`imagear.db.flavour.detect` read through the engine.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from imagear.db.constants import ATOM_MARKERS, SCHEMA_VERSION, SQLITE_BUSY_SECS

_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class SettingsRows:
    """What ``image_ar_settings`` holds, and whether the database is an AtoM/Heratio one."""

    rows: dict[str, str | None]
    atom: bool


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (relative to the working directory, as
    SQLAlchemy takes it); None for anything else (another database, ``:memory:``, options)."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX) :]
    if not path or path == ":memory:":
        return None
    return Path(path)


def read_settings(url: str) -> SettingsRows | None:
    """The settings rows of an existing SQLite database at :data:`SCHEMA_VERSION`, or None
    (open it through the engine instead). Never creates or changes the file."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        # mode=rw: an existing file only (a plain connect would create a missing one)
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=SQLITE_BUSY_SECS
        )
    except (sqlite3.Error, ValueError):
        return None
    try:
        tables = {
            str(name)
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?)",
                ("imagear_schema", "image_ar_settings", *ATOM_MARKERS),
            )
        }
        if not {"imagear_schema", "image_ar_settings"} <= tables:
            return None
        version = conn.execute("SELECT version FROM imagear_schema WHERE id = 1").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:
            return None
        rows = conn.execute("SELECT setting_key, setting_value FROM image_ar_settings").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return SettingsRows(
        rows={str(k): (None if v is None else str(v)) for k, v in rows},
        atom=all(name in tables for name in ATOM_MARKERS),
    )


__all__ = ["SettingsRows", "read_settings", "sqlite_file"]
