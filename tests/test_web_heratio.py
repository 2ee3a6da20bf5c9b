"""`imagear web` on a Heratio install's database (AtoM's and Heratio's DDL on the real
MariaDB): Heratio's publication rule for guests (AtoM's status 158/160), Heratio's delete by
clip row id, AtoM's reference derivative for a TIFF master, and a user's Heratio user id in
``created_by``."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from heratio_fixture import (  # noqa: E402, F401 (the atom_db and heratio_env fixtures)
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from web_helpers import SMALL, TOKEN, bearer  # noqa: E402

pytestmark = pytest.mark.mysql

HERATIO_CACHE = "private, max-age=0, no-store"
JSON = {"Accept": "application/json"}


@pytest.fixture
def heratio_web(atom_db: AtomDatabase, heratio_env: dict[str, str], make_image: Any) -> Any:
    from fastapi.testclient import TestClient

    from imagear.animate import AnimateRequest, Animator
    from imagear.app import App
    from imagear.web.app import create_app

    image = make_image("h.jpg")
    published, _ = atom_db.add_record({"en": "Harbour published"}, image=image, published=True)
    draft, _ = atom_db.add_record({"en": "Harbour draft"}, image=image, published=False)
    app = App.load()
    with Animator(app) as animator:
        for oid in (published, draft):
            animator.animate(AnimateRequest(oid, model="kenburns", overrides=dict(SMALL)))
    c = TestClient(create_app(app, TOKEN), base_url="http://127.0.0.1")
    yield app, c, published, draft
    app.close()


def test_a_guest_sees_only_what_atom_publishes(atom_db: AtomDatabase, heratio_web: Any) -> None:
    _app, c, published, draft = heratio_web
    grid = c.get("/").text
    assert "Harbour published" in grid and "Harbour draft" not in grid
    video = c.get(f"/image-ar/{published}/video")
    assert video.status_code == 200 and video.headers["cache-control"] == HERATIO_CACHE
    for path in ("video", "poster", "preview", "status"):
        assert c.get(f"/image-ar/{draft}/{path}").status_code == 404, path
        assert c.get(f"/image-ar/{draft}/{path}", headers=bearer()).status_code == 200, path
    assert c.get(f"/records/{draft}").status_code == 404
    assert "Harbour draft" in c.get("/", headers=bearer()).text
    # AtoM's edit form publishes it: guests see it at once
    atom_db.set_published(draft, True)
    assert c.get(f"/image-ar/{draft}/video").status_code == 200
    atom_db.set_published(published, False)
    assert c.get(f"/image-ar/{published}/video").status_code == 404


def test_heratios_delete_form_removes_the_clip_it_names(
    atom_db: AtomDatabase, heratio_web: Any
) -> None:
    _app, c, published, draft = heratio_web
    rows = {
        r["object_id"]: r["id"] for r in atom_db.rows("SELECT id, object_id FROM object_image_ar")
    }
    assert rows[draft] != draft  # the clip row's id is not the record's
    # Heratio's rendered form posts _token and the row id
    r = c.post(f"/image-ar/{rows[draft]}/delete", data={"_token": "x"}, headers=bearer())
    assert r.status_code in (200, 303)
    left = {r["object_id"] for r in atom_db.rows("SELECT object_id FROM object_image_ar")}
    assert left == {published}


def test_a_tiff_master_is_shown_through_atoms_reference_derivative(
    atom_db: AtomDatabase, heratio_env: dict[str, str], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient
    from PIL import Image

    from imagear.app import App
    from imagear.web.app import create_app

    tiff = tmp_path / "scan.tif"
    Image.new("RGB", (800, 500), (10, 120, 200)).save(tiff, format="TIFF")
    oid, master = atom_db.add_record({"en": "Scan"}, image=tiff)
    ref = atom_db.rows(
        "SELECT path, name FROM digital_object WHERE parent_id = %s AND usage_id = 141", (master,)
    )[0]
    reference = atom_db.web_root / ref["path"].strip("/") / ref["name"]
    Image.new("RGB", (480, 300), (200, 40, 40)).save(reference, format="JPEG")
    app = App.load()
    try:
        c = TestClient(create_app(app, TOKEN), base_url="http://127.0.0.1")
        r = c.get(f"/image-ar/{oid}/master", headers=bearer())
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content == reference.read_bytes()  # AtoM's own derivative, not a conversion
        poster = c.get(f"/image-ar/{oid}/poster")
        assert poster.status_code == 200 and poster.content == reference.read_bytes()
    finally:
        app.close()


def test_a_users_heratio_id_is_written_to_created_by(
    atom_db: AtomDatabase, heratio_web: Any
) -> None:
    from imagear import accounts

    app, c, published, _draft = heratio_web
    accounts.add_user(app, "hera", "correct horse battery", "curator", heratio_user_id=42)
    r = c.post("/login", data={"name": "hera", "password": "correct horse battery"})
    assert r.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', c.get(f"/records/{published}").text)
    assert found
    form = {"csrf": found.group(1), "model": "kenburns", "num_frames": "10", "fps": "10"}
    assert c.post(f"/image-ar/generate/{published}", data=form, headers=JSON).status_code == 202
    for _ in range(300):
        job = c.get(f"/image-ar/{published}/status").json()["job"]
        if job and job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "done", job
    rows = atom_db.rows("SELECT created_by FROM object_image_ar WHERE object_id = %s", (published,))
    assert rows[0]["created_by"] == 42
