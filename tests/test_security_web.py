"""Issue 21's web items (the console, `imagear web`; `imagear serve` for the token length):
stored XSS through a master's name (6), unauthenticated uploads spooled to disk (9), record
ids out of range (10), sessions (11) and security headers / the Host check (12)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import wait_answering

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

import imagear  # noqa: E402
from imagear.errors import ConfigError  # noqa: E402
from imagear.limits import MAX_ID  # noqa: E402
from test_web_browser import _login as browser_login  # noqa: E402
from test_web_browser import browser, site  # noqa: E402, F401  (fixtures)
from web_helpers import TOKEN, add_records, bearer, client  # noqa: E402

SRC = Path(imagear.__file__).resolve().parents[1]


def polyglot(path: Path) -> Path:
    """A valid PNG whose text chunk is an HTML page with a script."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("c", "<html><body><script>document.title='pwned'</script></body></html>")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, format="PNG", pnginfo=info)
    return path


@pytest.fixture
def xss(app: Any, tmp_path: Path) -> tuple[Any, int]:
    from imagear.records import add_record

    record = add_record(app, polyglot(tmp_path / "x.html"), "XSS-1", "Polyglot")
    return client(app), record.id


def master_path(app: Any, oid: int) -> Path:
    from imagear.records import find_master

    return Path(find_master(app, oid).file)


# -- 6: media routes serve the sniffed image type, nosniff, a sandbox CSP -----------------------


@pytest.mark.parametrize("route", ["master", "poster"])
def test_a_png_named_html_is_served_as_png_in_a_sandbox(xss: Any, route: str) -> None:
    c, oid = xss
    r = c.get(f"/image-ar/{oid}/{route}", headers=bearer() if route == "master" else {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


@pytest.mark.parametrize("route", ["master", "poster"])
def test_a_master_that_is_not_an_image_is_refused(app: Any, xss: Any, route: str) -> None:
    c, oid = xss
    master_path(app, oid).write_text("<script>alert(1)</script>")
    r = c.get(f"/image-ar/{oid}/{route}", headers=bearer())
    assert r.status_code == 415
    assert "text/html" not in r.headers["content-type"] and "<script>" not in r.text


def test_every_media_route_says_nosniff_and_sandbox(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 1, animated=1)
    c = client(app)
    for route in ("video", "poster", "preview", "master"):
        r = c.get(f"/image-ar/{ids[0]}/{route}", headers=bearer() if route == "master" else {})
        assert r.status_code == 200, route
        assert r.headers["x-content-type-options"] == "nosniff", route
        assert "sandbox" in r.headers["content-security-policy"], route


# -- 12: security headers on every page; the Host header -----------------------------------------


def test_every_page_has_the_security_headers(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 1, animated=0)
    c = client(app)
    for path in ("/", f"/records/{ids[0]}", "/login", "/batch", "/admin/image-ar/settings", "/x"):
        r = c.get(path, headers=bearer() if "admin" in path else {})
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        if r.headers["content-type"].startswith("text/html"):
            # the CSP forbids inline scripts and styles: the pages have none
            assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
            assert " style=" not in r.text and "<style" not in r.text, path


def test_a_foreign_host_header_gets_400(app: Any) -> None:
    c = client(app)
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert c.get("/", headers={"Host": "evil.example:8470"}).status_code == 400
    for host in ("localhost", "127.0.0.1:8470", "localhost:8470", "[::1]:8470"):
        assert c.get("/", headers={"Host": host}).status_code == 200, host


def test_configured_host_names_are_allowed(app: Any) -> None:
    from fastapi.testclient import TestClient

    from imagear.web.app import WebOptions, create_app

    web = create_app(app, TOKEN, options=WebOptions(hosts=("archive.example", "192.0.2.7")))
    c = TestClient(web, base_url="http://127.0.0.1")
    assert c.get("/", headers={"Host": "archive.example:8470"}).status_code == 200
    assert c.get("/", headers={"Host": "ARCHIVE.example"}).status_code == 200
    assert c.get("/", headers={"Host": "192.0.2.7"}).status_code == 200
    assert c.get("/", headers={"Host": "other.example"}).status_code == 400


# -- 10: record ids out of range or not numbers ------------------------------------------------


@pytest.mark.all_databases
@pytest.mark.mysql
def test_ids_out_of_range_or_not_numbers_are_404(app: Any, make_image: Any) -> None:
    add_records(app, make_image, 1, animated=0)
    c = client(app)
    for bad in (str(2**63), str(2**64), str(MAX_ID + 1), "abc", "-1", "0", "1e3"):
        for path in (f"/records/{bad}", f"/image-ar/{bad}/master", f"/image-ar/{bad}/poster"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert "Traceback" not in r.text
        r = c.get(f"/image-ar/{bad}/status")
        assert r.status_code == 404, (bad, r.status_code)
        r = c.post(f"/records/{bad}/approve", headers=bearer())
        assert r.status_code == 404, (bad, r.status_code)


# -- 9: no unauthenticated body is read; every form body is capped -------------------------------


@pytest.fixture
def web_process(
    cli_env: dict[str, str], tmp_path: Path, reserve_port: Callable[[], int]
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = reserve_port()
    tmp_root = tmp_path / "server-tmp"
    tmp_root.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "TMPDIR": str(tmp_root),
        "WEB_TOKEN": TOKEN,
    }
    cmd = [sys.executable, "-m", "imagear", "web", "--token-env", "WEB_TOKEN"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_answering(proc, f"http://127.0.0.1:{port}/login")
        yield proc, port, tmp_root
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def written(pid: int) -> int:
    """Bytes the process has passed to write() (files and sockets) so far."""
    text = Path(f"/proc/{pid}/io").read_text()
    return int(re.search(r"wchar: (\d+)", text).group(1))  # type: ignore[union-attr]


def post_streamed(port: int, path: str, size: int) -> tuple[bytes, int]:
    """POST a multipart body of ``size`` bytes, sending while reading the answer; (the
    answer's first bytes, bytes sent)."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    total = len(head) + size + len(tail)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {total}\r\n\r\n"
        ).encode()
        + head
    )
    sent = [0]

    def send() -> None:
        chunk = b"x" * 65536
        try:
            while sent[0] < size:
                sock.sendall(chunk)
                sent[0] += len(chunk)
            sock.sendall(tail)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    except OSError:
        pass
    sock.close()
    sender.join(30)
    return answer, sent[0]


def test_an_unauthenticated_big_upload_is_refused_before_it_is_read(web_process: Any) -> None:
    proc, port, tmp_root = web_process
    before = written(proc.pid)
    answer, _sent = post_streamed(port, "/admin/image-ar/settings", 50 * 2**20)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert written(proc.pid) - before < 2**20  # not spooled to disk
    assert sum(f.stat().st_size for f in tmp_root.rglob("*") if f.is_file()) < 2**20


def test_a_signed_in_form_body_is_capped(app: Any) -> None:
    c = client(app)
    big = {"ar_model": "kenburns", "pad": "x" * (2 * 2**20)}
    r = c.post("/admin/image-ar/settings", data=big, headers=bearer())
    assert r.status_code == 413
    r = c.post("/login", data={"token": "x" * (2 * 2**20)})
    assert r.status_code == 413
    files = {"f": ("a.bin", b"x" * 10, "application/octet-stream")}
    r = c.post("/admin/image-ar/settings", files=files, headers=bearer())
    assert r.status_code in (400, 413)


# -- 11: sessions expire, are revoked, can be Secure; sign-in is throttled; long tokens --------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def console(app: Any, clock: Clock | None = None, **options: Any) -> Any:
    from fastapi.testclient import TestClient

    from imagear.web.app import WebOptions, create_app

    if clock is not None:
        options["clock"] = clock
    base = options.pop("base_url", "http://127.0.0.1")
    return TestClient(create_app(app, TOKEN, options=WebOptions(**options)), base_url=base)


def sign_in(c: Any) -> tuple[str, str]:
    """(the session cookie, its CSRF token)."""
    r = c.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.cookies["imagear_session"]
    page = c.get("/admin/image-ar/settings")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return cookie, found.group(1)


def can_change(c: Any, cookie: str, csrf: str) -> bool:
    c.cookies.clear()
    c.cookies.set("imagear_session", cookie)
    r = c.post("/admin/image-ar/settings", data={"csrf": csrf, "ar_model": "kenburns"})
    return r.status_code in (200, 303)


def test_logout_revokes_a_copied_cookie(app: Any) -> None:
    c = console(app)
    cookie, csrf = sign_in(c)
    assert can_change(c, cookie, csrf)
    assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert not can_change(c, cookie, csrf)  # the copy no longer works


def test_a_session_expires(app: Any) -> None:
    clock = Clock()
    c = console(app, clock, session_hours=12)
    cookie, csrf = sign_in(c)
    clock.now += 11.9 * 3600
    assert can_change(c, cookie, csrf)
    clock.now += 0.2 * 3600
    assert not can_change(c, cookie, csrf)
    r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert "max-age=43200" in r.headers["set-cookie"].lower()


def test_a_restart_keeps_the_session_and_another_token_logs_out(app: Any) -> None:
    cookie, csrf = sign_in(console(app))
    assert can_change(console(app), cookie, csrf)  # sessions live in the database
    from fastapi.testclient import TestClient

    from imagear.web.app import create_app

    other = TestClient(create_app(app, "another-token-0123456789"), base_url="http://127.0.0.1")
    assert not can_change(other, cookie, csrf)


def test_the_cookie_is_secure_behind_https(app: Any) -> None:
    def set_cookie(c: Any) -> str:
        r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        return str(r.headers["set-cookie"]).lower()

    assert "secure" not in set_cookie(console(app))
    assert "secure" in set_cookie(console(app, behind_https=True))
    assert "secure" in set_cookie(console(app, base_url="https://localhost"))


def test_sign_in_is_throttled_per_address(app: Any) -> None:
    clock = Clock()
    c = console(app, clock)
    for _ in range(5):
        assert c.post("/login", data={"token": "wrong-token-wrong"}).status_code == 401
    r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    wrong = {"Authorization": "Bearer wrong-token-wrong"}
    assert c.post("/admin/image-ar/settings", headers=wrong).status_code == 429
    clock.now += 61
    assert c.post("/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303


def test_short_tokens_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagear.server.run import read_token

    with pytest.raises(ConfigError, match="at least 16"):
        read_token("short-token")
    monkeypatch.setenv("SHORT", "fifteen-chars-x")
    with pytest.raises(ConfigError, match="at least 16"):
        read_token(env="SHORT")
    assert read_token("sixteen-chars-xx") == "sixteen-chars-xx"


def test_web_and_serve_refuse_a_short_token_with_exit_2(
    cli_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from imagear.cli import app as cli

    monkeypatch.setenv("SHORT", "short")
    for cmd in (["web", "--token-env", "SHORT"], ["serve", "--token", "short", "--no-preload"]):
        result = CliRunner().invoke(cli, cmd)
        assert result.exit_code == 2, result.output
        assert "at least 16" in result.output and "Traceback" not in result.output


def test_web_flags_reach_the_console(cli_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from imagear.cli import app as cli
    from imagear.web import run as web_run

    seen: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> None:
        seen.update(args=args, **kwargs)

    monkeypatch.setattr(web_run, "serve", fake)
    monkeypatch.setenv("WEB_TOKEN", TOKEN)
    monkeypatch.setenv("IMAGEAR_WEB_ALLOWED_HOSTS", "b.example c.example")
    args = ["web", "--token-env", "WEB_TOKEN", "--host", "198.51.100.5", "--behind-https"]
    result = CliRunner().invoke(cli, [*args, "--session-hours", "2", "--allowed-host", "a.example"])
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert set(options.hosts) == {"198.51.100.5", "a.example"}
    assert options.behind_https and options.session_hours == 2
    result = CliRunner().invoke(cli, args)
    assert set(seen["options"].hosts) == {"198.51.100.5", "b.example", "c.example"}
    assert seen["options"].session_hours == 12
    result = CliRunner().invoke(cli, [*args, "--session-hours", "0"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_in_chromium_the_polyglot_runs_no_script_and_the_pages_keep_their_csp(
    app: Any,
    tmp_path: Path,
    browser: Any,  # noqa: F811 (the fixture)
    site: Any,  # noqa: F811 (the fixture)
) -> None:
    from imagear.records import add_record

    base, ids = site
    oid = add_record(app, polyglot(tmp_path / "x.html"), "XSS-1", "Polyglot").id
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Security Policy" in m.text else None)
    try:
        browser_login(page, base)
        for path in ("/", f"/records/{ids[0]}", "/batch", "/admin/image-ar/settings"):
            page.goto(base + path)
        assert blocked == []  # the console's own scripts and styles pass its CSP
        answer = page.goto(f"{base}/image-ar/{oid}/master")
        assert answer is not None and answer.headers["content-type"] == "image/png"
        assert page.evaluate("document.title") != "pwned"
    finally:
        context.close()


def test_a_chunked_body_without_a_length_is_capped_too(app: Any) -> None:
    c = client(app)

    def chunks() -> Iterator[bytes]:
        yield b"ar_model=kenburns&pad="
        for _ in range(40):
            yield b"x" * 65536

    headers = {**bearer(), "Content-Type": "application/x-www-form-urlencoded"}
    r = c.post("/admin/image-ar/settings", content=chunks(), headers=headers)
    assert "content-length" not in r.request.headers  # sent chunked: counted as it comes
    assert r.status_code == 413
