"""`imagear serve` under hostile and flaky clients (issue 16): it never locks up.

- a client that hangs up while its clip is generated gives its queue slot back (defect 1);
- slow uploads (slowloris) hold no slot and are cut off with 408 (defect 2);
- a client that vanishes mid-upload is an INFO line (499), not an ERROR with a traceback and
  a 500 (defect 8);
- the 400 for a model this host cannot run, and /models, keep local paths in the log (defect 7);
- /animate's OpenAPI entry declares the multipart body and the MP4 it answers (defect 7);
- a restart removes what a server killed with -9 left in its temp folder (defect 8);
- slow and vanished clients come and go while normal requests are served, and /health is back
  to an empty queue afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from imagear.engines.base import GenerationResult  # noqa: E402
from imagear.errors import GenerationFailed  # noqa: E402
from imagear.models import ModelDescriptor, register, unregister  # noqa: E402
from test_server import SMALL, post, running_server, wait_until_empty  # noqa: E402

BOUNDARY = "hardening-boundary"


# -- a model whose generation the test holds -------------------------------------------------


class Hold:
    """How the ``test-hold`` engine behaves: wait for ``gate`` (or ``secs``), then render."""

    gate = threading.Event()
    started = threading.Event()
    secs: float | None = None  # sleep this long instead of waiting for the gate
    calls = 0


class _HoldEngine:
    def generate(self, image: Any, options: Any, out_path: Path) -> GenerationResult:
        Hold.calls += 1
        Hold.started.set()
        if Hold.secs is not None:
            time.sleep(Hold.secs)
        elif not Hold.gate.wait(20):
            raise GenerationFailed("the test never opened the gate")
        from imagear.engines.kenburns import KenBurnsEngine

        result = KenBurnsEngine().generate(image, options, out_path)
        result.model = "test-hold"
        return result

    def loaded(self) -> bool:
        return True

    def close(self) -> None:
        pass


class FakeHold(ModelDescriptor):
    name = "test-hold"
    family = "test"
    native_width, native_height, divisible_by, min_side = 160, 96, 2, 16
    requires_gpu = False
    honours_settings = False

    def create_engine(self, config: Any) -> Any:
        return _HoldEngine()


@pytest.fixture(autouse=True)
def hold() -> Iterator[type[Hold]]:
    register(FakeHold, replace=True)
    Hold.gate.clear()
    Hold.started.clear()
    Hold.secs = None
    Hold.calls = 0
    yield Hold
    Hold.gate.set()
    unregister(FakeHold.name)


# -- raw clients ---------------------------------------------------------------------------------


def _head(url: str, length: int) -> bytes:
    host = url.split("//", 1)[1]
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return (
        f"POST /animate HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n{part}"
    ).encode()


def _connect(url: str) -> socket.socket:
    host, port = url.split("//", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def slow_upload(url: str, stop: threading.Event, byte_every: float = 0.1) -> str:
    """Send an upload one byte at a time until the server answers (or ``stop``); returns the
    status line the server sent, or "" when it closed without one."""
    sock = _connect(url)
    sock.settimeout(byte_every)
    try:
        sock.sendall(_head(url, 1_000_000))
        while not stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"x")
                continue
            except ConnectionResetError:
                return ""
            return data.split(b"\r\n", 1)[0].decode("latin-1")
        return "stopped"
    finally:
        sock.close()


def vanish_mid_upload(url: str) -> None:
    """Send half an upload, then hang up."""
    sock = _connect(url)
    try:
        sock.sendall(_head(url, 200_000) + bytes(50_000))
        time.sleep(0.2)
    finally:
        sock.close()


def health(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/health", timeout=10).json()


def wait_for(check: Any, timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def gone_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum("client=gone" in r.getMessage() for r in caplog.records)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info or " 500 " in r.getMessage()
    ]


# -- defect 1: a client that hangs up during generation gives its slot back -------------------


def test_hanging_up_during_generation_gives_the_slot_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, hold: type[Hold]
) -> None:
    caplog.set_level(logging.INFO, logger="imagear.server")
    with running_server(tmp_path / "tmp", queue_size=1) as srv:  # two slots in all
        for round_ in (1, 2):  # each hang-up used to leak one slot: then 503 forever
            hold.gate.clear()
            hold.started.clear()
            with pytest.raises(httpx.ReadTimeout):
                post(srv.url, {"model": "test-hold", **SMALL}, timeout=1.0)
            assert hold.started.wait(10)
            wait_for(lambda r=round_: gone_count(caplog) >= r, what="the server to notice")
            hold.gate.set()  # the abandoned generation finishes: its slot must come back
            wait_for(lambda: not srv.state.worker.busy, what="the generation to end")
        wait_for(lambda: health(srv.url)["queue_length"] == 0, what="an empty queue")
        assert srv.state.worker._admitted == 0
        r = post(srv.url, {"model": "kenburns", **SMALL})
        assert r.status_code == 200, r.text
        assert wait_until_empty(srv.tmp_dir) == []


# -- defect 2: slowloris ---------------------------------------------------------------------------


def test_slow_uploads_hold_no_slot_and_are_cut_off_with_408(tmp_path: Path) -> None:
    stop = threading.Event()
    with (
        running_server(tmp_path / "tmp", queue_size=1, upload_timeout=2.0) as srv,
        ThreadPoolExecutor(5) as pool,
    ):
        slow = [pool.submit(slow_upload, srv.url, stop) for _ in range(5)]
        try:
            time.sleep(0.5)  # all five are trickling bytes now
            assert all(not f.done() for f in slow)
            for _ in range(2):  # served while they trickle: they hold no slot
                r = post(srv.url, {"model": "kenburns", **SMALL}, timeout=10)
                assert r.status_code == 200, r.text
            statuses = [f.result(timeout=15) for f in slow]
        finally:
            stop.set()
        assert all(" 408 " in s for s in statuses), statuses
        assert health(srv.url)["queue_length"] == 0
        assert wait_until_empty(srv.tmp_dir) == []


def test_a_trickling_upload_refused_as_busy_is_answered_within_the_upload_deadline(
    tmp_path: Path, hold: type[Hold]
) -> None:
    """An early 503 reads out the rest of the body (for PHP's curl) for no longer than an upload
    may take; it used to hold a trickling client's connection for 30 s."""
    stop = threading.Event()
    with (
        running_server(tmp_path / "tmp", queue_size=1, upload_timeout=1.0) as srv,
        ThreadPoolExecutor(2) as pool,
    ):
        busy = [pool.submit(post, srv.url, {"model": "test-hold", **SMALL}) for _ in range(2)]
        try:
            wait_for(hold.started.is_set, what="the generation to start")
            wait_for(srv.state.worker.full, what="the queue to fill")
            started = time.monotonic()
            status = slow_upload(srv.url, stop)
            took = time.monotonic() - started
        finally:
            stop.set()
            hold.gate.set()
        assert status.split(" ")[1] == "503", status
        assert took < 5.0, f"the 503 took {took:.1f} s to arrive"
        assert [f.result(timeout=20).status_code for f in busy] == [200, 200]


# -- defect 8: a client that vanishes mid-upload ----------------------------------------------


def test_client_gone_mid_upload_is_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagear.server")
    with running_server(tmp_path / "tmp", queue_size=1) as srv:
        for _ in range(3):
            vanish_mid_upload(srv.url)
        wait_for(lambda: gone_count(caplog) >= 3, what="three 'client=gone' lines")
        assert errors_logged(caplog) == []
        assert all(" 499 " in r.getMessage() for r in caplog.records if "gone" in r.getMessage())
        assert post(srv.url, {"model": "kenburns", **SMALL}).status_code == 200
        assert health(srv.url)["queue_length"] == 0
        assert wait_until_empty(srv.tmp_dir) == []


# -- defect 7: local paths stay in the log; the OpenAPI contract -----------------------------


def test_unavailable_model_keeps_local_paths_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagear.server")
    models_dir = tmp_path / "secret-models-folder"
    with running_server(tmp_path / "tmp", models_dir=models_dir) as srv:
        r = post(srv.url, {"model": "svd", **SMALL})
        assert r.status_code == 400 and r.json()["type"] == "ModelNotAvailable"
        assert "not on this machine" in r.json()["error"]
        listing = httpx.get(f"{srv.url}/models").text
    for text in (r.text, listing):
        assert str(tmp_path) not in text and "/root" not in text and ".cache" not in text
    assert any(str(models_dir) in rec.getMessage() for rec in caplog.records)


def test_openapi_declares_the_multipart_body_and_the_mp4(tmp_path: Path) -> None:
    with running_server(tmp_path / "tmp") as srv:
        doc = httpx.get(f"{srv.url}/openapi.json").json()
    op = doc["paths"]["/animate"]["post"]
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["image"]
    assert schema["properties"]["image"] == {
        "type": "string",
        "format": "binary",
        "description": schema["properties"]["image"]["description"],
    }
    assert {"model", "num_frames", "fps", "seed", "prompt"} <= set(schema["properties"])
    assert list(op["responses"]["200"]["content"]) == ["video/mp4"]
    assert "X-Seed" in op["responses"]["200"]["headers"]
    assert {"400", "408", "413", "415", "422", "503", "507"} <= set(op["responses"])


# -- defect 8: what a server killed with -9 left ---------------------------------------------


KILLED_SERVER = """
import os, sys, time
from pathlib import Path
from imagear.server import ServerSettings, ServerState
state = ServerState(ServerSettings(default_model="kenburns", tmp_dir={tmp_dir}))
state.start()
(state.tmp_dir / "clip-partial.mp4").write_bytes(b"half a clip")
(state.tmp_dir / "upload-x.img").write_bytes(b"an upload")
print(state.tmp_dir, flush=True)
time.sleep(60)
"""


def _start_and_kill(tmp_dir: Path | None, env: dict[str, str]) -> Path:
    code = KILLED_SERVER.format(tmp_dir=repr(str(tmp_dir)) if tmp_dir else "None")
    code = code.replace("tmp_dir='", "tmp_dir=Path('").replace("'))", "')))")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        folder = Path((proc.stdout.readline() if proc.stdout else "").strip())
    finally:
        proc.kill()  # -9: no cleanup runs
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert folder.is_dir() and (folder / "clip-partial.mp4").exists()
    return folder


def test_a_restart_removes_what_a_killed_server_left(tmp_path: Path) -> None:
    import tempfile

    from imagear.server import ServerSettings, ServerState

    tmp_root = tmp_path / "tmp-root"
    tmp_root.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_root)}
    own = _start_and_kill(None, env)  # a fresh imagear-serve-* folder of its own
    configured = _start_and_kill(tmp_path / "configured", env)  # a tmp_dir of the settings
    assert own.parent == tmp_root

    live = ServerState(ServerSettings(default_model="kenburns", tmp_dir=tmp_path / "live"))
    live.start()  # a live server's folder is never touched
    try:
        (live.tmp_dir / "clip-inflight.mp4").write_bytes(b"being written")
        old_tempdir = tempfile.tempdir
        tempfile.tempdir = str(tmp_root)
        try:
            restarted = ServerState(ServerSettings(default_model="kenburns"))
            restarted.start()
            restarted.stop()
            again = ServerState(ServerSettings(default_model="kenburns", tmp_dir=configured))
            again.start()
            left = sorted(p.name for p in configured.iterdir())
            again.stop()
            sharing = ServerState(ServerSettings(default_model="kenburns", tmp_dir=live.tmp_dir))
            sharing.start()
            sharing.stop()
        finally:
            tempfile.tempdir = old_tempdir
        assert not own.exists()
        assert list(tmp_root.iterdir()) == []
        assert left == [".imagear-serve.lock"]
        assert (live.tmp_dir / "clip-inflight.mp4").exists()
    finally:
        live.stop()


# -- the whole picture: slow and vanished clients come and go ------------------------------------


def test_slow_and_vanished_clients_come_and_go_while_others_are_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, hold: type[Hold]
) -> None:
    caplog.set_level(logging.INFO, logger="imagear.server")
    hold.secs = 0.4  # every test-hold generation takes a while
    stop = threading.Event()

    def vanish_while_generating() -> None:
        """Waits its turn on 503 (a full queue answers at once), then hangs up mid-generation."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = post(srv.url, {"model": "test-hold", **SMALL}, timeout=0.3)
            except httpx.ReadTimeout:
                return
            assert r.status_code == 503, r.text  # a 0.4 s generation cannot finish in 0.3 s
            time.sleep(0.05)
        pytest.fail("the server never admitted the impatient client")

    def normal() -> int:
        """A well-behaved client: waits its turn on 503, as imagear's own client does."""
        deadline = time.monotonic() + 30
        while True:
            r = post(srv.url, {"model": "kenburns", **SMALL}, timeout=30)
            if r.status_code != 503 or time.monotonic() > deadline:
                assert r.status_code == 200 or r.status_code == 503, r.text
                return r.status_code
            time.sleep(min(0.5, float(r.headers.get("retry-after", "1"))))

    with (
        running_server(tmp_path / "tmp", queue_size=2, upload_timeout=1.5) as srv,
        ThreadPoolExecutor(16) as pool,
    ):
        jobs = [pool.submit(slow_upload, srv.url, stop) for _ in range(4)]
        jobs += [pool.submit(vanish_while_generating) for _ in range(3)]
        jobs += [pool.submit(vanish_mid_upload, srv.url) for _ in range(3)]
        served = [pool.submit(normal) for _ in range(6)]
        jobs += [pool.submit(slow_upload, srv.url, stop) for _ in range(2)]
        try:
            assert [f.result(timeout=60) for f in served] == [200] * 6
            results = [f.result(timeout=60) for f in jobs]
        finally:
            stop.set()
        # A slow upload is cut off with 408, or turned away at once with 503 while the queue is full.
        assert all(s.split(" ")[1] in ("408", "503") for s in results if s), repr(results)
        wait_for(lambda: not srv.state.worker.busy, what="the worker to be idle")
        wait_for(lambda: health(srv.url)["queue_length"] == 0, what="an empty queue")
        h = health(srv.url)
        assert (h["queue_length"], h["busy"]) == (0, False)
        assert srv.state.worker._admitted == 0
        assert wait_until_empty(srv.tmp_dir) == []
    assert errors_logged(caplog) == []
    assert gone_count(caplog) >= 1  # (some vanish before they are read, or as they finish)
