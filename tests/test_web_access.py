"""Who may see and do what in `imagear web` (issue 23 items 1, 2, 13, 16; issue 25 "Accounts
and roles"), over HTTP against create_app (FastAPI's TestClient): guests see published records
only and never a master or an error's text; curators generate, approve and reject; admins also
delete and change settings; users sign in with a name and an argon2-hashed password; sessions
live in the database; every action is in the audit trail."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from imagear import accounts, auditlog, settings  # noqa: E402
from web_helpers import TOKEN, add_records, bearer, client, clip_file, small_kenburns  # noqa: E402

JSON = {"Accept": "application/json"}
HERATIO_CACHE = "private, max-age=0, no-store"
PASSWORD = "correct horse battery"


@pytest.fixture
def web(app: Any, make_image: Any) -> tuple[Any, list[int]]:
    ids = add_records(app, make_image, 3, animated=1)
    small_kenburns(app)
    return client(app), ids


def sign_in(c: Any, name: str, password: str = PASSWORD) -> str:
    """Sign in with the form as ``name``; the session's CSRF token (read from a page)."""
    r = c.post("/login", data={"name": name, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = c.get("/batch")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def wait_done(c: Any, oid: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    for _ in range(300):
        state: dict[str, Any] = c.get(f"/image-ar/{oid}/status", headers=headers or {}).json()
        if state["job"] and state["job"]["state"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"record {oid} never finished")


# -- item 1: guests see published records only ------------------------------------------------


def test_a_guest_sees_published_records_but_never_the_master(app: Any, web: Any) -> None:
    c, ids = web
    # imagear's own database: every record is published unless web_public = false
    assert "Harbour view 0" in c.get("/").text
    assert c.get(f"/records/{ids[0]}").status_code == 200
    video = c.get(f"/image-ar/{ids[0]}/video")
    assert video.status_code == 200 and video.headers["cache-control"] == HERATIO_CACHE
    assert c.get(f"/image-ar/{ids[0]}/poster").status_code == 200
    assert c.get(f"/image-ar/{ids[0]}/preview").status_code == 200
    # the master is the archive's, not a derivative: signed-in users only
    assert c.get(f"/image-ar/{ids[0]}/master").status_code == 404
    assert c.get(f"/image-ar/{ids[0]}/master", headers=bearer()).status_code == 200
    page = c.get(f"/records/{ids[0]}").text
    assert f"/image-ar/{ids[0]}/master" not in page
    # a poster of a record with no clip is a still made from the master, never the master
    still = c.get(f"/image-ar/{ids[1]}/poster")
    assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"


def test_with_web_public_false_a_guest_sees_nothing(app: Any, web: Any) -> None:
    c, ids = web
    app.config.web_public = False
    assert c.get("/", headers=JSON).status_code == 200
    assert "Harbour view" not in c.get("/").text
    for path in (
        f"/records/{ids[0]}",
        f"/image-ar/{ids[0]}/video",
        f"/image-ar/{ids[0]}/poster",
        f"/image-ar/{ids[0]}/preview",
        f"/image-ar/{ids[0]}/status",
        f"/image-ar/{ids[0]}/master",
    ):
        assert c.get(path).status_code == 404, path
        assert c.get(path, headers=bearer()).status_code == 200, path  # signed in: all
    assert "Harbour view 0" in c.get("/", headers=bearer()).text


def test_a_guest_never_reads_error_text_or_paths(app: Any, web: Any, tmp_path: Path) -> None:
    from imagear.records import find_master

    c, ids = web
    master = Path(find_master(app, ids[2]).file)
    master.unlink()  # ImageMissing names where the master should be
    r = c.get(f"/image-ar/{ids[2]}/poster")
    assert r.status_code == 404
    assert str(tmp_path) not in r.text and "master" not in r.text.lower()
    r = c.get(f"/image-ar/{ids[2]}/poster", headers={**JSON})
    assert r.json() == {"error": "There is nothing at this address."}
    signed = c.get(f"/image-ar/{ids[2]}/poster", headers={**bearer(), **JSON})
    assert signed.status_code == 404 and str(master.parent) in signed.json()["error"]
    # a failed job's message (a server, a path) is not in a guest's status
    settings.set_value(app.engine, "ar_model", "kenburns")
    r = c.post(
        f"/image-ar/generate/{ids[1]}",
        data={"fps": "10", "num_frames": "10"},
        headers={**bearer(), **JSON},
    )
    assert r.status_code == 202
    wait_done(c, ids[1], bearer())
    job = c.get(f"/image-ar/{ids[1]}/status").json()["job"]
    assert set(job) == {"object_id", "state", "status"}
    assert "message" in c.get(f"/image-ar/{ids[1]}/status", headers=bearer()).json()["job"]


# -- issue 25: accounts, roles, sessions, audit -----------------------------------------------


@pytest.fixture
def people(app: Any) -> None:
    accounts.add_user(app, "cora", PASSWORD, "curator")
    accounts.add_user(app, "adam", PASSWORD, "admin")


def test_roles_decide_what_each_user_may_do(app: Any, web: Any, people: None) -> None:
    c, ids = web
    csrf = sign_in(c, "cora")
    assert "cora (curator)" in c.get("/").text
    # a curator approves, rejects and generates; may not delete or change settings
    assert c.post(f"/records/{ids[0]}/approve", data={"csrf": csrf}).status_code == 200
    r = c.post(f"/records/{ids[0]}/delete", data={"csrf": csrf}, headers=JSON)
    assert r.status_code == 403 and "curator" in r.json()["error"]
    assert c.get("/admin/image-ar/settings").status_code == 403
    r = c.post("/admin/image-ar/settings", data={"csrf": csrf, "ar_seed": "5"})
    assert r.status_code == 403 and settings.get(app.engine, "ar_seed") != 5
    assert c.get("/metrics").status_code == 401
    r = c.post(
        f"/image-ar/generate/{ids[1]}",
        data={"csrf": csrf, "fps": "10", "num_frames": "10"},
        headers=JSON,
    )
    assert r.status_code == 202
    wait_done(c, ids[1])
    assert c.post(f"/records/{ids[1]}/reject", data={"csrf": csrf}).status_code == 200
    # an admin also deletes and changes the settings
    admin = client(app)
    csrf = sign_in(admin, "adam")
    assert admin.post(f"/records/{ids[0]}/delete", data={"csrf": csrf}).status_code == 200
    assert (
        admin.post("/admin/image-ar/settings", data={"csrf": csrf, "ar_seed": "5"}).status_code
        == 200
    )
    # every action, with its user, role and time, in the audit trail and on the record page
    done = [(e.user, e.role, e.action, e.object_id) for e in reversed(auditlog.entries(app))]
    assert done == [
        ("cora", "curator", "approve", ids[0]),
        ("cora", "curator", "generate", ids[1]),
        ("cora", "curator", "reject", ids[1]),
        ("adam", "admin", "delete", ids[0]),
        ("adam", "admin", "settings", None),
    ]
    assert auditlog.entries(app)[0].detail == "settings=ar_seed"
    page = admin.get(f"/records/{ids[1]}").text
    assert 'id="audit"' in page and "reject by cora (curator)" in page
    assert 'id="audit"' not in client(app).get(f"/records/{ids[1]}").text  # not for guests


def test_the_review_workspace_by_role(app: Any, web: Any, people: None) -> None:
    """Issue 25's workspace with the roles: a curator reviews (queue, approve/reject buttons)
    but neither deletes, restores nor retries a batch's failures, and sees no delete button or
    Settings link; an admin deletes to the trash and restores; a guest sees no button."""
    c, ids = web
    guest = client(app)
    assert guest.get("/review", follow_redirects=False).status_code == 303
    page = guest.get(f"/records/{ids[0]}").text
    assert 'id="approve"' not in page and 'id="delete"' not in page and "<dialog" not in page
    csrf = sign_in(c, "cora")
    assert c.get("/review").status_code == 200
    page = c.get(f"/records/{ids[0]}").text
    assert 'id="approve"' in page and 'id="reject"' in page and "<dialog" in page
    assert 'id="delete"' not in page and 'href="/admin/image-ar/settings"' not in page
    assert 'href="/review"' in page
    for path in (f"/records/{ids[0]}/restore", "/batch/retry"):
        r = c.post(path, data={"csrf": csrf}, headers=JSON)
        assert r.status_code == 403 and "curator" in r.json()["error"], path
    french = c.post(
        f"/records/{ids[0]}/delete", data={"csrf": csrf}, headers={**JSON, "Accept-Language": "fr"}
    )
    assert french.status_code == 403 and "conservateur" in french.json()["error"]
    admin = client(app)
    csrf = sign_in(admin, "adam")
    page = admin.get(f"/records/{ids[0]}").text
    assert f'action="/records/{ids[0]}/delete"' in page
    gone = admin.post(f"/records/{ids[0]}/delete", data={"csrf": csrf}, headers=JSON)
    assert gone.json()["restore_url"] == f"/records/{ids[0]}/restore"
    assert guest.get(f"/image-ar/{ids[0]}/video").status_code == 404
    back = admin.post(f"/records/{ids[0]}/restore", data={"csrf": csrf}, headers=JSON)
    assert back.status_code == 200 and guest.get(f"/image-ar/{ids[0]}/video").status_code == 200
    actions = [(e.user, e.action) for e in reversed(auditlog.entries(app, ids[0]))]
    assert actions == [("adam", "delete"), ("adam", "restore")]


def test_the_users_page_lists_accounts_for_admins_only(app: Any, people: None) -> None:
    guest = client(app)
    assert guest.get("/admin/users", follow_redirects=False).status_code == 303
    curator = client(app)
    sign_in(curator, "cora")
    assert 'href="/admin/users"' not in curator.get("/").text
    assert curator.get("/admin/users").status_code == 403
    admin = client(app)
    sign_in(admin, "adam")
    assert 'href="/admin/users"' in admin.get("/").text
    page = admin.get("/admin/users").text
    assert "<td>cora</td><td>curator</td>" in page and "<td>adam</td><td>admin</td>" in page
    assert "PASSWORD" not in page and "argon2" not in page  # never a hash
    french = admin.get("/admin/users", headers={"Accept-Language": "fr"}).text
    assert "<td>cora</td><td>conservateur</td>" in french and "Utilisateurs" in french
    assert admin.post("/admin/users", data={}).status_code == 405  # read-only


def test_the_created_by_of_a_users_clip_is_the_user(app: Any, web: Any, people: None) -> None:
    c, ids = web
    csrf = sign_in(c, "cora")
    r = c.post(
        f"/image-ar/generate/{ids[2]}",
        data={"csrf": csrf, "fps": "10", "num_frames": "10"},
        headers=JSON,
    )
    assert r.status_code == 202
    assert wait_done(c, ids[2])["animation"]["created_by"] == "cora"


def test_wrong_passwords_are_refused_and_throttled_per_name(app: Any, people: None) -> None:
    from fastapi.testclient import TestClient

    from imagear.web.app import create_app

    class Clock:
        now = 1_000_000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    from imagear.web.security import WebOptions

    web = create_app(app, TOKEN, options=WebOptions(clock=clock))

    def from_address(address: str) -> Any:
        return TestClient(web, base_url="http://127.0.0.1", client=(address, 50000))

    for i in range(5):  # five addresses, one wrong password each, all for cora
        r = from_address(f"192.0.2.{i + 1}").post(
            "/login", data={"name": "cora", "password": "wrong password"}
        )
        assert r.status_code == 401 and "do not match" in r.text
    fresh = from_address("192.0.2.50")
    r = fresh.post("/login", data={"name": "cora", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # the name waits
    r = fresh.post("/login", data={"name": "adam", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303  # another name from that address is not held up
    unknown = fresh.post("/login", data={"name": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401 and "do not match" in unknown.text  # same words
    clock.now += 61
    r = fresh.post("/login", data={"name": "cora", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def test_sessions_end_on_logout_password_change_removal_and_expiry(
    app: Any, web: Any, people: None
) -> None:
    from imagear.web.security import WebOptions

    c, ids = web
    csrf = sign_in(c, "cora")
    cookie = c.cookies["imagear_session"]

    def works(cookie: str, csrf: str, on: Any = None) -> bool:
        other = on or client(app)
        other.cookies.set("imagear_session", cookie)
        r = other.post(f"/records/{ids[0]}/approve", data={"csrf": csrf})
        return bool(r.status_code == 200)

    assert works(cookie, csrf)  # a restart (another app) keeps it: sessions are in the database
    assert not works(cookie, "not-the-csrf-token")
    accounts.set_password(app, "cora", "another password here")
    assert not works(cookie, csrf)  # a password change ends every session of the user
    csrf = sign_in(c, "cora", "another password here")
    cookie = c.cookies["imagear_session"]
    assert works(cookie, csrf)
    accounts.remove_user(app, "cora")
    assert not works(cookie, csrf)
    # logout
    csrf = sign_in(c, "adam")
    cookie = c.cookies["imagear_session"]
    assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert not works(cookie, csrf)
    # expiry: a clock 13 hours on
    from fastapi.testclient import TestClient

    from imagear.web.app import create_app

    csrf = sign_in(c, "adam")
    cookie = c.cookies["imagear_session"]
    later = WebOptions(clock=lambda: time.time() + 13 * 3600)
    late = TestClient(create_app(app, TOKEN, options=later), base_url="http://127.0.0.1")
    assert works(cookie, csrf)
    assert not works(cookie, csrf, late)


def test_the_stored_password_is_an_argon2_hash(app: Any, people: None) -> None:
    from sqlalchemy import text

    with app.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM imagear_user")).scalars().all()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)
    assert accounts.verify(app, "cora", PASSWORD) is not None
    assert accounts.verify(app, "cora", "wrong") is None


# -- item 2: Heratio's delete takes the clip row's id ------------------------------------------


@pytest.mark.all_databases
def test_heratios_delete_route_takes_the_clip_row_id(app: Any, make_image: Any) -> None:
    from imagear.animate import AnimateRequest, Animator
    from imagear.records import get_record
    from web_helpers import SMALL

    ids = add_records(app, make_image, 3, animated=0)
    with Animator(app) as animator:  # clip rows 1, 2 for records 3, 2: ids that differ
        for oid in (ids[2], ids[1]):
            animator.animate(AnimateRequest(oid, model="kenburns", overrides=dict(SMALL)))
    rows = {oid: get_record(app, oid).animation for oid in ids[1:]}
    first = rows[ids[2]]
    assert first is not None and first.id is not None and first.id != ids[2]
    c = client(app)
    assert c.post(f"/image-ar/{first.id}/delete", headers={**bearer(), **JSON}).status_code == 200
    assert get_record(app, ids[2]).animation is None  # the clip row named: record 3's
    assert get_record(app, ids[1]).animation is not None  # not the record that has that id
    assert c.post("/image-ar/999999/delete", headers=bearer()).status_code == 404
    # imagear's own delete, by record
    assert c.post(f"/records/{ids[1]}/delete", headers=bearer()).status_code in (200, 303)
    assert get_record(app, ids[1]).animation is None


# -- item 13: fields a model does not take are ignored and logged ------------------------------


def test_heratios_form_fields_are_ignored_and_logged(
    app: Any, web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c, ids = web
    form = {"motion_bucket_id": "127", "_token": "laravel-csrf", "fps": "10", "num_frames": "10"}
    with caplog.at_level("INFO", logger="imagear.web"):
        r = c.post(f"/image-ar/generate/{ids[1]}", data=form, headers={**bearer(), **JSON})
    assert r.status_code == 202, r.text
    said = [rec.getMessage() for rec in caplog.records if "ignored" in rec.getMessage()]
    assert said and "_token" in said[0] and "motion_bucket_id" in said[0]
    state = wait_done(c, ids[1], bearer())
    assert state["job"]["state"] == "done" and state["animation"]["ai_model"] == "kenburns"


# -- item 16: HEAD, ids, no master, TIFF masters ------------------------------------------------


def test_head_on_the_video_route(app: Any, web: Any) -> None:
    c, ids = web
    r = c.head(f"/image-ar/{ids[0]}/video")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == clip_file(app, ids[0]).stat().st_size
    assert r.headers["content-type"] == "video/mp4"
    assert c.head(f"/image-ar/{ids[1]}/video").status_code == 404


def test_non_numeric_ids_are_404_on_every_route(web: Any) -> None:
    c, _ids = web
    for method, path in (
        ("GET", "/records/abc"),
        ("HEAD", "/image-ar/abc/video"),
        ("GET", "/image-ar/abc/status"),
        ("POST", "/image-ar/generate/abc"),
        ("POST", "/image-ar/abc/delete"),
        ("POST", "/records/abc/delete"),
        ("POST", "/records/abc/reject"),
    ):
        r = c.request(method, path, headers=bearer())
        assert r.status_code == 404, (method, path, r.status_code)


def test_a_record_without_its_master_is_refused_at_once(app: Any, web: Any) -> None:
    from imagear.records import find_master

    c, ids = web
    Path(find_master(app, ids[2]).file).unlink()
    r = c.post(f"/image-ar/generate/{ids[2]}", data={}, headers={**bearer(), **JSON})
    assert r.status_code == 404 and r.json()["code"] == "image_missing"
    assert c.get(f"/image-ar/{ids[2]}/status", headers=bearer()).json()["job"] is None


def sixteen_bit_tiff(path: Path) -> Path:
    from PIL import Image

    img = Image.new("I;16", (640, 400))
    img.putdata([(x * 100) % 65535 for x in range(640 * 400)])
    img.save(path, format="TIFF")
    return path


def test_a_tiff_master_is_served_as_a_jpeg_made_once(app: Any, tmp_path: Path) -> None:
    from imagear.records import add_record

    oid = add_record(app, sixteen_bit_tiff(tmp_path / "scan.tif"), "T-1", "Scan").id
    c = client(app)
    r = c.get(f"/image-ar/{oid}/master", headers=bearer())
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    made = list((Path(app.config.storage_root) / "display" / str(oid)).glob("*.jpg"))
    assert len(made) == 2 or len(made) == 1
    before = {p: p.stat().st_mtime_ns for p in made}
    again = c.get(f"/image-ar/{oid}/master", headers=bearer())
    assert again.content == r.content
    assert {p: p.stat().st_mtime_ns for p in made} == before  # cached, not made again
    poster = c.get(f"/image-ar/{oid}/poster")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"


def test_generate_while_turned_off_is_409_for_a_curator(app: Any, web: Any, people: None) -> None:
    c, ids = web
    csrf = sign_in(c, "cora")
    settings.set_value(app.engine, "ar_enabled", "0")
    r = c.post(f"/image-ar/generate/{ids[1]}", data={"csrf": csrf}, headers=JSON)
    assert r.status_code == 409 and r.json()["code"] == "feature_disabled"
    assert TOKEN not in r.text


def test_a_guest_does_not_read_a_failures_text_in_the_grid(app: Any, web: Any) -> None:
    from sqlalchemy import text

    c, ids = web
    secret = "/srv/private/quarantine/7/clip.mp4 on gpu.invalid"
    with app.engine.begin() as conn:  # a failed batch job, as a run records it
        conn.execute(
            text(
                "INSERT INTO image_ar_job (object_id, status, attempts, last_error, "
                "last_error_kind, updated_at) VALUES (:o, 'failed', 1, :e, 'server', :t)"
            ),
            {"o": ids[1], "e": secret, "t": "2026-01-01 00:00:00"},
        )
    assert "failed" in c.get("/").text and secret not in c.get("/").text
    assert secret in c.get("/", headers=bearer()).text


def test_a_guests_json_error_is_only_its_status_words(app: Any, web: Any) -> None:
    c, _ids = web
    r = c.get("/image-ar/987654/status", headers=JSON)
    assert r.status_code == 404 and r.json() == {"error": "There is nothing at this address."}
    signed = c.get("/image-ar/987654/status", headers={**JSON, **bearer()})
    assert signed.json()["code"] == "record_not_found"
