"""What the browser tests share: Debian's Chromium driven by Playwright (its own browser download
is never used; missing: skipped, or failed with IMAGEAR_REQUIRE_BROWSER=1) and ``imagear web``
served on loopback by uvicorn in a thread, on a socket bound here (no pick-then-bind race)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from web_helpers import TOKEN

CHROMIUM = os.environ.get("IMAGEAR_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import fastapi  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package or the server extra is missing ({exc})"
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


def chromium(problem: str | None) -> Iterator[Any]:
    """A module fixture's body: Chromium launched once, or the test skipped (failed when
    IMAGEAR_REQUIRE_BROWSER=1) because of ``problem``."""
    if problem:
        if os.environ.get("IMAGEAR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"IMAGEAR_REQUIRE_BROWSER=1 but {problem}.")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@contextmanager
def serve_console(app: Any) -> Iterator[str]:
    """``imagear web`` for ``app`` on loopback; its base URL."""
    import uvicorn

    from imagear.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(app, TOKEN), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
