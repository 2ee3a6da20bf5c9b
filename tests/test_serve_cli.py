"""`imagear serve` as a command: binding errors, option checks, and stopping on a signal.

The signal and port tests run the real command in a subprocess (uvicorn, signals and exit codes
as a service manager sees them); the option checks use CliRunner and never start uvicorn.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import imagear  # noqa: E402
from imagear.cli import app as cli  # noqa: E402
from imagear.server import run as server_run  # noqa: E402

SRC = Path(imagear.__file__).resolve().parents[1]  # the subprocesses run this same imagear


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """IMAGEAR_* for this test only (here and for subprocesses), cwd in tmp_path."""
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    values = {
        "IMAGEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "IMAGEAR_MODELS_DIR": str(tmp_path / "models"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def no_uvicorn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the serving loop: record what it was given, close the socket, return."""
    seen: dict[str, Any] = {}

    def fake(uvicorn: Any, app: Any, sock: socket.socket, level: str) -> None:
        seen.update(app=app, bound=sock.getsockname())
        sock.close()

    monkeypatch.setattr(server_run, "serve_forever", fake)
    return seen


def serve_cmd(port: int, *extra: str) -> list[str]:
    base = [sys.executable, "-m", "imagear", "serve", "--model", "kenburns"]
    return [*base, "--port", str(port), *extra]


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_health(proc: subprocess.Popen[str], url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"serve exited with {proc.returncode}: {out}{err}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve never answered /health")


# -- stopping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_gracefully_with_exit_0(
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
    sig: signal.Signals,
    tmp_path: Path,
    reserve_port: Callable[[], int],
) -> None:
    port = reserve_port()
    tmp_root = tmp_path / "tmp-root"
    tmp_root.mkdir()
    proc = start(serve_cmd(port, "--no-preload"), {**env, "TMPDIR": str(tmp_root)})
    processes.append(proc)
    wait_for_health(proc, f"http://127.0.0.1:{port}")
    assert len(list(tmp_root.glob("imagear-serve-*"))) == 1  # made when the server started
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert time.monotonic() - sent < 5
    assert f"stopped by {sig.name}" in err
    assert "Aborted" not in out + err and "Traceback" not in err
    assert list(tmp_root.glob("imagear-serve-*")) == []  # its temp folder went with it


def test_help_says_how_it_stops() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "SIGTERM" in result.output and "exits 0" in result.output


# -- binding -------------------------------------------------------------------------------------


def test_a_port_in_use_is_one_clear_error_and_exit_1(
    env: dict[str, str], processes: list[subprocess.Popen[str]]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(serve_cmd(port), env)  # preload on: it must not get that far
        processes.append(proc)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert f"Cannot listen on 127.0.0.1:{port}: address already in use." in err
    assert "Pick another --port or stop the other server." in err
    assert "loaded" not in err and "errno" not in err.lower() and "imagear serve on" not in out


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("256.1.1.1", "not a valid IP address"),
        ("1.2.3", "not a valid IP address"),
        ("::zz", "not a valid IP address"),
        ("192.0.2.1", "not an address this machine can listen on"),  # TEST-NET: not ours
    ],
)
def test_a_bad_host_is_a_usage_error(
    env: dict[str, str], runner: Any, no_uvicorn: dict[str, Any], host: str, words: str
) -> None:
    result = runner.invoke(cli, ["serve", "--model", "kenburns", "--host", host])
    assert result.exit_code == 2, result.output
    assert words in result.output and "--host" in result.output
    assert no_uvicorn == {}


def test_the_socket_handed_over_is_bound_to_host_and_port(
    env: dict[str, str], runner: Any, no_uvicorn: dict[str, Any], reserve_port: Callable[[], int]
) -> None:
    port = reserve_port()
    result = runner.invoke(cli, ["serve", "--model", "kenburns", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert no_uvicorn["bound"] == ("127.0.0.1", port)


def test_a_server_that_never_ran_leaves_no_temp_folder(
    env: dict[str, str],
    runner: Any,
    no_uvicorn: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reserve_port: Callable[[], int],
) -> None:
    import tempfile

    tmp_root = tmp_path / "tmp-root"
    tmp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    result = runner.invoke(cli, ["serve", "--model", "kenburns", "--port", str(reserve_port())])
    assert result.exit_code == 0, result.output
    assert no_uvicorn["app"] is not None  # the app was built, and its lifespan never ran
    assert list(tmp_root.iterdir()) == []


# -- option checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--max-megapixels", "0"], "--max-megapixels must be above 0"),
        (["--max-megapixels", "-5"], "--max-megapixels must be above 0"),
        (["--device", "tpu"], "--device must be cpu, cuda, cuda:N"),
        (["--device", "cuda:x"], "--device must be cpu, cuda, cuda:N"),
    ],
)
def test_bad_limits_and_devices_are_refused(
    env: dict[str, str], runner: Any, no_uvicorn: dict[str, Any], args: list[str], words: str
) -> None:
    result = runner.invoke(cli, ["serve", "--model", "kenburns", "--port", "1", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert no_uvicorn == {}


@pytest.mark.parametrize(
    ("device", "expected"),
    [("cpu", "cpu"), ("CUDA", "cuda"), ("cuda:1", "cuda:1"), ("mps", "mps"), ("auto", None)],
)
def test_good_devices_are_passed_on(
    env: dict[str, str],
    runner: Any,
    no_uvicorn: dict[str, Any],
    device: str,
    expected: str | None,
    reserve_port: Callable[[], int],
) -> None:
    args = ["serve", "--model", "kenburns", "--port", str(reserve_port()), "--device", device]
    result = runner.invoke(cli, [*args, "--max-megapixels", "0.5"])
    assert result.exit_code == 0, result.output
    settings = no_uvicorn["app"].api.state.imagear.settings
    assert settings.device == expected and settings.max_pixels == 500_000


def test_an_app_that_cannot_start_is_exit_1_not_uvicorns_3(reserve_port: Callable[[], int]) -> None:
    import uvicorn

    from imagear.errors import Failure

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "the model folder is gone"})

    sock = server_run.listen("127.0.0.1", reserve_port())
    with pytest.raises(Failure) as info:
        server_run.serve_forever(uvicorn, app, sock, "critical")
    assert info.value.exit_code == 1 and "could not start" in info.value.message
    assert sock.fileno() == -1  # closed
