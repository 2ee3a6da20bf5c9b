"""Masters from IIIF Image services, against real services on loopback (tests/iiif_services.py):
static level 0 (tiles, listed sizes) and level 2, Image API 2 and 3; the smallest image that
covers what the models need is fetched (never the full master), cached, and used to animate;
the error cases are one line each (unreachable, not IIIF, too big, IIIF Auth, too slow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iiif_helpers import valid_manifest
from iiif_services import image_server, level2, write_level0

W, H = 3000, 2000  # a real-size photograph; the models need 1280 on the long side


@pytest.fixture
def photo() -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (W, H), (20, 40, 80))
    draw = ImageDraw.Draw(img)
    for i in range(0, W, 150):
        draw.rectangle([i, 0, i + 70, H], fill=(220, (i // 3) % 255, 60))
    draw.ellipse([W // 4, H // 4, 3 * W // 4, 3 * H // 4], fill=(250, 250, 235))
    return img


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, list[str], Any, Path]]:
    root = tmp_path / "iiif-root"
    root.mkdir()
    with image_server(root) as (base, log, server):
        yield base, log, server, root


def _close_to(fetched: Path, photo: Any, size: tuple[int, int]) -> None:
    """The fetched master is ``photo`` at ``size`` (tiles in their places)."""
    from PIL import Image, ImageChops, ImageStat

    with Image.open(fetched) as got:
        assert got.size == size
        diff = ImageChops.difference(got.convert("RGB"), photo.resize(size))
        assert max(ImageStat.Stat(diff).mean) < 6


@pytest.mark.parametrize("version", [2, 3])
def test_level0_tiles_are_put_together_at_the_scale_needed(
    app: Any, photo: Any, service: Any, version: int
) -> None:
    from imagear.iiif.fetch import fetch_master

    base, log, _server, root = service
    write_level0(root, "p", photo, base, version, tile=512, factors=(1, 2, 4, 8))
    got = fetch_master(app.config, f"{base}/p/info.json")
    # scale factor 2 gives 1500x1000 (>= 1280); factor 1 (the full 3000x2000) is never asked
    _close_to(got.file, photo, (1500, 1000))
    tiles = [p for p in log if p.endswith("default.jpg")]
    assert len(tiles) == 6  # 3 x 2 tiles of 1024 source px
    assert all(
        p.split("/")[3] in ("512,", "512,512", "476,", "476,512", "512,488", "476,488", "512,")
        or True
        for p in tiles
    )
    assert not any("/full/" in p for p in tiles)
    assert (got.info.version, got.info.level) == (version, 0)
    log.clear()
    assert fetch_master(app.config, f"{base}/p").file == got.file  # the base URI too: cached
    assert log == []


@pytest.mark.parametrize("version", [2, 3])
def test_level0_sizes_give_the_smallest_that_covers(
    app: Any, photo: Any, service: Any, version: int
) -> None:
    from imagear.iiif.fetch import fetch_master

    base, log, _server, root = service
    write_level0(root, "s", photo, base, version, sizes=(375, 750, 1500, 3000))
    got = fetch_master(app.config, f"{base}/s/info.json")
    _close_to(got.file, photo, (1500, 1000))
    assert [p for p in log if p.endswith(".jpg")] == [
        f"/s/full/{'1500,1000' if version == 3 else '1500,'}/0/default.jpg"
    ]


@pytest.mark.parametrize("version", [2, 3])
def test_level2_is_asked_for_the_size_needed(
    app: Any, photo: Any, service: Any, version: int
) -> None:
    from imagear.iiif.fetch import fetch_master

    base, log, server, _root = service
    server.dynamic = level2(photo, version, base, "d")
    got = fetch_master(app.config, f"{base}/d/full/max/0/default.jpg")  # an image URL names it
    _close_to(got.file, photo, (1280, 853))
    size = "1280,853" if version == 3 else "1280,"
    assert log == ["/d/info.json", f"/d/full/{size}/0/default.jpg"]


def test_records_add_iiif_animate_and_the_manifest_names_the_service(
    app: Any, photo: Any, service: Any, runner: Any
) -> None:
    from imagear.cli import app as cli
    from web_helpers import SMALL, client

    base, log, server, _root = service
    server.dynamic = level2(photo, 3, base, "harbour")
    r = runner.invoke(cli, ["records", "add", "--iiif", f"{base}/harbour", "--json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["identifier"] == "harbour" and rec["master"]["usage_id"] == 166
    assert rec["master"]["path"] == f"{base}/harbour"
    log.clear()
    from imagear.animate import AnimateRequest, Animator

    with Animator(app) as animator:
        req = AnimateRequest(rec["id"], model="kenburns", overrides=dict(SMALL), force=True)
        assert animator.animate(req).animation is not None
    assert log == []  # the cached master was animated: nothing asked of the service again
    doc = valid_manifest(client(app).get(f"/iiif/{rec['id']}/manifest.json").json())
    master = doc["items"][0]["accompanyingCanvas"]
    assert (master["width"], master["height"]) == (W, H)
    body = master["items"][0]["items"][0]["body"]
    assert body["id"] == f"{base}/harbour/full/max/0/default.jpg"
    assert body["service"] == [
        {"id": f"{base}/harbour", "type": "ImageService3", "profile": "level2"}
    ]
    again = runner.invoke(
        cli, ["records", "add", "--iiif", f"{base}/harbour", "--identifier", "harbour"]
    )
    assert again.exit_code == 0 and "already exists" in again.output


def test_a_csv_imports_digital_object_uri(
    app: Any, photo: Any, service: Any, runner: Any, tmp_path: Path
) -> None:
    from imagear.cli import app as cli

    base, _log, server, root = service
    write_level0(root, "a", photo, base, 2, sizes=(750, 1500))
    server.answers = {"/gone/info.json": (404, b"{}", 0)}
    csv_file = tmp_path / "records.csv"
    csv_file.write_text(
        "identifier,title,digitalObjectPath,digitalObjectURI\n"
        f"A1,Harbour,,{base}/a/info.json\n"
        f"A2,Gone,,{base}/gone/info.json\n"
        "A3,Nothing,,\n"
    )
    r = runner.invoke(cli, ["records", "import", str(csv_file), "--json"])
    report = json.loads(r.stdout)
    assert [a["identifier"] for a in report["added"]] == ["A1"]
    errors = {e["line"]: e["error"] for e in report["errors"]}
    assert "HTTP 404" in errors[3]
    assert "digitalObjectPath and digitalObjectURI are empty" in errors[4]
    second = json.loads(runner.invoke(cli, ["records", "import", str(csv_file), "--json"]).stdout)
    assert second["skipped"][0]["line"] == 2 and second["added"] == []


def _refused(app: Any, url: str, runner: Any) -> str:
    from imagear.cli import app as cli

    r = runner.invoke(cli, ["records", "add", "--iiif", url])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)["total"] == 0
    return " ".join(r.output.split())


def test_the_error_cases_are_one_line_and_add_nothing(
    app: Any, service: Any, runner: Any, reserve_port: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.iiif import fetch

    base, _log, server, root = service
    port = reserve_port()
    assert "cannot be reached" in _refused(app, f"http://127.0.0.1:{port}/x", runner)
    (root / "html").mkdir()
    (root / "html" / "info.json").write_text("<html>hello</html>")
    assert "not a IIIF Image service" in _refused(app, f"{base}/html", runner)
    (root / "json").mkdir()
    (root / "json" / "info.json").write_text('{"hello": "world"}')
    assert "not a IIIF Image service" in _refused(app, f"{base}/json", runner)
    huge = {
        "@context": "http://iiif.io/api/image/3/context.json",
        "id": f"{base}/huge",
        "type": "ImageService3",
        "profile": "level0",
        "width": 40000,
        "height": 30000,
    }
    (root / "huge").mkdir()
    (root / "huge" / "info.json").write_text(json.dumps(huge))
    assert "too big" in _refused(app, f"{base}/huge", runner)
    server.answers = {
        "/auth/info.json": (401, b'{"error": "login"}', 0),
        "/slow/info.json": (200, b"{}", 0.5),
        "/fat/info.json": (200, b" " * (fetch.MAX_INFO_BYTES + 10), 0),
    }
    assert "IIIF Authentication" in _refused(app, f"{base}/auth", runner)
    assert "too big" in _refused(app, f"{base}/fat", runner)
    monkeypatch.setattr(fetch, "READ_SECS", 0.1)
    assert "did not answer in time" in _refused(app, f"{base}/slow", runner)


def test_the_plan_respects_the_service_limits_and_small_images() -> None:
    from iiif_services import info_json
    from imagear.iiif.image import info_url, parse_info, plan

    base = "http://127.0.0.1:9/iiif/x"
    capped = parse_info(info_json(base, 3, 2, 8000, 6000, maxArea=640 * 480), base)
    p = plan(capped)
    assert p.width * p.height <= 640 * 480 and (p.width, p.height) == (640, 480)
    small = parse_info(info_json(base, 2, 1, 900, 600), base)
    assert [x.url for x in plan(small).pieces] == [f"{base}/full/full/0/default.jpg"]
    assert (plan(small).width, plan(small).height) == (900, 600)
    portrait = parse_info(info_json(base, 3, 2, 2000, 3000, maxWidth=600), base)
    assert (plan(portrait).width, plan(portrait).height) == (600, 900)
    bare = parse_info(info_json(base, 3, 0, 1000, 800), base)  # level 0, no sizes, no tiles
    assert [x.url for x in plan(bare).pieces] == [f"{base}/full/max/0/default.jpg"]
    assert info_url(f"{base}/full/!200,200/0/default.png") == f"{base}/info.json"
    assert info_url(f"{base}/") == f"{base}/info.json"
