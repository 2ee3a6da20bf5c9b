"""The ``image_ar_settings`` table: read every key typed, write one, reset, the first-boot rows.

The keys themselves (type, default, bounds, description) are declared once, in
:mod:`imagear.settings_spec` (light: ``imagear serve``'s options read it), and re-exported here.
Values are stored as text with a ``setting_type`` column, exactly as Heratio stores them, so the
same table serves both. Reading always returns Python values typed by the declaration (a value
that was written badly by another tool falls back to the default rather than crashing a cron job).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypedDict

from imagear.settings_spec import DEFAULTS, SPECS, Settings, Spec, Value, spec
from imagear.urls import parse_pool

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine


log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str | None]] = set()  # each bad stored value is warned about once


class SeedRow(TypedDict):
    """One first-boot ``image_ar_settings`` row."""

    setting_key: str
    setting_value: str
    setting_type: str
    description: str
    updated_at: datetime


class Described(TypedDict):
    """One key as ``settings list``, the web's settings form and the docs show it."""

    key: str
    type: str
    default: Value
    allowed: str
    description: str


def seed_rows() -> list[SeedRow]:
    """Every key's default as an ``image_ar_settings`` row (the first-boot seed)."""
    from imagear.db.schema import utcnow

    now = utcnow()
    return [
        {
            "setting_key": s.key,
            "setting_value": s.to_text(s.default),
            "setting_type": s.type,
            "description": s.description,
            "updated_at": now,
        }
        for s in SPECS.values()
    ]


def _typed(s: Spec, raw: str | None) -> Value:
    """A stored value, typed; one another tool wrote badly (``nan`` for a threshold, text for
    a number) is invalid: a warning (once per process) and the default, never a crash of a
    cron run nor a quality gate turned off."""
    try:
        return s.parse(raw)
    except Exception:
        if (s.key, raw) not in _WARNED:
            _WARNED.add((s.key, raw))
            log.warning(
                "The stored %s (%r) is not valid; using its default, %s. Fix it with "
                "`imagear settings set %s VALUE`.",
                s.key,
                raw,
                s.to_text(s.default),
                s.key,
            )
        return s.default


def get_all(engine: Engine) -> Settings:
    """Every known setting, typed. Keys written by other tools are ignored."""
    from imagear.db import settings as rows_db

    rows = rows_db.read_all(engine)
    return Settings.of(
        {key: (_typed(s, rows[key]) if key in rows else s.default) for key, s in SPECS.items()}
    )


def get(engine: Engine, key: str) -> Value:
    return get_all(engine).value(key)


def set_value(engine: Engine, key: str, raw: str) -> Value:
    """Validate and store one value; nothing is written when it is refused."""
    s = spec(key)
    value = s.parse(raw)
    _write(engine, s, value)
    return value


def reset(engine: Engine, key: str | None = None) -> list[str]:
    """Put one key (or all) back to the default; returns the keys reset."""
    specs = [spec(key)] if key else list(SPECS.values())
    for s in specs:
        _write(engine, s, s.default)
    return [s.key for s in specs]


def _write(engine: Engine, s: Spec, value: Value) -> None:
    from imagear.db import settings as rows_db

    rows_db.write(engine, s.key, s.to_text(value), s.type, s.description)


def describe() -> list[Described]:
    """The spec as data, for `settings list` and docs."""
    return [
        {
            "key": s.key,
            "type": s.type,
            "default": s.default,
            "allowed": s.allowed(),
            "description": s.description,
        }
        for s in SPECS.values()
    ]


__all__ = [
    "DEFAULTS",
    "SPECS",
    "Described",
    "SeedRow",
    "Settings",
    "Spec",
    "Value",
    "describe",
    "get",
    "get_all",
    "parse_pool",
    "reset",
    "seed_rows",
    "set_value",
    "spec",
]
