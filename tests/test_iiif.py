"""IIIF Presentation 3 from the web console and `imagear iiif export`: every manifest and
collection page validated with the iiif-prezi3 models, CORS on what a guest may see, the
clip's Range requests across origins, the collection's keyset pages, Content Credentials."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from iiif_helpers import MEDIA_TYPE, valid_collection, valid_manifest  # noqa: E402
from web_helpers import add_records, client, clip_file  # noqa: E402

BASE = "http://127.0.0.1"


def _canvas(doc: dict[str, Any]) -> dict[str, Any]:
    canvas: dict[str, Any] = doc["items"][0]
    return canvas


@pytest.mark.all_databases
def test_a_manifest_shows_the_clip_the_poster_and_the_master(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 2, animated=1)
    c = client(app)
    r = c.get(f"/iiif/{ids[0]}/manifest.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MEDIA_TYPE
    assert r.headers["access-control-allow-origin"] == "*"
    doc = valid_manifest(r.json())
    assert doc["id"] == f"{BASE}/iiif/{ids[0]}/manifest.json"
    assert doc["label"] == {"none": ["Harbour view 0"]}
    meta = {m["label"]["en"][0]: m["value"] for m in doc["metadata"]}
    assert meta["Identifier"] == {"none": ["REC-000"]}
    assert "animated pan over the photograph" in meta["AI disclosure"]["en"][0].lower()
    assert meta["Model"] == {"none": ["kenburns"]}
    assert doc["homepage"][0]["id"] == f"{BASE}/records/{ids[0]}"
    assert doc["provider"][0]["type"] == "Agent"
    assert "requiredStatement" not in doc and "rights" not in doc  # none configured
    assert "c2pa" in doc["seeAlso"][0]["profile"]  # every stored clip is signed (issue 22)
    canvas = _canvas(doc)
    video = canvas["items"][0]["items"][0]["body"]
    assert video["id"] == f"{BASE}/image-ar/{ids[0]}/video"
    assert video["type"] == "Video" and video["format"] == "video/mp4"
    assert (video["width"], video["height"]) == (canvas["width"], canvas["height"]) == (160, 96)
    assert canvas["duration"] == video["duration"] == pytest.approx(1.0)
    assert canvas["thumbnail"][0]["id"] == f"{BASE}/image-ar/{ids[0]}/poster"
    placeholder = canvas["placeholderCanvas"]["items"][0]["items"][0]["body"]
    assert placeholder["id"] == f"{BASE}/image-ar/{ids[0]}/poster"
    master = canvas["accompanyingCanvas"]
    assert (master["width"], master["height"]) == (320, 200)
    assert master["items"][0]["items"][0]["body"]["id"] == f"{BASE}/image-ar/{ids[0]}/still"
    # every URL the manifest names answers, with CORS where a viewer fetches it
    for url in (video["id"], placeholder["id"]):
        got = c.get(url)
        assert got.status_code == 200 and got.headers["access-control-allow-origin"] == "*"
    assert c.get(master["items"][0]["items"][0]["body"]["id"]).status_code == 200


@pytest.mark.all_databases
def test_no_manifest_without_a_clip_or_a_record(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 2, animated=1)
    c = client(app)
    assert c.get(f"/iiif/{ids[1]}/manifest.json").status_code == 404  # no clip
    assert c.get("/iiif/999999/manifest.json").status_code == 404
    assert c.get("/iiif/abc/manifest.json").status_code == 404
    clip_file(app, ids[0]).unlink()  # the row names a file that is gone
    assert c.get(f"/iiif/{ids[0]}/manifest.json").status_code == 404


def test_the_clip_answers_range_requests_across_origins(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 1, animated=1)
    c = client(app)
    size = clip_file(app, ids[0]).stat().st_size
    r = c.get(
        f"/image-ar/{ids[0]}/video",
        headers={"Range": "bytes=0-99", "Origin": "http://127.0.0.1:9"},
    )
    assert r.status_code == 206 and len(r.content) == 100
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-range"] == f"bytes 0-99/{size}"
    assert "Content-Range" in r.headers["access-control-expose-headers"]
    pre = c.options(
        f"/image-ar/{ids[0]}/video",
        headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Headers": "range"},
    )
    assert pre.status_code == 204 and "Range" in pre.headers["access-control-allow-headers"]


def test_config_gives_attribution_rights_and_provider(
    cli_env: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.app import App

    rights = "http://creativecommons.org/licenses/by/4.0/"
    monkeypatch.setenv("IMAGEAR_IIIF_ATTRIBUTION", "Courtesy of the Harbour Archive")
    monkeypatch.setenv("IMAGEAR_IIIF_RIGHTS", rights)
    monkeypatch.setenv("IMAGEAR_IIIF_PROVIDER", "Harbour Archive")
    monkeypatch.setenv("IMAGEAR_IIIF_PROVIDER_HOMEPAGE", "https://archive.example/")
    app = App.load()
    try:
        ids = add_records(app, make_image, 1, animated=1)
        doc = valid_manifest(client(app).get(f"/iiif/{ids[0]}/manifest.json").json())
    finally:
        app.close()
    assert doc["requiredStatement"]["value"] == {"en": ["Courtesy of the Harbour Archive"]}
    assert doc["rights"] == rights
    assert doc["provider"][0]["label"] == {"en": ["Harbour Archive"]}
    assert doc["provider"][0]["id"] == "https://archive.example/"
    monkeypatch.setenv("IMAGEAR_IIIF_RIGHTS", "all rights reserved")
    from imagear.errors import ConfigError

    with pytest.raises(ConfigError, match="iiif_rights"):
        App.load()


@pytest.mark.mysql
def test_the_collection_is_paged_by_record_id(
    app: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.iiif import service

    ids = add_records(app, make_image, 6, animated=5)  # the sixth has no clip: not listed
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    c = client(app)
    first = c.get("/iiif/collection.json")
    assert first.status_code == 200 and first.headers["content-type"] == MEDIA_TYPE
    assert first.headers["access-control-allow-origin"] == "*"
    seen: list[str] = []
    doc = valid_collection(first.json())
    assert doc["id"] == doc["first"]["id"] == f"{BASE}/iiif/collection.json"
    pages = 1
    while True:
        seen += [item["id"] for item in doc["items"]]
        assert all(item["type"] == "Manifest" for item in doc["items"])
        if "next" not in doc:
            break
        nxt = c.get(doc["next"]["id"].removeprefix(BASE))
        assert nxt.status_code == 200
        doc = valid_collection(nxt.json())
        assert doc["partOf"][0]["id"] == f"{BASE}/iiif/collection.json"
        pages += 1
    assert pages == 3
    assert seen == [f"{BASE}/iiif/{oid}/manifest.json" for oid in ids[:5]]
    for url in seen:  # every listed manifest is there and valid
        valid_manifest(c.get(url.removeprefix(BASE)).json())
    assert c.get("/iiif/collection/after-x.json").status_code == 404
    assert c.get("/iiif/collection/after-99999999999.json").status_code == 404
    empty = valid_collection(c.get(f"/iiif/collection/after-{ids[-1]}.json").json())
    assert empty["items"] == [] and "next" not in empty


def test_a_record_a_guest_may_not_see_has_no_manifest_and_no_cors(
    cli_env: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.app import App

    monkeypatch.setenv("IMAGEAR_WEB_PUBLIC", "false")
    app = App.load()
    try:
        ids = add_records(app, make_image, 1, animated=1)
        c = client(app)
        assert c.get(f"/iiif/{ids[0]}/manifest.json").status_code == 404
        assert valid_collection(c.get("/iiif/collection.json").json())["items"] == []
        video = c.get(f"/image-ar/{ids[0]}/video")
        assert "access-control-allow-origin" not in video.headers
    finally:
        app.close()


def test_content_credentials_in_the_clip_are_linked(app: Any, make_image: Any) -> None:
    from imagear import settings
    from imagear.iiif.service import C2PA_UUID, has_content_credentials

    settings.set_value(app.engine, "ar_provenance", "0")  # unsigned by choice
    ids = add_records(app, make_image, 1, animated=1)
    clip = clip_file(app, ids[0])
    assert not has_content_credentials(clip)
    assert "seeAlso" not in valid_manifest(client(app).get(f"/iiif/{ids[0]}/manifest.json").json())
    signed = clip.parent / "signed.mp4"
    shutil.copy(clip, signed)
    payload = b"jumb-store"
    with signed.open("ab") as fh:  # a top-level uuid box, as c2pa embeds its manifest store
        fh.write((8 + 16 + len(payload)).to_bytes(4, "big") + b"uuid" + C2PA_UUID + payload)
    assert has_content_credentials(signed)
    shutil.copy(signed, clip)
    doc = valid_manifest(client(app).get(f"/iiif/{ids[0]}/manifest.json").json())
    assert doc["seeAlso"][0]["id"] == f"{BASE}/image-ar/{ids[0]}/video"
    assert "c2pa" in doc["seeAlso"][0]["profile"]


def test_export_writes_the_same_documents(
    app: Any, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    from imagear.cli import app as cli

    ids = add_records(app, make_image, 3, animated=2)
    out = tmp_path / "site"
    base = "https://archive.example/pub"
    r = runner.invoke(cli, ["iiif", "export", "--base-url", base, "--out", str(out), "--all"])
    assert r.exit_code == 0, r.output
    assert "Wrote 2 manifest(s) and 1 collection page(s)" in r.output
    col = valid_collection(json.loads((out / "iiif/collection.json").read_text()))
    assert [i["id"] for i in col["items"]] == [
        f"{base}/iiif/{oid}/manifest.json" for oid in ids[:2]
    ]
    doc = valid_manifest(json.loads((out / f"iiif/{ids[0]}/manifest.json").read_text()))
    assert (
        doc["items"][0]["items"][0]["items"][0]["body"]["id"] == f"{base}/image-ar/{ids[0]}/video"
    )
    served = client(app).get(f"/iiif/{ids[0]}/manifest.json").json()
    assert served.pop("provider")[0]["label"] == {"en": ["127.0.0.1"]}  # the site's host
    assert doc.pop("provider")[0]["label"] == {"en": ["archive.example"]}
    assert json.dumps(served).replace(BASE, base) == json.dumps(doc)
    one = runner.invoke(
        cli, ["iiif", "export", "--base-url", base, "--out", str(out), "--object-id", str(ids[2])]
    )
    assert one.exit_code == 3 and "has no clip" in one.output
    both = runner.invoke(cli, ["iiif", "export", "--base-url", base, "--out", str(out)])
    assert both.exit_code == 2 and "--object-id" in both.output
    bad = runner.invoke(
        cli, ["iiif", "export", "--base-url", "ftp://x", "--out", str(out), "--all"]
    )
    assert bad.exit_code == 2 and "http(s)" in bad.output
