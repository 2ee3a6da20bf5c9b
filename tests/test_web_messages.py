"""The record page's messages (issue 25): never a path of the server's folders, never shown to
a guest, gone with the clip they were about."""

from __future__ import annotations

import time
from typing import Any

import pytest

from web_helpers import add_records, bearer, client, small_kenburns


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Cannot read '/srv/imagear/clips/12/a.mp4': gone.", "Cannot read 'a.mp4': gone."),
        ("The image C:\\data\\x\\y.tif is missing.", "The image y.tif is missing."),
        ("See the settings page (/admin/image-ar/settings).", None),  # the console's own pages
        ("Is http://gpu.invalid:8000/health up?", None),  # a URL is not a path
    ],
)
def test_without_paths(text: str, shown: str | None) -> None:
    from imagear.web.wording import without_paths

    assert without_paths(text) == (shown or text)


def test_a_failed_generation_says_why_to_the_curator_only_and_without_paths(
    app: Any, make_image: Any
) -> None:
    pytest.importorskip("fastapi")
    from imagear.records import get_record

    (oid,) = add_records(app, make_image, 1, animated=0)
    small_kenburns(app)
    master = get_record(app, oid).master
    assert master is not None
    master.file.unlink()  # the master went missing on disk: the generation fails naming it
    c = client(app)
    json = {"Accept": "application/json"}
    sent = c.post(f"/image-ar/generate/{oid}", data={"fps": "10"}, headers={**bearer(), **json})
    assert sent.status_code in (202, 404), sent.text
    for _ in range(200):
        body = c.get(f"/image-ar/{oid}/status", headers=bearer()).json()
        if sent.status_code == 404 or body["job"]["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    said = sent.json()["error"] if sent.status_code == 404 else body["job"]["error"]
    assert said and str(master.file.parent) not in said and master.file.name in said
    guest = c.get(f"/image-ar/{oid}/status").json()
    assert guest["job"] is None or set(guest["job"]) == {"object_id", "state", "status"}
    page = c.get(f"/records/{oid}").text
    assert str(master.file.parent) not in page and 'class="msg' not in page
