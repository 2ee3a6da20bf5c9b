"""The web console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium;
Playwright's own browser download is never used). Skipped when Chromium or the playwright
package is missing, unless IMAGEAR_REQUIRE_BROWSER=1 (set by .ci/run), where that fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from browsing import browser_problem, chromium, serve_console
from web_helpers import TOKEN, add_records, small_kenburns

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium(browser_problem())


@pytest.fixture
def site(app: Any, make_image: Any, db_backend: str) -> Iterator[tuple[str, list[int]]]:
    """The console served by uvicorn in a thread; (base URL, record ids: first two animated)."""
    if db_backend != "sqlite":
        pytest.skip("the browser tests run on SQLite; the HTTP tests cover the databases")
    ids = add_records(app, make_image, 4, animated=2)
    small_kenburns(app)
    with serve_console(app) as base:
        yield base, ids


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def wait_until(page: Any, expression: str, timeout: float = 30.0) -> None:
    """Poll ``expression`` in the page until it is true. (Playwright's wait_for_function evals
    its string inside the page, which the console's Content-Security-Policy forbids; evaluate
    goes through the DevTools protocol, so the pages are tested under their real CSP.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.05)


def _login(page: Any, base: str) -> None:
    page.goto(f"{base}/login?next=/")
    page.fill("input[name=password]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_grid_record_and_the_clip_plays(page: Any, site: Any) -> None:
    base, ids = site
    page.goto(base + "/")
    assert page.locator("li.tile").count() == 4
    assert page.locator("#total").inner_text() == "4 records"
    page.click("a[data-filter=animated]")
    page.wait_for_url("**show=animated**")
    assert page.locator("li.tile").count() == 2
    tile = page.locator(f"li.tile[data-id='{ids[0]}'] img.poster")
    tile.hover()  # the muted MP4 preview plays, looped, over the poster
    video = page.locator(f"li.tile[data-id='{ids[0]}'] video.preview")
    assert "/preview" in (video.get_attribute("src") or "")
    assert video.evaluate("v => v.muted && v.loop && v.hasAttribute('playsinline')")
    wait_until(
        page, f"document.querySelector(\"li.tile[data-id='{ids[0]}'] video\").currentTime > 0"
    )
    tile.click()
    page.wait_for_url(f"{base}/records/{ids[0]}")
    assert "Harbour view 0" in page.locator("h1").inner_text()
    assert "REC-000" in page.locator("#archival").inner_text()
    page.evaluate("document.getElementById('clip').play()")
    wait_until(page, "document.getElementById('clip').currentTime > 0.3")
    assert page.evaluate("document.getElementById('clip').loop") is True
    assert page.evaluate("document.getElementById('clip').muted") is True


def test_animate_from_the_record_page_and_reject(page: Any, site: Any) -> None:
    base, ids = site
    _login(page, base)
    page.goto(f"{base}/records/{ids[2]}")
    assert page.locator("#clip").is_hidden()
    page.fill("#f-num_frames", "abc")
    page.click("#animate-button")
    error = page.locator(".field-error[data-field=num_frames]")
    error.wait_for()
    assert "whole number" in error.inner_text()
    page.fill("#f-num_frames", "10")
    page.fill("#f-fps", "10")
    page.click("#animate-button")
    wait_until(page, "document.getElementById('record').dataset.state === 'done'")
    wait_until(page, "!document.getElementById('clip').hidden")
    assert "/image-ar/" in (page.locator("#clip").get_attribute("src") or "")
    assert page.locator("#made").inner_text().count("kenburns") == 1
    page.goto(f"{base}/records/{ids[1]}")
    page.evaluate("window.notReloaded = true")
    page.click("#reject")  # asks first, in a <dialog>
    assert page.locator("dialog#confirm").is_visible()
    page.click("#confirm-ok")
    wait_until(page, "document.getElementById('review-state').textContent.startsWith('rejected')")
    wait_until(page, "document.getElementById('clip').hidden")
    assert page.evaluate("window.notReloaded") is True  # updated in place
    assert "Clip rejected" in page.locator(".msg.ok").inner_text()
    page.goto(f"{base}/?show=rejected")
    assert page.locator("li.tile").count() == 1


def test_change_a_setting_as_admin(app: Any, page: Any, site: Any) -> None:
    from imagear import settings

    base, _ids = site
    _login(page, base)
    page.goto(f"{base}/admin/image-ar/settings")
    assert page.locator("#health").is_visible()
    page.fill("#s-ar_fps", "0")
    page.click("#save")
    assert "ar_fps" in page.locator(".setting.has-error").inner_text()
    page.fill("#s-ar_fps", "12")
    page.click("#save")
    page.locator("#saved").wait_for()
    assert settings.get(app.engine, "ar_fps") == 12


def test_sign_in_with_a_name_and_password_as_a_curator(app: Any, page: Any, site: Any) -> None:
    from imagear import accounts

    base, ids = site
    accounts.add_user(app, "cora", "correct horse battery", "curator")
    page.goto(f"{base}/records/{ids[0]}")
    assert page.locator("#approve").count() == 0  # a guest reviews nothing
    page.click("#login-link")
    page.wait_for_url("**/login?next=**")
    page.fill("#login-name", "cora")
    page.fill("#login-password", "not her password")
    page.click("#login-submit")
    assert "do not match" in page.locator("#login-error").inner_text()
    assert page.locator("#login-name").input_value() == "cora"  # the name is kept
    page.fill("#login-password", "correct horse battery")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/records/{ids[0]}")
    assert page.locator("#signed-in-as").inner_text() == "cora (curator)"
    assert page.locator("#approve").is_visible()
    assert page.locator("#delete").count() == 0  # deleting is for admins
    assert page.locator("a[href='/admin/image-ar/settings']").count() == 0
    page.click("#approve")  # in place (no reload): the badge follows the status
    page.locator(".msg.ok").wait_for()
    wait_until(page, "document.getElementById('review-state').textContent.startsWith('approved')")
    page.reload()
    assert page.locator("#review-state").inner_text().startswith("approved")
    assert "approve by cora (curator)" in page.locator("#audit").inner_text()
    page.click("#logout")
    page.wait_for_url(f"{base}/")
    assert page.locator("#login-link").is_visible()


def test_refused_without_the_token(page: Any, site: Any) -> None:
    base, ids = site
    page.goto(f"{base}/admin/image-ar/settings")
    page.wait_for_url("**/login?next=**")
    page.fill("input[name=password]", "not-the-token")
    page.click("button[type=submit]")
    assert "not the admin token" in page.locator("#login-error").inner_text()
    page.goto(f"{base}/records/{ids[2]}")
    assert page.locator("#animate-button").is_disabled()
    status = page.evaluate(
        f"fetch('/image-ar/generate/{ids[2]}', {{method: 'POST', body: new FormData()}})"
        ".then(r => r.status)"
    )
    assert status == 401


def test_the_batch_page_follows_a_run_without_a_reload(app: Any, page: Any, site: Any) -> None:
    from imagear.batch import BatchOptions, BatchRunner

    base, ids = site
    page.goto(f"{base}/batch")
    assert page.locator("#batch-total").inner_text() == "0"
    assert page.locator("#batch-active").inner_text() == "idle"
    page.evaluate("window.notReloaded = true")
    # a batch run elsewhere (here: this process, as cron would in another): the two records
    # without a clip, small kenburns clips
    small = {"num_frames": 10, "fps": 10, "width": 160, "height": 96}
    summary = BatchRunner(app, BatchOptions(overrides=small)).run()
    assert summary.count("created") == 2
    wait_until(page, "document.getElementById('batch-done').textContent === '2'")
    assert page.locator("#batch-total").inner_text() == "2"
    assert page.locator("#batch-percent").inner_text() == "100.0"
    assert sorted(page.locator("#batch-last a").all_inner_texts()) == [str(i) for i in ids[2:4]]
    when = page.locator("#batch-last span").first  # the reader's local time, the ISO as title
    assert (when.get_attribute("title") or "").endswith("+00:00")
    assert not when.inner_text().strip().endswith("Z") and "T" not in when.inner_text()
    assert page.evaluate("window.notReloaded") is True  # updated in place
    # a runner elsewhere claims a record (held for 100 s so far): its row shows, with its age
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from imagear.db.schema import JOB

    now = datetime.now(UTC)
    with app.engine.begin() as conn:
        conn.execute(
            update(JOB)
            .where(JOB.c.object_id == ids[2])
            .values(
                status="running",
                claimed_by="host-b:7 <b>",
                attempts=1,
                updated_at=now - timedelta(seconds=100),
                claim_expires_at=now + timedelta(minutes=2),
            )
        )
    page.wait_for_selector("#batch-running tbody tr")
    cells = page.locator("#batch-running tbody tr td").all_inner_texts()
    assert cells == [str(ids[2]), "host-b:7 <b>", "2 min", "1", "held"]
    assert page.locator("#batch-active").inner_text() == "running"
    assert page.locator("#batch-none-running").is_hidden()
    assert page.evaluate("window.notReloaded") is True
    page.click(f"#batch-last a >> text={ids[3]}")
    page.wait_for_url(f"{base}/records/{ids[3]}")
