"""Screenshots of the web console for README: docs/web-grid.png, docs/web-record.png,
docs/web-review.png (the review queue), docs/web-settings.png and docs/web-record-phone.png
(the record page on a 390 px phone); and docs/iiif-mirador.png (Mirador 4 from node_modules, on
another origin, playing a record's clip from its IIIF manifest: docs/iiif.md).

Run with the venv's Python (server and test extras, Debian's Chromium at /usr/bin/chromium):
    .venv/bin/python scripts/screenshots.py
It builds a throw-away database of sample records (kenburns clips made in this process, from
the bundled sample image recoloured), serves the console on a free loopback port and drives
Chromium through Playwright. Nothing outside a temp folder and docs/ is touched.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
TITLES = ["Harbour at dawn", "Market square", "Lighthouse", "Fishing boats", "Old bridge",
          "Town hall", "Mill by the river", "Station platform"]  # fmt: skip


def sample_images(folder: Path) -> list[Path]:
    from PIL import Image, ImageOps

    base = Image.open(ROOT / "src/imagear/data/sample.jpg").convert("RGB")
    base.thumbnail((640, 640))
    out = []
    for i, title in enumerate(TITLES):
        tint = ImageOps.colorize(
            ImageOps.grayscale(base), (20 + i * 25, 20, 60), (255, 240 - i * 12, 200)
        )
        path = folder / f"{title.lower().replace(' ', '_')}.jpg"
        (base if i % 3 == 1 else tint).save(path)
        out.append(path)
    return out


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="imagear-shots-"))
    for name in ("storage", "images", "models"):
        (tmp / name).mkdir()
    os.environ.update(
        IMAGEAR_DATABASE_URL=f"sqlite:///{tmp / 'imagear.db'}",
        IMAGEAR_STORAGE_ROOT=str(tmp / "storage"),
        IMAGEAR_IMAGES_ROOT=str(tmp / "images"),
        IMAGEAR_MODELS_DIR=str(tmp / "models"),
    )
    import uvicorn
    from playwright.sync_api import sync_playwright

    from imagear import review, settings
    from imagear.animate import AnimateRequest, Animator
    from imagear.app import App
    from imagear.records import add_record
    from imagear.web.app import create_app

    app = App.load()
    settings.set_value(app.engine, "ar_server_url", "")
    settings.set_value(app.engine, "ar_model", "kenburns")
    ids = []
    for i, image in enumerate(sample_images(tmp)):
        ids.append(add_record(app, image, f"HAR-{1901 + i}", TITLES[i]).id)
    small = {"num_frames": 24, "fps": 12, "width": 480, "height": 320}
    with Animator(app) as animator:
        for oid in ids[:5]:
            animator.animate(AnimateRequest(oid, overrides=dict(small), force=True))
    review.approve(app, ids[0], "screenshots")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(app, "shots"), port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    docs = ROOT / "docs"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(base + "/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(docs / "web-grid.png"))
        page.goto(f"{base}/login?next=/records/{ids[0]}")
        page.fill("input[name=password]", "shots")  # no name: the admin token
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.evaluate("document.getElementById('clip').play()")
        while not page.evaluate("document.getElementById('clip').currentTime > 0.5"):
            time.sleep(0.05)  # (wait_for_function evals in the page: the console's CSP forbids it)
        page.screenshot(path=str(docs / "web-record.png"))
        page.goto(f"{base}/review")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(docs / "web-review.png"))
        page.goto(f"{base}/admin/image-ar/settings")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(docs / "web-settings.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/records/{ids[1]}")
        phone.wait_for_load_state("networkidle")
        phone.screenshot(path=str(docs / "web-record-phone.png"), full_page=True)
        mirador_shot(browser, base, ids[0], docs / "iiif-mirador.png")
        browser.close()
    server.should_exit = True
    names = ("web-grid", "web-record", "web-review", "web-settings", "web-record-phone")
    print("wrote " + ", ".join(str(docs / f"{n}.png") for n in (*names, "iiif-mirador")))
    return 0


MIRADOR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin:0"><div id="viewer" style="position:absolute;inset:0"></div>
<script src="mirador.min.js"></script><script>
Mirador.viewer({id: "viewer", windows: [{manifestId: new URLSearchParams(location.search)
  .get("manifest")}]});</script></body></html>"""


def mirador_shot(browser: object, base: str, oid: int, dest: Path) -> None:
    """Mirador (node_modules/mirador/dist, served from another port: another origin) playing
    record ``oid``'s clip from its manifest at ``base``."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = Path(tempfile.mkdtemp(prefix="imagear-mirador-"))
    (folder / "index.html").write_text(MIRADOR_PAGE)
    (folder / "mirador.min.js").symlink_to(ROOT / "node_modules/mirador/dist/mirador.min.js")
    quiet = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1280, "height": 820})  # type: ignore[attr-defined]
    viewer = f"http://127.0.0.1:{httpd.server_address[1]}"
    page.goto(f"{viewer}/index.html?manifest={base}/iiif/{oid}/manifest.json")
    playing = (
        "() => { const v = document.querySelector('video'); if (v) { v.muted = true; "
        "v.play().catch(() => {}); } return !!v && v.currentTime > 0.8; }"
    )
    deadline = time.monotonic() + 60
    while not page.evaluate(playing):
        if time.monotonic() > deadline:
            raise SystemExit("Mirador did not play the clip within 60 s")
        time.sleep(0.1)
    page.evaluate("document.querySelector('video').pause()")
    page.screenshot(path=str(dest))
    page.close()
    httpd.shutdown()


if __name__ == "__main__":
    sys.exit(main())
