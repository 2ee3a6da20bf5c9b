"""The curator console's review workspace in a real browser (Debian's Chromium through
Playwright, as tests/test_web_browser.py): the record page (a TIFF master in a box that keeps
its size, the compare overlay, previous/next, delete confirmed in a <dialog> and the page
updated in place), the review queue's keys, the animate form (Ken Burns motions as choices,
only runnable models, field errors tied to their fields); the record page and the queue on a
1366 px desktop in English and a 390 px phone in French; and on every page (desktop in English,
phone in English and French): axe-core finds no serious or critical WCAG violation, nothing
scrolls sideways, and none of the console's own assets is missing. One browser for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browsing import serve_console
from test_web_browser import _login, browser, wait_until  # noqa: F401 (the module's browser)
from web_helpers import SMALL, add_records, small_kenburns

pytestmark = pytest.mark.slow
AXE = Path(__file__).parent.parent / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def site(app: Any, make_image: Any, db_backend: str) -> Iterator[tuple[str, list[int]]]:
    """The console on loopback: records 0-1 animated, 2-3 not, 4 a TIFF master with a clip."""
    if db_backend != "sqlite":
        pytest.skip("the browser tests run on SQLite; the HTTP tests cover the databases")

    from imagear.animate import AnimateRequest, Animator
    from imagear.records import add_record

    ids = add_records(app, make_image, 4, animated=2)
    tiff = make_image("master.tif", size=(400, 300), fmt="TIFF")
    ids.append(add_record(app, tiff, "REC-TIFF", "A TIFF master").id)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(ids[4], model="kenburns", overrides=dict(SMALL)))
    small_kenburns(app)
    with serve_console(app) as base:
        yield base, ids


def new_page(browser: Any, viewport: dict[str, int], locale: str = "en-GB") -> Any:  # noqa: F811
    context = browser.new_context(viewport=viewport, locale=locale)  # its Accept-Language
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811
    p = new_page(browser, DESKTOP)
    yield p
    p.context.close()


# the workspace on a desktop in English and on a phone in French: (viewport, locale, words)
WORDS = {
    "en": {"deleted": "deleted", "restored": "restored", "waiting": "waiting", "Review": "Review",
           "approve": "A approve", "of": "of"},
    "fr": {"deleted": "supprimé", "restored": "restauré", "waiting": "en attente",
           "Review": "Revue", "approve": "A approuver", "of": "sur"},
}  # fmt: skip


@pytest.fixture(params=[(DESKTOP, "en-GB"), (PHONE, "fr-FR")], ids=["desktop-en", "phone-fr"])
def where(browser: Any, request: Any) -> Iterator[tuple[Any, dict[str, str]]]:  # noqa: F811
    viewport, locale = request.param
    p = new_page(browser, viewport, locale)
    yield p, WORDS[locale[:2]]
    p.context.close()


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


def test_record_page_tiff_compare_neighbours_and_delete_in_place(
    app: Any, where: Any, site: Any
) -> None:
    from imagear.records import get_record

    page, words = where
    base, ids = site
    _login(page, base)
    page.goto(f"{base}/records/{ids[4]}")
    # Chromium cannot draw a TIFF: the master route converts it (imagear.display), and the
    # master's box keeps the clip's size
    wait_until(page, "document.getElementById('master').naturalWidth > 0")
    assert page.locator("#master-unshown").is_hidden()
    master, clip = box(page, ".pane:first-child .frame"), box(page, ".pane-clip .frame")
    assert master["height"] > 150 and abs(master["height"] - clip["height"]) < 1
    assert abs(master["width"] - clip["width"]) < 1
    # compare: the clip over the master, cut by a slider
    page.click("#compare")
    assert page.locator("#compare").get_attribute("aria-pressed") == "true"
    assert page.locator("#slider").is_visible()
    assert abs(box(page, ".pane-clip .frame")["y"] - box(page, ".pane:first-child .frame")["y"]) < 1
    # previous / next record, by id
    assert page.locator("#prev").get_attribute("href") == f"/records/{ids[3]}"
    assert page.locator("#next").count() == 0
    # delete: asked in a <dialog>; Cancel keeps the clip
    page.evaluate("window.notReloaded = true")
    page.click("#delete")
    assert page.locator("dialog#confirm").is_visible()
    page.click("#confirm-cancel")
    assert get_record(app, ids[4]).animation is not None
    page.click("#delete")
    page.click("#confirm-ok")
    page.locator(".msg.ok").wait_for()
    assert words["deleted"] in page.locator(".msg.ok").inner_text()
    wait_until(page, "document.getElementById('clip').hidden")
    assert page.locator("#review").is_hidden()  # nothing left to approve
    assert page.evaluate("window.notReloaded") is True
    assert get_record(app, ids[4]).animation is None
    page.click("#undo")  # the clip was kept in the trash: back, in place
    wait_until(page, "!document.getElementById('clip').hidden")
    assert words["restored"] in page.locator(".msg.ok").inner_text()
    assert get_record(app, ids[4]).animation is not None
    assert page.evaluate("window.notReloaded") is True


def test_the_review_queue_with_keys(app: Any, where: Any, site: Any) -> None:
    from imagear import review

    page, words = where
    base, ids = site
    _login(page, base)
    page.goto(f"{base}/review")
    assert page.locator("#queue-count").inner_text() == f"3 {words['waiting']}"
    assert words["approve"] in page.locator("#keys").inner_text().replace("\n", " ")
    assert page.locator("nav a[aria-current=page]").inner_text() == words["Review"]
    assert page.locator("#q-pos").inner_text() == f"1 {words['of']} 3"
    page.keyboard.press("j")
    assert page.locator("#q-pos").inner_text() == f"2 {words['of']} 3"
    page.keyboard.press("k")
    assert page.locator("#queue").get_attribute("data-current") == str(ids[0])
    wait_until(page, "!document.getElementById('q-clip').paused")
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('q-clip').paused")
    page.keyboard.press("a")  # approve ids[0]: the next one comes
    wait_until(page, f"document.getElementById('queue').dataset.current === '{ids[1]}'")
    assert review.state(app, ids[0]) is not None and review.state(app, ids[0]).state == "approved"
    page.keyboard.press("r")  # reject asks first
    assert page.locator("dialog#confirm").is_visible()
    page.click("#confirm-ok")
    wait_until(page, f"document.getElementById('queue').dataset.current === '{ids[4]}'")
    assert review.state(app, ids[1]).state == "rejected"
    assert page.locator("#queue-count").inner_text() == f"1 {words['waiting']}"


def test_the_animate_form_offers_motions_and_ties_errors_to_fields(
    app: Any, page: Any, site: Any
) -> None:
    base, ids = site
    _login(page, base)
    page.goto(f"{base}/records/{ids[2]}")
    models = page.eval_on_selector_all("#f-model option", "os => os.map(o => o.value)")
    assert "kenburns" in models and "svd" not in models  # no weights here: SVD cannot run
    motions = page.eval_on_selector_all("#f-motion option", "os => os.map(o => o.value)")
    assert {"zoom_in", "pan_lr", "ken_burns_diagonal"} <= set(motions)
    field = page.locator("#f-num_frames")
    assert "e-num_frames" in (field.get_attribute("aria-describedby") or "")
    page.fill("#f-num_frames", "abc")
    page.click("#animate-button")
    page.locator("#e-num_frames:not(:empty)").wait_for()
    assert "whole number" in page.locator("#e-num_frames").inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator(".msg.bad").count() == 1
    page.fill("#f-num_frames", "10")
    page.fill("#f-fps", "10")
    page.select_option("#f-motion", "zoom_in")
    page.click("#animate-button")
    wait_until(page, "document.getElementById('record').dataset.state === 'done'")
    assert field.get_attribute("aria-invalid") is None
    assert page.locator(".msg.bad").count() == 0  # gone with the clip it was about
    assert "zoom_in" in page.locator("#made").inner_text()
    assert page.locator("#review").is_visible()


AXE_RUN = """() => axe.run(document, {runOnly: {type: 'tag', values:
  ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))"""


@pytest.mark.parametrize(
    ("viewport", "locale"),
    [(DESKTOP, "en-GB"), (PHONE, "en-US"), (PHONE, "fr-FR")],
    ids=["desktop-en", "phone-en", "phone-fr"],
)
def test_every_page_passes_axe_fits_a_phone_and_loads_its_assets(
    browser: Any,  # noqa: F811
    site: Any,
    viewport: dict[str, int],
    locale: str,
) -> None:
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed ({AXE}): npm ci")
    base, ids = site
    page = new_page(browser, viewport, locale)
    missing: list[str] = []
    page.on(
        "response",
        lambda r: (
            missing.append(f"{r.status} {r.url}")
            if r.url.startswith(base) and r.status >= 400
            else None
        ),
    )
    axe = AXE.read_text(encoding="utf-8")
    guest = ["/", f"/records/{ids[0]}", "/batch", "/login"]
    curator = ["/", f"/records/{ids[0]}", f"/records/{ids[2]}", "/review", "/batch"]
    curator += ["/admin/image-ar/settings", "/admin/users"]
    try:
        for signed_in, paths in ((False, guest), (True, curator)):
            if signed_in:
                _login(page, base)
            for path in paths:
                page.goto(base + path)
                assert page.evaluate("document.documentElement.lang") == locale[:2]
                page.evaluate(axe)  # through DevTools: the page's CSP stays as it is
                problems = page.evaluate(AXE_RUN)
                assert problems == [], f"{path} ({viewport['width']} px): {problems}"
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= viewport["width"], f"{path} scrolls sideways: {wide} px"
                if path.startswith("/admin/") and viewport is DESKTOP:
                    tall = page.evaluate("document.documentElement.scrollHeight")
                    assert tall < 2000, f"the settings page is {tall} px tall"
        page.goto(f"{base}/favicon.ico")
    finally:
        page.context.close()
    assert missing == []
