"""IIIF on a Heratio install's database (real MariaDB, AtoM's tables as AtoM makes them):
labels per culture, only records AtoM publishes, and AtoM's external digital objects (usage
166) whose URL is a IIIF Image service taken as masters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heratio_fixture import (  # noqa: F401 (the atom_db and heratio_env fixtures)
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from iiif_helpers import valid_collection, valid_manifest
from iiif_services import image_server, write_level0

pytestmark = pytest.mark.mysql
SMALL = {"num_frames": 10, "fps": 10, "width": 160, "height": 96}


def _external(atom_db: AtomDatabase, rid: int, url: str) -> None:
    """An external digital object as AtoM stores one (usage 166, the URI as its path), with
    AtoM's term for that usage (QubitTerm::EXTERNAL_URI_ID)."""
    atom_db.execute(
        "INSERT IGNORE INTO object (class_name, created_at, updated_at, id, serial_number) "
        "VALUES ('QubitTerm', NOW(), NOW(), 166, 0)"
    )
    atom_db.execute(
        "INSERT IGNORE INTO term (id, taxonomy_id, code, parent_id, lft, rgt, source_culture) "
        "VALUES (166, 47, NULL, NULL, 15, 16, 'en')"
    )
    did = atom_db.execute(
        "INSERT INTO object (class_name, created_at, updated_at, serial_number) "
        "VALUES ('QubitDigitalObject', NOW(), NOW(), 0)"
    )
    atom_db.execute(
        "INSERT INTO digital_object (id, object_id, usage_id, mime_type, media_type_id, name, "
        "path, byte_size) VALUES (%s, %s, 166, 'image/jpeg', 136, 'default.jpg', %s, 0)",
        (did, rid, url),
    )


def test_heratio_records_external_iiif_masters_and_publication(
    heratio_env: Any, atom_db: AtomDatabase, make_image: Any, tmp_path: Path
) -> None:
    from PIL import Image

    from imagear.animate import AnimateRequest, Animator
    from imagear.app import App
    from web_helpers import client

    photo = Image.new("RGB", (2000, 1500), (40, 90, 140))
    root = tmp_path / "iiif"
    root.mkdir()
    with image_server(root) as (base, log, _server):
        write_level0(root, "m", photo, base, 3, tile=512, factors=(1, 2, 4))
        published, _ = atom_db.add_record(
            {"en": "Harbour, 1911", "fr": "Port, 1911"}, identifier="F1-S2-3"
        )
        _external(atom_db, published, f"{base}/m/info.json")
        draft, _ = atom_db.add_record(
            {"en": "Mill"}, identifier="F1-S2-4", image=make_image("mill.jpg"), published=False
        )
        app = App.load()
        try:
            with Animator(app) as animator:
                for rid in (published, draft):
                    req = AnimateRequest(rid, model="kenburns", overrides=dict(SMALL), force=True)
                    assert animator.animate(req).animation is not None
            assert any(p.endswith("default.jpg") for p in log)  # the master came from IIIF
            c = client(app)
            doc = valid_manifest(c.get(f"/iiif/{published}/manifest.json").json())
            assert doc["label"] == {"en": ["Harbour, 1911"], "fr": ["Port, 1911"]}
            master = doc["items"][0]["accompanyingCanvas"]
            assert (master["width"], master["height"]) == (2000, 1500)
            service = master["items"][0]["items"][0]["body"]["service"][0]
            assert service == {"id": f"{base}/m", "type": "ImageService3", "profile": "level0"}
            assert c.get(f"/iiif/{draft}/manifest.json").status_code == 404  # a draft
            col = valid_collection(c.get("/iiif/collection.json").json())
            assert [i["id"].rsplit("/", 2)[-2] for i in col["items"]] == [str(published)]
            assert "access-control-allow-origin" not in c.get(f"/image-ar/{draft}/video").headers
        finally:
            app.close()
