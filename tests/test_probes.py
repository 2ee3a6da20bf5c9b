"""Probes and health for operators: ``/livez`` and ``/readyz`` on `imagear serve` (a real server
on loopback) and on the web console, ``/health`` "degraded" when the default model cannot run,
and the queue length, busy slots, version and uptime in /health, `imagear health` and the
settings page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving import wait_answering

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("jinja2")

import imagear  # noqa: E402
from imagear import settings  # noqa: E402
from imagear.cli import app as cli  # noqa: E402
from web_helpers import TOKEN, bearer, client, small_kenburns  # noqa: E402

SRC = Path(imagear.__file__).resolve().parents[1]  # the server runs this same imagear
SERVE_TOKEN = "probe-test-token-0123456789"
OPS = ("queue_length", "busy_slots", "version", "uptime_secs")


class Serve:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url


@pytest.fixture
def serve(
    cli_env: dict[str, str], reserve_port: Callable[[], int]
) -> Iterator[Callable[..., Serve]]:
    """``serve(model, token)``: a real `imagear serve` on loopback (this test's empty
    models_dir), killed by its pid at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(model: str, token: str = "") -> Serve:
        port = reserve_port()
        env = {**os.environ, "PYTHONPATH": str(SRC), "IMAGEAR_SERVER_TOKEN": token}
        cmd = [sys.executable, "-m", "imagear", "serve", "--model", model, "--no-preload"]
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_answering(proc, f"{url}/livez")
        return Serve(proc, url)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def health_json(runner: Any, url: str, token: str = "") -> tuple[int, dict[str, Any]]:
    """`imagear health --json` against ``url``: exit code and the JSON document."""
    env = {"IMAGEAR_SERVER_URL": url, "IMAGEAR_SERVER_TOKEN": token}
    result = runner.invoke(cli, ["health", "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


# -- imagear serve ---------------------------------------------------------------------------------


def test_serve_probes_and_health_fields(app: Any, serve: Callable[..., Serve], runner: Any) -> None:
    settings.set_value(app.engine, "ar_model", "kenburns")
    srv = serve("kenburns", SERVE_TOKEN)
    live = httpx.get(f"{srv.url}/livez")  # no token: a probe needs none
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    ready = httpx.get(f"{srv.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert httpx.get(f"{srv.url}/health").status_code == 401  # the rest still needs the token

    h = httpx.get(f"{srv.url}/health", headers={"Authorization": f"Bearer {SERVE_TOKEN}"}).json()
    assert h["status"] == "ok" and "reason" not in h
    assert (h["queue_length"], h["busy_slots"], h["version"]) == (0, 0, imagear.__version__)
    assert isinstance(h["uptime_secs"], int | float) and h["uptime_secs"] >= 0
    for key in ("default_model", "loaded_models", "cuda", "low_vram_mode"):  # Heratio's shape
        assert key in h

    code, data = health_json(runner, srv.url, SERVE_TOKEN)
    assert code == 0, data
    assert data["status"] == "ok" and data["reason"] is None
    assert {k: data[k] for k in OPS[:3]} == {
        "queue_length": 0,
        "busy_slots": 0,
        "version": imagear.__version__,
    }
    assert data["uptime_secs"] >= 0

    text = runner.invoke(
        cli, ["health"], env={"IMAGEAR_SERVER_URL": srv.url, "IMAGEAR_SERVER_TOKEN": SERVE_TOKEN}
    )
    assert text.exit_code == 0, text.output
    for label in ("Queue length", "Busy slots", "Version", "Uptime"):
        assert label in text.output


def test_serve_without_the_default_models_weights_is_degraded_and_not_ready(
    app: Any, serve: Callable[..., Serve], runner: Any
) -> None:
    """`imagear serve --model svd` on a host without its weights: alive, not ready, and
    /health says "degraded" with the reason (it said "ok")."""
    srv = serve("svd")
    h = httpx.get(f"{srv.url}/health").json()
    assert h["status"] == "degraded"
    assert h["default_model"] == "svd" and h["available_models"] == ["kenburns"]
    assert httpx.get(f"{srv.url}/livez").status_code == 200
    ready = httpx.get(f"{srv.url}/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    reason = body["reason"]
    assert "svd" in reason and "weights" in reason and "--model" in reason
    assert "\n" not in reason and "Traceback" not in reason and "/tmp" not in reason

    assert h["reason"] == reason

    # `imagear health`: the server is up, but ar_model (svd, its default) cannot be served
    settings.set_value(app.engine, "ar_model", "svd")
    code, data = health_json(runner, srv.url)
    assert code == 5
    assert data["reachable"] is True and data["reason"] == reason
    assert data["ar_model"] == {"name": "svd", "available": False}
    text = runner.invoke(cli, ["health"], env={"IMAGEAR_SERVER_URL": srv.url})
    assert text.exit_code == 5
    assert "degraded" in text.output and "Traceback" not in text.output


# -- the web console ---------------------------------------------------------------------------


def test_web_livez_needs_no_session_but_the_host_check_applies(app: Any) -> None:
    small_kenburns(app)
    with client(app) as c:
        live = c.get("/livez")
        assert (live.status_code, live.json()) == (200, {"status": "alive"})
        assert "content-security-policy" in {k.lower() for k in live.headers}
        assert c.get("/livez", headers={"Host": "evil.example"}).status_code == 400
        ready = c.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_web_readyz_is_503_when_ar_model_cannot_run_here(app: Any) -> None:
    settings.set_value(app.engine, "ar_server_url", "")
    settings.set_value(app.engine, "ar_model", "svd")  # this test's models_dir is empty
    with client(app) as c:
        ready = c.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    assert "svd" in body["reason"] and "\n" not in body["reason"]
    assert TOKEN not in body["reason"]


def test_web_readyz_is_503_when_the_database_is_gone(app: Any, monkeypatch: Any) -> None:
    small_kenburns(app)
    with client(app) as c:
        animator = c.app.state.console.worker.animator

        def gone() -> None:
            raise RuntimeError("(psycopg) connection refused: postgresql://u:secret@db/x")

        monkeypatch.setattr(animator, "settings", gone)
        ready = c.get("/readyz")
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert "database" in reason and "secret" not in reason


def test_web_readyz_and_settings_page_through_a_degraded_server(
    app: Any, serve: Callable[..., Serve]
) -> None:
    srv = serve("svd")
    settings.set_value(app.engine, "ar_server_url", srv.url)
    settings.set_value(app.engine, "ar_model", "svd")
    with client(app) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert "degraded" in ready.json()["reason"] and srv.url in ready.json()["reason"]
        page = c.get("/admin/image-ar/settings", headers=bearer())
    assert page.status_code == 200
    assert 'id="degraded"' in page.text and "weights" in page.text
    for element in ('id="queue-length"', 'id="busy-slots"', 'id="version"', 'id="uptime"'):
        assert element in page.text
    assert imagear.__version__ in page.text


def test_web_readyz_is_ready_through_a_server_that_can_serve_ar_model(
    app: Any, serve: Callable[..., Serve]
) -> None:
    srv = serve("kenburns")
    settings.set_value(app.engine, "ar_server_url", srv.url)
    settings.set_value(app.engine, "ar_model", "kenburns")
    with client(app) as c:
        ready = c.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        page = c.get("/admin/image-ar/settings", headers=bearer())
    assert 'id="queue-length">0<' in page.text and 'id="busy-slots">0<' in page.text


def test_a_degraded_server_in_a_pool_is_reported_and_not_sent_its_default(
    app: Any, serve: Callable[..., Serve], runner: Any
) -> None:
    good, degraded = serve("kenburns"), serve("svd")
    settings.set_value(app.engine, "ar_server_url", good.url)
    settings.set_value(app.engine, "ar_server_pool", degraded.url)
    settings.set_value(app.engine, "ar_model", "kenburns")
    result = runner.invoke(cli, ["health"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if f"{degraded.url}:" in x)
    assert "Degraded: its default model svd cannot run there" in line
    settings.set_value(app.engine, "ar_model", "svd")  # no server can run it: not counted
    code, data = health_json(runner, good.url)
    assert code == 5
    assert [s["status"] for s in data["pool"]] == ["ok", "degraded"]
    assert data["ar_model"] == {"name": "svd", "available": False}


def test_web_readyz_is_503_quickly_when_the_server_is_down_or_silent(
    app: Any, reserve_port: Callable[[], int], monkeypatch: Any
) -> None:
    import socket

    from imagear.web import probes

    settings.set_value(app.engine, "ar_model", "kenburns")
    settings.set_value(app.engine, "ar_server_url", f"http://127.0.0.1:{reserve_port()}")
    with client(app) as c:
        down = c.get("/readyz")
    assert down.status_code == 503 and "Cannot reach" in down.json()["reason"]

    monkeypatch.setattr(probes, "READY_TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings.set_value(app.engine, "ar_server_url", f"http://127.0.0.1:{port}")
        with client(app) as c:
            started = time.monotonic()
            hung = c.get("/readyz")
            assert time.monotonic() - started < 5
    assert hung.status_code == 503
    assert "did not answer /health within 0.3 s" in hung.json()["reason"]
