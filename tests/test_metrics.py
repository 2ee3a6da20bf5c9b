"""Prometheus metrics: /metrics of a real `imagear serve` (a subprocess on loopback) and of the
web console after real kenburns generations, parsed with prometheus_client's own text parser;
the token, the separate --metrics-port, and `imagear batch --metrics-file`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving import wait_answering

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

import imagear  # noqa: E402
from web_helpers import TOKEN, add_records, bearer, small_kenburns  # noqa: E402

SRC = Path(imagear.__file__).resolve().parents[1]
SERVE_TOKEN = "metrics-test-token-0123456789"
SMALL = {"model": "kenburns", "width": "160", "height": "96", "num_frames": "8", "fps": "8"}


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of an exposition: name -> (sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(tuple(sorted(labels.items())))


def jpeg() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 200), (30, 60, 90))
    ImageDraw.Draw(img).ellipse([80, 50, 240, 150], fill="white")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return {
        **os.environ,
        "IMAGEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "IMAGEAR_MODELS_DIR": str(tmp_path / "models"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHONPATH": str(SRC),
        "PYTHONUNBUFFERED": "1",
        "METRICS_TOKEN": SERVE_TOKEN,
    }


def test_serve_metrics_after_real_generations(
    env: dict[str, str], processes: list[Any], reserve_port: Callable[[], int]
) -> None:
    port, metrics_port = reserve_port(), reserve_port()
    cmd = [sys.executable, "-m", "imagear", "serve", "--model", "kenburns", "--no-preload"]
    cmd += ["--port", str(port), "--metrics-port", str(metrics_port)]
    cmd += ["--token-env", "METRICS_TOKEN", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_answering(proc, f"{url}/health")
    auth = {"Authorization": f"Bearer {SERVE_TOKEN}"}
    for seed in ("1", "2"):
        r = httpx.post(
            f"{url}/animate",
            data={**SMALL, "seed": seed},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
            headers=auth,
            timeout=120,
        )
        assert r.status_code == 200, r.text
    bad = httpx.post(f"{url}/animate", data={"model": "kenburns"}, headers=auth, timeout=30)
    assert 400 <= bad.status_code < 500

    refused = httpx.get(f"{url}/metrics")  # the token is set: /metrics needs it
    assert refused.status_code == 401

    r = httpx.get(f"{url}/metrics", headers=auth)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    m = parse(r.text)
    assert value(m, "imagear_generations_total", model="kenburns", outcome="ok") == 2
    assert value(m, "imagear_generation_seconds_count", model="kenburns") == 2
    total = value(m, "imagear_generation_seconds_sum", model="kenburns")
    assert total is not None and 0 < total < 120
    buckets = m["imagear_generation_seconds_bucket"]
    assert value(m, "imagear_generation_seconds_bucket", model="kenburns", le="+Inf") == 2
    counts = [v for k, v in buckets.items() if ("model", "kenburns") in k]
    assert len(counts) > 5 and min(counts) >= 0
    assert value(m, "imagear_queue_depth") == 0 and value(m, "imagear_busy_slots") == 0
    assert value(m, "imagear_http_requests_total", route="/animate", status="200") == 2
    statuses = {dict(k)["status"] for k in m["imagear_http_requests_total"]}
    assert str(bad.status_code) in statuses and "401" in statuses
    assert value(m, "imagear_build_info", version=imagear.__version__) == 1
    assert "imagear_gpu_memory_bytes" not in m  # kenburns: torch never loaded

    # the separate listener: no token, the same figures
    free = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert free.status_code == 200
    m2 = parse(free.text)
    assert value(m2, "imagear_generations_total", model="kenburns", outcome="ok") == 2
    assert value(m2, "imagear_generation_seconds_count", model="kenburns") == 2

    proc.terminate()
    proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_the_quality_gate_refusals_are_counted_by_check(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from imagear.quality import Thresholds
    from imagear.server import ServerSettings, create_app

    gate = Thresholds(min_motion=254.0)  # no kenburns clip moves that much: "frozen"
    app = create_app(ServerSettings(default_model="kenburns", quality=gate, tmp_dir=tmp_path))
    with TestClient(app) as c:
        r = c.post("/animate", data=SMALL, files={"image": ("a.jpg", jpeg(), "image/jpeg")})
        assert r.status_code == 500 and r.json()["type"] == "QualityRejected"
        m = parse(c.get("/metrics").text)  # no token set: open
    assert value(m, "imagear_generations_total", model="kenburns", outcome="refused") == 1
    assert value(m, "imagear_quality_refusals_total", model="kenburns", check="frozen") == 1


def test_web_metrics_after_real_generations(
    app: Any, make_image: Any, reserve_port: Callable[[], int]
) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from imagear.web.app import create_app
    from imagear.web.security import WebOptions

    ids = add_records(app, make_image, 2, animated=0)
    small_kenburns(app)
    metrics_port = reserve_port()
    options = replace(WebOptions(), metrics_listen=("127.0.0.1", metrics_port))
    web = create_app(app, TOKEN, options=options)
    with TestClient(web, base_url="http://127.0.0.1") as c:
        for oid in ids:
            r = c.post(
                f"/image-ar/generate/{oid}",
                data={"num_frames": "8", "width": "160", "height": "96"},
                headers={**bearer(), "Accept": "application/json"},
            )
            assert r.status_code == 202, r.text
            for _ in range(300):
                job = c.get(f"/image-ar/{oid}/status").json()["job"]
                if job["state"] in ("done", "failed"):
                    break
                time.sleep(0.1)
            assert job["state"] == "done", job
        assert c.get("/").status_code == 200
        assert c.get("/metrics").status_code == 401  # a guest
        r = c.get("/metrics", headers=bearer())
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=")
        assert "content-security-policy" in {k.lower() for k in r.headers}  # the Guard's
        m = parse(r.text)
        free = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert free.status_code == 200 and "imagear_generations_total" in free.text
    assert value(m, "imagear_generations_total", model="kenburns", outcome="ok") == 2
    assert value(m, "imagear_generation_seconds_count", model="kenburns") == 2
    assert value(m, "imagear_generation_seconds_bucket", model="kenburns", le="+Inf") == 2
    assert value(m, "imagear_queue_depth") == 0 and value(m, "imagear_busy_slots") == 0
    route = "/image-ar/{object_id}/status"
    status_count = value(m, "imagear_http_requests_total", route=route, status="200")
    assert status_count is not None and status_count >= 2
    assert value(m, "imagear_http_requests_total", route="/", status="200") == 1
    assert value(m, "imagear_http_requests_total", route="/metrics", status="401") == 1
    assert not any(str(ids[0]) in dict(k)["route"] for k in m["imagear_http_requests_total"])
    assert value(m, "imagear_build_info", version=imagear.__version__) == 1


def test_batch_metrics_file_is_a_node_exporter_textfile(
    app: Any, make_image: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from imagear.cli import app as cli

    add_records(app, make_image, 2, animated=0)
    small_kenburns(app)
    out = tmp_path / "prom" / "imagear_batch.prom"
    out.parent.mkdir()
    args = ["batch", "--metrics-file", str(out), "--frames", "8", "--width", "160"]
    args += ["--height", "96"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    m = parse(out.read_text())
    assert value(m, "imagear_batch_records_done") == 2
    assert value(m, "imagear_batch_records_failed") == 0
    assert value(m, "imagear_batch_records_given_up") == 0
    assert value(m, "imagear_batch_generation_seconds_count") == 2
    assert (value(m, "imagear_batch_generation_seconds_sum") or 0) > 0
    assert (value(m, "imagear_batch_duration_seconds") or 0) > 0
    last = value(m, "imagear_batch_last_success_timestamp_seconds")
    assert last is not None and abs(last - time.time()) < 300
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left

    # a run with nothing to do keeps the time of the last success
    result = CliRunner().invoke(cli, ["batch", "--metrics-file", str(out)])
    assert result.exit_code == 0, result.output
    again = parse(out.read_text())
    assert value(again, "imagear_batch_records_done") == 0
    assert value(again, "imagear_batch_last_success_timestamp_seconds") == last


@pytest.mark.parametrize("command", ["serve", "web"])
def test_a_taken_metrics_port_is_one_clear_error(env: dict[str, str], command: str) -> None:
    import socket

    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        port, metrics_port = free.getsockname()[1], taken.getsockname()[1]
        free.close()
        cmd = [sys.executable, "-m", "imagear", command, "--port", str(port)]
        cmd += ["--metrics-port", str(metrics_port), "--token-env", "METRICS_TOKEN"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "--metrics-port" in r.stderr and "Traceback" not in r.stderr
    same = subprocess.run(
        [*cmd[:4], "--port", "5999", "--metrics-port", "5999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert same.returncode == 2 and "must differ" in same.stderr


def test_web_metrics_wrong_tokens_are_throttled_like_sign_ins(app: Any) -> None:
    from web_helpers import client

    c = client(app)
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    codes = [c.get("/metrics", headers=wrong).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    assert c.get("/metrics", headers=bearer()).status_code == 429  # this address waits


def test_gpu_memory_is_read_from_a_loaded_torch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: a stand-in torch module with CUDA (the collector never imports torch)."""
    import types

    from imagear.metrics import Metrics

    class Props:
        total_memory = 8 * 2**30

    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 1,
        memory_allocated=lambda i: 3 * 2**20,
        memory_reserved=lambda i: 4 * 2**20,
        get_device_properties=lambda i: Props(),
    )
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert "imagear_gpu_memory_bytes" not in Metrics().exposition()[0].decode()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    m = parse(Metrics().exposition()[0].decode())
    assert value(m, "imagear_gpu_memory_bytes", device="0", kind="allocated") == 3 * 2**20
    assert value(m, "imagear_gpu_memory_bytes", device="0", kind="total") == 8 * 2**30


def test_batch_metrics_file_in_a_missing_folder_stops_before_the_run(
    app: Any, make_image: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from imagear.cli import app as cli

    ids = add_records(app, make_image, 1, animated=0)
    small_kenburns(app)
    out = tmp_path / "nowhere" / "imagear_batch.prom"
    result = CliRunner().invoke(cli, ["batch", "--metrics-file", str(out)])
    assert result.exit_code == 3 and "--metrics-file" in result.output
    assert "Traceback" not in result.output
    from imagear.records import get_record

    assert get_record(app, ids[0]).animation is None  # nothing was animated
