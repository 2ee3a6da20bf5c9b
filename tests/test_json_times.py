"""One JSON convention (issue 20): a clip's times reach every --json document, and the web
console, as ISO 8601 with their UTC offset, written by one serialiser (imagear.domain)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlmodel import Session

from imagear import records
from imagear.app import App
from imagear.cli import app as cli
from imagear.domain import FLAT, HIDDEN, Clip, json_object, to_json
from imagear_models import ObjectImageAr

WHEN = datetime(2026, 12, 4, 12, 30, 5, tzinfo=UTC)


def _aware_iso(value: object) -> datetime:
    assert isinstance(value, str) and "T" in value, value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def _with_clip(app: App, make_image: Any) -> int:
    oid = records.add_record(app, make_image("photo.jpg")).id
    with Session(app.engine) as s:
        s.add(
            ObjectImageAr(
                object_id=oid,
                mp4_filename="kenburns_x_123456.mp4",
                mp4_path=f"/uploads/ar/{oid}/kenburns_x_123456.mp4",
                ai_model="kenburns",
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
        s.commit()
    return oid


def test_records_show_and_recent_write_times_with_their_offset(
    app: App, make_image: Any, runner: Any
) -> None:
    oid = _with_clip(app, make_image)
    shown = json.loads(runner.invoke(cli, ["records", "show", str(oid), "--json"]).stdout)
    for key in ("created_at", "updated_at"):
        assert _aware_iso(shown["animation"][key]) == WHEN
    recent = json.loads(runner.invoke(cli, ["recent", "--json"]).stdout)["clips"][0]
    assert _aware_iso(recent["updated_at"]) == WHEN
    assert list(recent)[:3] == ["id", "object_id", "digital_object_id"]  # the table's order
    assert list(recent)[-4:] == ["identifier", "poster", "preview", "title"]


def test_the_record_page_shows_the_same_time(app: App, make_image: Any) -> None:
    import pytest

    pytest.importorskip("fastapi")
    from web_helpers import client

    oid = _with_clip(app, make_image)
    page = client(app).get(f"/records/{oid}").text
    when = "2026-12-04T12:30:05+00:00"
    assert f'<dd data-k="updated_at"><time datetime="{when}">{when}</time> by' in page


@dataclass
class _Inner:
    a: int
    b: str | None = None


@dataclass
class _Outer:
    inner: _Inner = field(metadata=FLAT)
    at: datetime | None = None
    path: Path | None = None
    secret: str = field(default="x", metadata=HIDDEN)
    items: list[_Inner] = field(default_factory=list)


def test_a_clip_has_the_columns_of_object_image_ar_in_their_order() -> None:
    from imagear.db.schema import CLIP_COLUMNS
    from imagear.domain import CLIP_FIELDS

    assert CLIP_FIELDS == CLIP_COLUMNS  # docs/json.md: "its columns in table order"


def test_to_json_is_the_one_convention() -> None:
    zone = timezone(timedelta(hours=2))
    value = _Outer(_Inner(1), datetime(2026, 1, 2, 3, 4, 5, tzinfo=zone), Path("/a/b"))
    value.items.append(_Inner(2, "two"))
    assert to_json(value) == {
        "a": 1,
        "b": None,
        "at": "2026-01-02T03:04:05+02:00",
        "path": "/a/b",
        "items": [{"a": 2, "b": "two"}],
    }
    assert json_object(Clip(None, 5))["object_id"] == 5
