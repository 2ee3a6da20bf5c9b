"""Mirador 4 (the npm package, dist/mirador.min.js, served from another origin than imagear
web) opens a record's IIIF manifest in Debian's Chromium and plays its clip: a ``<video>``
with the clip's URL reaches readyState >= 2. Skipped without Chromium, playwright or the npm
package, unless IMAGEAR_REQUIRE_BROWSER=1 (set by .ci/run), where that fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from browsing import browser_problem, chromium, serve_console
from web_helpers import add_records

pytestmark = pytest.mark.slow
MIRADOR = Path(__file__).resolve().parents[1] / "node_modules" / "mirador" / "dist"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin:0"><div id="viewer" style="position:absolute;inset:0"></div>
<script src="mirador.min.js"></script>
<script>
Mirador.viewer({id: "viewer", window: {allowClose: false},
  windows: [{manifestId: new URLSearchParams(location.search).get("manifest")}]});
</script></body></html>
"""


def _problem() -> str | None:
    found = browser_problem()
    if found is None and not (MIRADOR / "mirador.min.js").is_file():
        found = f"Mirador is not installed at {MIRADOR} (npm ci)"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium(_problem())


@contextmanager
def serve_viewer(folder: Path) -> Iterator[str]:
    """Mirador's page and script from another origin (another port: a plain file server)."""
    folder.mkdir()
    (folder / "index.html").write_text(PAGE)
    (folder / "mirador.min.js").symlink_to(MIRADOR / "mirador.min.js")
    quiet = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


PLAYING = """(url) => Array.from(document.querySelectorAll('video')).some(
  v => (v.currentSrc === url || v.src === url) && v.readyState >= 2)"""


def mirador_plays(page: Any, viewer: str, console: str, oid: int, timeout: float = 60) -> None:
    """Open record ``oid``'s manifest in Mirador; wait for its clip to play."""
    clip = f"{console}/image-ar/{oid}/video"
    page.goto(f"{viewer}/index.html?manifest={console}/iiif/{oid}/manifest.json")
    deadline = time.monotonic() + timeout
    while not page.evaluate(PLAYING, clip):
        assert time.monotonic() < deadline, (
            "Mirador never played the clip: " + page.content()[:2000]
        )
        page.evaluate(
            "document.querySelectorAll('video').forEach(v => { v.muted = true; v.play().catch(() => {}); })"
        )
        time.sleep(0.2)


def test_mirador_plays_the_clip_of_a_manifest(
    browser: Any, app: Any, make_image: Any, tmp_path: Path
) -> None:
    ids = add_records(app, make_image, 1, animated=1)
    with serve_console(app) as console, serve_viewer(tmp_path / "viewer") as viewer:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            mirador_plays(page, viewer, console, ids[0])
            assert page.evaluate("document.querySelector('video').duration") == pytest.approx(
                1.0, abs=0.2
            )
        finally:
            context.close()
