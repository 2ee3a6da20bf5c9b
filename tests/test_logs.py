"""Logs (issue 26): one format with timestamps, or one JSON object per line, on `imagear serve`,
`imagear web` and `imagear batch`; one line per request with its request id, route, status,
duration and, for every 4xx, the reason; the web's actions name their user.

The servers run as real subprocesses on loopback; their output is read after they stop.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving import wait_answering

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import imagear  # noqa: E402
from imagear import logs  # noqa: E402

SRC = Path(imagear.__file__).resolve().parents[1]
TOKEN = "a-token-of-32-characters-at-least"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    values = {
        "IMAGEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "IMAGEAR_MODELS_DIR": str(tmp_path / "models"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "LOGS_TEST_TOKEN": TOKEN,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}


def run_server(
    args: list[str], env: dict[str, str], processes: list[subprocess.Popen[str]], url: str
) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "imagear", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.append(proc)
    wait_answering(proc, url)
    return proc


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """SIGTERM, wait, and every line it wrote (stdout, then stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return [line for line in (out + err).splitlines() if line.strip()]


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    """Every line as a JSON object with time, level, logger and message (or a failure)."""
    objects = []
    for line in lines:
        obj = json.loads(line)  # every line parses
        assert isinstance(obj, dict), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", obj["time"]), line
        assert obj["level"] and obj["logger"] and "message" in obj, line
        objects.append(obj)
    return objects


def requests_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["logger"] == "imagear.access"]


def check_requests(objects: list[dict[str, Any]], ids: dict[str, int]) -> None:
    """Each request id that a response carried is on exactly one line with its status, route
    and duration; every 4xx line says why."""
    lines = requests_of(objects)
    for request_id, status in ids.items():
        mine = [o for o in lines if o["request_id"] == request_id]
        assert len(mine) == 1, (request_id, lines)
        line = mine[0]
        assert line["status"] == status and line["route"] and line["method"]
        assert isinstance(line["duration_ms"], (int, float))
        if status >= 400:
            assert line["reason"], line


def test_serve_json_logs_every_line_parses_with_request_ids_and_4xx_reasons(
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
    reserve_port: Callable[[], int],
) -> None:
    port = reserve_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--model", "kenburns", "--no-preload", "--port", str(port)]
    args += ["--token-env", "LOGS_TEST_TOKEN", "--log-format", "json"]
    proc = run_server(args, env, processes, f"{url}/health")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ids: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.get("/health", headers={**auth, "X-Request-ID": "from-the-client-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "from-the-client-1"
        ids[r.headers["x-request-id"]] = r.status_code
        r = c.get("/health", headers={"X-Request-ID": "bad id with spaces"})  # 401
        assert r.status_code == 401 and r.headers["x-request-id"] != "bad id with spaces"
        ids[r.headers["x-request-id"]] = 401
        files = {"image": ("x.png", b"this is not an image", "image/png")}
        r = c.post("/animate", headers=auth, files=files)
        assert 400 <= r.status_code < 500
        ids[r.headers["x-request-id"]] = r.status_code
        r = c.post("/animate", headers=auth)  # no image at all
        assert 400 <= r.status_code < 500
        ids[r.headers["x-request-id"]] = r.status_code
        r = c.get("/no-such-page", headers=auth)
        assert r.status_code == 404
        ids[r.headers["x-request-id"]] = 404
    objects = parsed(stop(proc))
    check_requests(objects, ids)
    refused = next(o for o in requests_of(objects) if o["status"] == 401)
    assert "token" in refused["reason"] and refused["route"] == "/health"
    assert TOKEN not in json.dumps(objects)
    assert any(o["logger"].startswith("uvicorn") for o in objects)  # uvicorn's lines too


def test_serve_text_logs_every_line_starts_with_a_timestamp(
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
    reserve_port: Callable[[], int],
) -> None:
    port = reserve_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--model", "kenburns", "--no-preload", "--port", str(port)]
    proc = run_server([*args, "--token-env", "LOGS_TEST_TOKEN"], env, processes, f"{url}/health")
    r = httpx.get(f"{url}/health", timeout=10)
    assert r.status_code == 401
    proc.send_signal(signal.SIGTERM)
    out, err_text = proc.communicate(timeout=20)
    log_lines = [line for line in err_text.splitlines() if line.strip()]
    assert log_lines, err_text
    for line in log_lines:
        assert STAMP.match(line), line
    mine = f"request_id={r.headers['x-request-id']}"
    request = next(line for line in log_lines if mine in line)
    assert "imagear.access" in request and "route=/health" in request
    assert "status=401" in request and "reason=" in request and "token" in request


def test_web_json_logs_parse_and_name_the_user_of_each_action(
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
    reserve_port: Callable[[], int],
) -> None:
    port = reserve_port()
    url = f"http://127.0.0.1:{port}"
    args = ["web", "--port", str(port), "--token-env", "LOGS_TEST_TOKEN"]
    args += ["--log-format", "json", "--log-level", "info"]
    proc = run_server(args, env, processes, f"{url}/")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ids: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.get("/")
        assert r.status_code == 200
        ids[r.headers["x-request-id"]] = 200
        r = c.post("/records/1/approve", data={})  # no token: 401
        assert r.status_code == 401
        ids[r.headers["x-request-id"]] = 401
        r = c.get("/records/987654")
        assert r.status_code == 404
        ids[r.headers["x-request-id"]] = 404
        r = c.post("/login", data={"token": "wrong-token-wrong-token", "next": "/"})
        assert r.status_code == 401
        ids[r.headers["x-request-id"]] = 401
        r = c.post("/login", data={"token": TOKEN, "next": "/"})
        assert r.status_code == 303
        saved = c.post("/admin/image-ar/settings", headers=auth, data={"ar_seed": "5"})
        assert saved.status_code == 200
        bad = c.post("/admin/image-ar/settings", headers=auth, data={"ar_fps": "0"})
        assert bad.status_code == 400
        ids[bad.headers["x-request-id"]] = 400
    objects = parsed(stop(proc))
    check_requests(objects, ids)
    missing = next(o for o in requests_of(objects) if o["status"] == 404)
    assert missing["route"] == "/records/{object_id}"  # the template, not the path
    assert missing["reason"].startswith("Record 987654 does not exist.")
    reasons = {o["status"]: o["reason"] for o in requests_of(objects) if o["status"] >= 400}
    assert reasons[400] == "refused setting(s): ar_fps"
    refusals = [o["reason"] for o in requests_of(objects) if o["status"] == 401]
    assert "This needs the admin token" in refusals[0] and refusals[1] == "not the admin token"
    actions = {o["action"]: o for o in objects if o.get("action")}
    assert actions["sign-in"]["user"] == "admin (session)"
    assert actions["settings"]["user"] == "admin (bearer)"
    assert actions["settings"]["settings"] == ["ar_seed"]
    assert TOKEN not in json.dumps(objects)


def test_batch_json_log_lines_parse(env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "imagear", "batch", "--log-format", "json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    objects = parsed(done.stderr.splitlines())
    assert objects and objects[-1]["logger"] == "imagear.batch"
    assert objects[-1]["message"].startswith("Nothing to do") and objects[-1]["done"] == 0


def test_batch_log_format_is_checked(env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "imagear", "batch", "--log-format", "xml"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--log-format must be text or json" in done.stderr
    assert "Traceback" not in done.stderr


def test_formatters_write_the_structured_fields() -> None:
    stream = io.StringIO()
    logs.configure("json", "info", stream)
    try:
        logging.getLogger("imagear.test").info(
            "hello", extra={"request_id": "r1", "status": 415, "reason": "not an image"}
        )
        logging.getLogger("uvicorn.error").warning("from uvicorn")
        logs.configure("text", "info", stream)
        logging.getLogger("imagear.test").info("two words", extra={"user": "admin (bearer)"})
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, logs.OURS, False)]:
            root.removeHandler(handler)
    first, second, third = stream.getvalue().splitlines()
    one = json.loads(first)
    assert one["request_id"] == "r1" and one["status"] == 415 and one["reason"] == "not an image"
    assert json.loads(second)["logger"] == "uvicorn.error"
    assert STAMP.match(third) and third.endswith('user="admin (bearer)"')
