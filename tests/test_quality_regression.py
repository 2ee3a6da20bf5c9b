"""Issue 10's reproduction, as a new user would meet it: against a server that answers an
all-black clip, a clip of one frozen frame, or a moving pattern unrelated to the master image,
`imagear animate --force` used to exit 0 and replace the record's good clip each time. Only the
command line and the fake server are used, so this runs against any version of imagear."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from fake_server import FakeVideoServer
from imagear import records
from imagear.app import App
from imagear.cli import app as cli
from imagear.db import clips as clips_db


@pytest.mark.parametrize("kind", ["black", "frozen", "unrelated"])
def test_animate_force_keeps_the_good_clip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, kind: str
) -> None:
    oid = records.add_record(app, make_image("photo.jpg")).id
    first = runner.invoke(cli, ["animate", "--object-id", str(oid)])
    assert first.exit_code == 0, first.output
    row = clips_db.lookup(app.engine, oid).clip
    assert row is not None
    clip = app.config.storage_root / "uploads" / "ar" / str(oid) / str(row.mp4_filename)
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    remote.configure(clip_kind=kind)
    again = runner.invoke(cli, ["animate", "--object-id", str(oid), "--force"])
    assert again.exit_code == 7, again.output
    assert clips_db.lookup(app.engine, oid).clip == row
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == before
