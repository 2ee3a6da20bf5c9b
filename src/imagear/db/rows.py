"""Rows read from the database as typed values: a ``digital_object`` row (:class:`FileRow`)
and an ``object_image_ar`` row (a :class:`~imagear.domain.Clip`, :func:`clip_of`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict, cast

from sqlalchemy import RowMapping

from imagear.db import flavour
from imagear.domain import Clip


class FileRow(TypedDict):
    """A ``digital_object`` row (a record's file)."""

    id: int
    object_id: int | None
    usage_id: int | None
    mime_type: str | None
    name: str | None
    path: str | None
    byte_size: int | None
    checksum: str | None
    checksum_type: str | None
    parent_id: int | None
    sequence: int | None


def file_row(values: RowMapping | Mapping[str, object]) -> FileRow:
    """A digital_object row read from the database as a :class:`FileRow`."""
    return cast(FileRow, dict(values))


def _int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float | str | Decimal):
        return int(value)
    raise TypeError(f"not a whole number: {value!r}")


def _number(value: object) -> int | float | None:
    """A number as the column holds it (Heratio's DECIMALs as floats, INTs as ints)."""
    if value is None or isinstance(value, int | float):
        return value
    return float(value) if isinstance(value, Decimal | str) else None


def text(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime | None:
    """Aware: a naive time on imagear's own database was written as UTC."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def clip_of(values: RowMapping | Mapping[str, object], fl: flavour.Flavour | None = None) -> Clip:
    """An object_image_ar row as a :class:`~imagear.domain.Clip`; columns ``values`` lacks are
    None. With ``fl``, times are shown as that flavour shows them (aware, in the configured
    zone on AtoM/Heratio's); times are aware UTC otherwise."""
    row: Mapping[str, object] = fl.clip_row(values) if fl is not None else dict(values)
    created_by = row.get("created_by")
    return Clip(
        id=_int(row.get("id")),
        object_id=_int(row.get("object_id")) or 0,
        digital_object_id=_int(row.get("digital_object_id")),
        mp4_filename=text(row.get("mp4_filename")),
        mp4_path=text(row.get("mp4_path")),
        mp4_size=_int(row.get("mp4_size")),
        mp4_duration_secs=_number(row.get("mp4_duration_secs")),
        mp4_width=_int(row.get("mp4_width")),
        mp4_height=_int(row.get("mp4_height")),
        mp4_fps=_number(row.get("mp4_fps")),
        mp4_motion=text(row.get("mp4_motion")),
        ai_model=text(row.get("ai_model")),
        ai_prompt=text(row.get("ai_prompt")),
        ai_seed=_int(row.get("ai_seed")),
        ai_motion_bucket_id=_int(row.get("ai_motion_bucket_id")),
        generation_secs=_number(row.get("generation_secs")),
        created_by=created_by if isinstance(created_by, int | str) else None,
        created_at=_time(row.get("created_at")),
        updated_at=_time(row.get("updated_at")),
    )


@dataclass(frozen=True)
class NamedRow:
    """A record named for a batch run: whether it has a master image and a clip, and its job
    row's state (None where it has none)."""

    id: int
    has_master: bool
    has_clip: bool
    status: str | None
    attempts: int
    next_attempt_at: datetime | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    finished_at: datetime | None


__all__ = ["FileRow", "NamedRow", "clip_of", "file_row", "text"]
