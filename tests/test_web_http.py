"""The web console over HTTP (FastAPI's TestClient): pages, Range requests, the admin token,
CSRF, 404s and paths that would leave storage_root."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

from imagear import review, settings  # noqa: E402
from imagear.db import review as review_db  # noqa: E402
from web_helpers import TOKEN, add_records, bearer, client, clip_file, small_kenburns  # noqa: E402

JSON = {"Accept": "application/json"}


@pytest.fixture
def web(app: Any, make_image: Any) -> tuple[Any, list[int]]:
    ids = add_records(app, make_image, 3, animated=1)
    small_kenburns(app)
    return client(app), ids


def login(c: Any) -> str:
    """Log in with the form; the CSRF token of the session."""
    r = c.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303 and "imagear_session" in r.cookies
    page = c.get("/admin/image-ar/settings")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.mark.all_databases
def test_grid_lists_records_with_posters_and_filters(web: Any) -> None:
    c, ids = web
    page = c.get("/")
    assert page.status_code == 200
    assert "REC-000" in page.text and "Harbour view 2" in page.text
    assert f'src="/image-ar/{ids[0]}/poster"' in page.text
    assert f'data-preview="/image-ar/{ids[0]}/preview" data-preview-kind="video"' in page.text
    animated = c.get("/?show=animated").text
    assert "REC-000" in animated and "REC-001" not in animated
    missing = c.get("/?show=missing").text
    assert "REC-000" not in missing and "REC-002" in missing
    assert "REC-001" in c.get("/?q=view 1").text and "REC-002" not in c.get("/?q=view 1").text
    assert "No records match" in c.get("/?q=100%25").text  # % is a literal, not a wildcard


@pytest.mark.all_databases
def test_browse_pages_in_sql(app: Any, make_image: Any) -> None:
    add_records(app, make_image, 5, animated=0)
    rows, total = review.browse(app, "", "all", limit=2, offset=2)
    assert total == 5 and [r.identifier for r in rows] == ["REC-002", "REC-003"]


def test_video_range_gives_206_with_the_right_bytes(app: Any, web: Any) -> None:
    c, ids = web
    data = clip_file(app, ids[0]).read_bytes()
    whole = c.get(f"/image-ar/{ids[0]}/video")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    part = c.get(f"/image-ar/{ids[0]}/video", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.content == data[100:200]
    tail = c.get(f"/image-ar/{ids[0]}/video", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    beyond = c.get(f"/image-ar/{ids[0]}/video", headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416


def test_poster_falls_back_to_the_master_image(web: Any) -> None:
    c, ids = web
    assert c.get(f"/image-ar/{ids[0]}/poster").headers["content-type"] == "image/jpeg"
    assert c.get(f"/image-ar/{ids[1]}/poster").status_code == 200  # no clip: the master
    assert c.get(f"/image-ar/{ids[1]}/video").status_code == 404
    assert c.get(f"/image-ar/{ids[1]}/preview").status_code == 404


def test_previews_are_mp4_and_older_webp_ones_are_still_served(app: Any, web: Any) -> None:
    from PIL import Image

    from imagear import store

    c, ids = web
    r = c.get(f"/image-ar/{ids[0]}/preview")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content[4:8] == b"ftyp"
    clip = clip_file(app, ids[0])
    clip.with_suffix(store.PREVIEW_SUFFIX).unlink()  # a clip made before MP4 previews
    frames = [Image.new("RGB", (32, 20), (i * 40, 90, 160)) for i in range(3)]
    frames[0].save(clip.with_suffix(".webp"), save_all=True, append_images=frames[1:], loop=0)
    r = c.get(f"/image-ar/{ids[0]}/preview")
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    assert 'data-preview-kind="image"' in c.get("/").text


@pytest.mark.parametrize(
    "path", ["/records/999999", "/image-ar/999999/video", "/image-ar/999999/poster", "/nowhere"]
)
def test_missing_things_are_404_pages(web: Any, path: str) -> None:
    c, _ids = web
    r = c.get(path)
    assert r.status_code == 404


def test_a_stored_path_outside_storage_root_is_never_served(app: Any, web: Any) -> None:
    from sqlalchemy import update

    from imagear.db.schema import CLIPS

    c, ids = web
    secret = app.config.storage_root.parent / "secret.txt"
    secret.write_text("do not serve")
    with app.engine.begin() as conn:  # as a tampered row would say
        conn.execute(
            update(CLIPS)
            .where(CLIPS.c.object_id == ids[0])
            .values(mp4_path="/uploads/../../secret.txt", mp4_filename="../../secret.txt")
        )
    for path in (f"/image-ar/{ids[0]}/video", f"/image-ar/{ids[0]}/preview"):
        r = c.get(path)
        assert r.status_code == 404 and b"do not serve" not in r.content
    assert c.get("/static/../../web/app.py").status_code == 404
    assert c.get("/static/%2e%2e/app.py").status_code == 404


def test_changes_need_the_token(web: Any) -> None:
    c, ids = web
    for path in (
        f"/image-ar/generate/{ids[1]}",
        f"/image-ar/{ids[0]}/delete",
        f"/records/{ids[0]}/reject",
        "/admin/image-ar/settings",
    ):
        r = c.post(path, data={"ar_fps": "9"}, headers=JSON)
        assert r.status_code == 401, path
        wrong = c.post(path, headers={"Authorization": "Bearer nope", **JSON})
        assert wrong.status_code == 401, path
    assert c.get("/admin/image-ar/settings", follow_redirects=False).status_code == 303
    bad = c.get("/admin/image-ar/settings", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert c.post("/login", data={"token": "nope"}).status_code == 401


def test_session_forms_need_the_csrf_token(app: Any, web: Any) -> None:
    c, ids = web
    csrf = login(c)
    refused = c.post(f"/records/{ids[0]}/approve", data={}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = c.post(f"/records/{ids[0]}/approve", data={"csrf": "x" + csrf})
    assert wrong.status_code == 403
    assert review.state(app, ids[0]) is None
    ok = c.post(f"/records/{ids[0]}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    assert review.state(app, ids[0]).state == "approved"  # type: ignore[union-attr]
    assert ids[0] in review.approved_ids(app)


def test_bearer_needs_no_csrf_and_reject_requeues(app: Any, web: Any) -> None:
    from imagear.db import failures as failures_db

    c, ids = web
    clip = clip_file(app, ids[0])
    r = c.post(f"/records/{ids[0]}/reject", headers={**bearer(), **JSON})
    assert r.status_code == 200
    assert not clip.exists()
    assert review.state(app, ids[0]).state == review_db.REJECTED  # type: ignore[union-attr]
    failures = {f.object_id: f for f in failures_db.failures(app.engine)}
    assert failures[ids[0]].error_kind == "quality"  # the batch draws a new seed
    assert "REC-000" in c.get("/?show=rejected").text


def test_generate_returns_at_once_and_the_status_shows_the_clip(app: Any, web: Any) -> None:
    c, ids = web
    r = c.post(f"/image-ar/generate/{ids[1]}", data={"fps": "10"}, headers={**bearer(), **JSON})
    assert r.status_code == 202 and r.headers["location"] == f"/image-ar/{ids[1]}/status"
    for _ in range(200):
        state = c.get(f"/image-ar/{ids[1]}/status").json()
        if state["job"]["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert state["job"]["state"] == "done", state
    assert state["animation"]["ai_model"] == "kenburns"
    assert c.get(state["video"]).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [("num_frames", "abc", "whole number"), ("num_frames", "100000", "Frames field")],
)
def test_generate_validates_like_the_cli_by_field(
    web: Any, field: str, value: str, said: str
) -> None:
    c, ids = web
    r = c.post(f"/image-ar/generate/{ids[1]}", data={field: value}, headers={**bearer(), **JSON})
    assert r.status_code == 400
    assert r.json()["fields"] == [field] and said in r.json()["error"]
    assert "imagear " not in r.json()["error"]  # no shell command in the console's advice
    assert r.json()["code"] == "option_invalid"
    page = c.post(f"/image-ar/generate/{ids[1]}", data={field: value}, headers=bearer())
    assert page.status_code == 400 and said in page.text


def test_generate_with_animation_turned_off_is_409_with_a_json_error(app: Any, web: Any) -> None:
    """ar_enabled = 0: a refusal (409, from the table `imagear serve` shares) with the error as
    data (code, message, the settings concerned) and advice in the console's words, not a 500
    whose advice is a shell command."""
    c, ids = web
    settings.set_value(app.engine, "ar_enabled", "0")
    r = c.post(f"/image-ar/generate/{ids[1]}", data={}, headers={**bearer(), **JSON})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "feature_disabled" and "ar_enabled=0" in body["message"]
    assert body["fields"] == ["ar_enabled", "ar_user_button"]
    assert "/admin/image-ar/settings" in body["advice"] and "`" not in body["error"]
    assert "imagear " not in body["error"]
    page = c.post(f"/image-ar/generate/{ids[1]}", data={}, headers=bearer())
    assert page.status_code == 409 and "settings page" in page.text
    assert "imagear settings" not in page.text


def test_settings_form_validates_and_saves(app: Any, web: Any) -> None:
    c, _ids = web
    csrf = login(c)
    page = c.get("/admin/image-ar/settings")
    for spec in settings.SPECS:
        assert f'name="{spec}"' in page.text
    assert 'id="health"' in page.text and 'id="recent"' in page.text
    bad = c.post("/admin/image-ar/settings", data={"csrf": csrf, "ar_fps": "0", "ar_seed": "5"})
    assert bad.status_code == 400 and "ar_fps" in bad.text
    assert settings.get(app.engine, "ar_seed") != 5  # nothing written when one is refused
    ok = c.post("/admin/image-ar/settings", data={"csrf": csrf, "ar_seed": "5"})
    assert ok.status_code == 200 and "Saved: Seed." in ok.text
    assert settings.get(app.engine, "ar_seed") == 5


def test_login_redirects_only_inside_the_site(web: Any) -> None:
    c, _ids = web
    r = c.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_cli_web_refuses_a_missing_token_variable(cli_env: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from imagear.cli import app as cli

    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["web", "--token-env", "NO_SUCH_TOKEN"])
    assert result.exit_code == 2, result.output
    assert "NO_SUCH_TOKEN" in result.output
    assert "curator console" in CliRunner().invoke(cli, ["web", "--help"]).output.lower()


def test_a_status_that_says_done_shows_the_clip_it_made(app: Any, make_image: Any) -> None:
    """The status route reads the job before the record: a generation that finishes between
    the two reads once answered ``done`` with ``video: null`` (the record read first)."""
    from imagear.animate import AnimateRequest, Animator
    from imagear.web.worker import Job
    from web_helpers import SMALL

    ids = add_records(app, make_image, 1, animated=0)
    c = client(app)
    worker = c.app.state.console.worker

    def finishes_now(object_id: int) -> Job:  # the clip is committed as the job is read
        with Animator(app) as animator:
            animator.animate(AnimateRequest(object_id, model="kenburns", overrides=dict(SMALL)))
        return Job(object_id, state="done", status="created", finished_at=time.time() + 1)

    worker.status = finishes_now
    state = c.get(f"/image-ar/{ids[0]}/status", headers=bearer()).json()
    assert state["job"]["state"] == "done"
    assert state["video"] == f"/image-ar/{ids[0]}/video"
    assert state["animation"]["ai_model"] == "kenburns"
