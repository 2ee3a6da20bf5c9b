"""The ``image_ar_settings`` table: read every key typed, write one, reset, the first-boot rows.

The keys themselves (type, default, bounds, description) are declared once, in
:mod:`imagear.settings_spec` (light: ``imagear serve``'s options read it), and re-exported here.
Values are stored as text with a ``setting_type`` column, exactly as Heratio stores them, so the
same table serves both. Reading always returns Python values typed by the declaration: a number
another tool stored outside imagear's range is used as the nearest valid value, one that cannot
be read as the default, and :func:`warnings` says so (``settings list``, ``health``, the admin
page); Heratio's '0' in an empty text field is read as empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# Heratio's settings form saves an empty text field as '0', and Heratio then treats it as empty
HERATIO_EMPTY = frozenset({"ar_default_prompt", "ar_server_url", "ar_server_pool"})
# the models Heratio's settings page offers; saving that page with another stored resets it to svd
HERATIO_MODELS = ("svd", "svd-xt", "cogvideox-2b", "wan-2.1")


def _nearest(s: Spec, raw: str | None) -> int | float | None:
    """A stored number outside the key's bounds, brought to the nearest bound (None: not a
    number, or within bounds: :meth:`Spec.parse` judged it for another reason)."""
    if s.type not in ("integer", "decimal") or raw is None:
        return None
    try:
        number = float(raw.strip())
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if s.type == "integer" and not number.is_integer():
        return None
    low = s.low if s.low is not None else number
    high = s.high if s.high is not None else number
    near = min(max(number, low), high)
    if near == number:
        return None
    return int(near) if s.type == "integer" else float(near)


def _resolve(s: Spec, raw: str | None) -> tuple[Value, str | None]:
    """A stored value, typed, and what is wrong with it (None: nothing). A number outside the
    key's range (Heratio's form has other bounds) is used as the nearest valid value; a value
    that cannot be read at all (``nan`` for a threshold, text for a number) as the default:
    never a crash of a cron run nor a quality gate turned off, and never silently."""
    if s.key in HERATIO_EMPTY and raw is not None and raw.strip() == "0":
        raw = ""  # Heratio's empty text field
    try:
        return s.parse(raw), None
    except Exception:  # noqa: BLE001 - any refusal: judged below, reported as a warning
        near = _nearest(s, raw)
        if near is not None:
            return near, (
                f"The stored {s.key} ({raw}) is outside imagear's range {s.allowed()}; "
                f"imagear uses {s.to_text(near)}, the nearest valid value. Store a value in "
                f"{s.allowed()} to have it used as given."
            )
        return s.default, (
            f"The stored {s.key} ({raw!r}) is not valid; imagear uses its default, "
            f"{s.to_text(s.default)}. Store a valid value ({s.allowed()})."
        )


def _typed(s: Spec, raw: str | None) -> Value:
    value, problem = _resolve(s, raw)
    if problem is not None and (s.key, raw) not in _WARNED:
        _WARNED.add((s.key, raw))  # each bad stored value is logged once per process
        log.warning("%s", problem)
    return value


def typed(rows: Mapping[str, str | None]) -> Settings:
    """Every known setting typed from stored ``rows``; keys written by other tools are ignored."""
    return Settings.of(
        {key: (_typed(s, rows[key]) if key in rows else s.default) for key, s in SPECS.items()}
    )


def problems(rows: Mapping[str, str | None], heratio: Callable[[], bool]) -> list[str]:
    """What is wrong with stored ``rows`` (see :func:`warnings`); ``heratio()`` says whether
    the database is an AtoM/Heratio one, asked only when it matters."""
    found = [p for k, s in SPECS.items() if k in rows for p in [_resolve(s, rows[k])[1]] if p]
    model = rows.get("ar_model")
    if model and model.strip() not in HERATIO_MODELS and heratio():
        found.append(
            f"ar_model is {model.strip()}, which Heratio's settings page cannot show (it offers "
            f"{', '.join(HERATIO_MODELS)}): saving that page will reset it to svd."
        )
    return found


def get_all(engine: Engine) -> Settings:
    """Every known setting, typed. Keys written by other tools are ignored."""
    from imagear.db import settings as rows_db

    return typed(rows_db.read_all(engine))


def warnings(engine: Engine) -> list[str]:
    """What ``settings list``, ``health`` and the admin page say about the stored values: a
    value outside imagear's ranges or unreadable (and what is used instead), and, on a Heratio
    database, an ``ar_model`` that Heratio's settings page cannot show (saving it resets it)."""
    from imagear.db import clips as clips_db
    from imagear.db import settings as rows_db

    return problems(rows_db.read_all(engine), lambda: clips_db.is_heratio(engine))


@dataclass(frozen=True)
class Stored:
    """The settings as a command shows them: typed, and what is wrong with the stored values."""

    values: Settings
    warnings: list[str]


def stored(database_url: str, engine: Callable[[], Engine]) -> Stored:
    """The settings of the database at ``database_url``, for the commands that only show them.
    An existing SQLite database at this imagear's schema is read without SQLAlchemy
    (:mod:`imagear.db.direct`: such a command starts in a third of the time); any other is
    opened by ``engine()`` (the App's: created, upgraded, checked) as usual."""
    from imagear.db import direct

    found = direct.read_settings(database_url)
    if found is not None:
        atom = found.atom
        return Stored(typed(found.rows), problems(found.rows, lambda: atom))
    from imagear.db import clips as clips_db
    from imagear.db import settings as rows_db

    opened = engine()
    rows = rows_db.read_all(opened)
    return Stored(typed(rows), problems(rows, lambda: clips_db.is_heratio(opened)))


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
    "HERATIO_EMPTY",
    "HERATIO_MODELS",
    "SPECS",
    "Described",
    "SeedRow",
    "Settings",
    "Stored",
    "Spec",
    "Value",
    "describe",
    "get",
    "get_all",
    "warnings",
    "parse_pool",
    "reset",
    "seed_rows",
    "set_value",
    "spec",
    "stored",
    "typed",
    "problems",
]
