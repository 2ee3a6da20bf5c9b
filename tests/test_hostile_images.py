"""Hostile image files (issue 21 items 7, 14 and 16): only raster formats are decoded, every
decode is bounded, and `imagear serve` prices each decode against a memory budget and decodes
the uploads one at a time, when their turn comes.

PostScript, EPS and PDF are refused before any decoder runs: Pillow hands them to Ghostscript,
which runs their program (``{ 1 pop } loop`` never ends). The time-bound tests put a fake ``gs``
on PATH that never returns, so they mean the same whether Ghostscript is installed or not: the
command must end, in a few seconds, with one line and exit 1. The in-process tests assert that
Pillow's EPS plugin is never even asked to read the header.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import imagear
from serving import wait_answering

SRC = Path(imagear.__file__).resolve().parents[1]  # the subprocesses run this same imagear
BOUND = 30.0  # seconds any refusal may take here (it takes well under one)

LOOP_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n{ 1 pop } loop\nshowpage\n%%EOF\n"
LOOP_PS = b"%!PS-Adobe-3.0\n{ 1 pop } loop\nshowpage\n"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# the DOS EPS binary header (C5D0D3C6) in front of the same PostScript
DOS_EPS = (
    b"\xc5\xd0\xd3\xc6"
    + (32).to_bytes(4, "little")
    + len(LOOP_EPS).to_bytes(4, "little")
    + bytes(18)
    + b"\xff\xff"
    + LOOP_EPS
)
POSTSCRIPTS = {"loop.eps": LOOP_EPS, "loop.ps": LOOP_PS, "doc.pdf": PDF, "dos.eps": DOS_EPS}


@pytest.fixture
def eps_plugin_watch(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call into Pillow's EPS plugin (header parsing, loading, Ghostscript), recorded and
    refused, so a test proves EPS never reaches a decoder even where gs is not installed."""
    from PIL import EpsImagePlugin

    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"EpsImagePlugin.{name} was called")

        return call

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", refuse("_open"))
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", refuse("load"))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse("Ghostscript"))
    return calls


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(POSTSCRIPTS))
def test_postscript_and_pdf_are_refused_before_any_decoder_runs(
    name: str, tmp_path: Path, eps_plugin_watch: list[str]
) -> None:
    from imagear import media
    from imagear.errors import InvalidImage

    path = tmp_path / name
    path.write_bytes(POSTSCRIPTS[name])
    for call in (
        lambda: media.open_image(path, load=False),
        lambda: media.open_image(path),
        lambda: media.sniff_mime(path),
        lambda: media.prepare_image(path, (64, 64)),
    ):
        started = time.monotonic()
        with pytest.raises(InvalidImage) as caught:
            call()
        assert time.monotonic() - started < 5
        assert "raster" in caught.value.message, caught.value.message
    assert eps_plugin_watch == []


def test_raster_formats_still_open(make_image: Callable[..., Path]) -> None:
    from PIL import features

    from imagear import media

    kinds = ["a.jpg", "a.png", "a.tif", "a.webp", "a.bmp", "a.gif"]
    if features.check("jpg_2000"):
        kinds.append("a.jp2")
    for name in kinds:
        img = media.prepare_image(make_image(name, size=(320, 200)), (160, 100))
        assert img.size == (160, 100) and img.mode == "RGB", name


def test_jpeg2000_is_reduced_while_it_is_decoded(make_image: Callable[..., Path]) -> None:
    from PIL import features

    from imagear import media

    if not features.check("jpg_2000"):
        pytest.skip("this Pillow has no JPEG 2000 decoder")
    path = make_image("big.jp2", size=(1280, 800))
    with media.open_reduced(path, (160, 100)) as opened:
        opened.load()
        assert opened.size == (160, 100)  # decoded at 1/8: the levels that still cover the box
    pixels = 160 * 100
    assert media.decoded_bytes(path, (160, 100)) == pixels * 12  # decoded, upright, RGB
    assert media.prepare_image(path, (160, 100)).size == (160, 100)
    whole = 1280 * 800
    assert media.decoded_bytes(path) == whole * 12


# -- the CLI, with a Ghostscript that never returns ----------------------------------------------


@pytest.fixture
def hanging_gs(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``gs`` that never returns (what `{ 1 pop } loop` makes the real one do)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gs = bin_dir / "gs"
    gs.write_text("#!/bin/sh\nexec tail -f /dev/null\n")
    gs.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``imagear ARGS`` in a subprocess of its own session, killed (group and all) after BOUND."""
    cmd = [sys.executable, "-m", "imagear", *args]
    full = {**os.environ, **env, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"`imagear {' '.join(args)}` still ran after {BOUND:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.timeout(120)
def test_records_add_of_an_eps_is_refused_in_one_line_and_adds_nothing(
    cli_env: dict[str, str], hanging_gs: dict[str, str], tmp_path: Path
) -> None:
    eps = tmp_path / "loop.eps"
    eps.write_bytes(LOOP_EPS)
    env = {**cli_env, **hanging_gs}
    result = run_cli(["records", "add", str(eps)], env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and "raster" in lines[0] and "Traceback" not in result.stderr
    assert "Added" not in result.stdout
    listed = run_cli(["records", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert '"loop"' not in listed.stdout
    images = Path(cli_env["IMAGEAR_IMAGES_ROOT"])
    assert [p for p in images.rglob("*") if p.is_file()] == []


def _record_with_eps_master(env: dict[str, str], make_image: Callable[..., Path]) -> int:
    """A record added from a PNG whose master file is then replaced by the EPS loop (as a
    Heratio record with an EPS master is)."""
    import json

    added = run_cli(["records", "add", str(make_image("m.png")), "--json"], env)
    assert added.returncode == 0, added.stderr
    oid = int(json.loads(added.stdout)["id"])
    master = next(Path(env["IMAGEAR_IMAGES_ROOT"]).rglob("m.png"))
    master.write_bytes(LOOP_EPS)
    return oid


@pytest.mark.timeout(180)
def test_animate_and_batch_on_an_eps_master_end_in_time(
    cli_env: dict[str, str], hanging_gs: dict[str, str], make_image: Callable[..., Path]
) -> None:
    env = {**cli_env, **hanging_gs}
    oid = _record_with_eps_master(env, make_image)
    result = run_cli(["animate", "--id", str(oid), "--model", "kenburns"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "raster" in result.stderr and "Traceback" not in result.stderr
    batch = run_cli(["batch", "--id", str(oid), "--model", "kenburns", "--json"], env)
    assert "Traceback" not in batch.stderr
    failures = run_cli(["batch", "failures", "--json"], env)
    assert failures.returncode == 0, failures.stderr
    assert str(oid) in failures.stdout and "raster" in failures.stdout


# -- the server --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_the_server_answers_an_eps_upload_415_at_once(
    tmp_path: Path, eps_plugin_watch: list[str]
) -> None:
    pytest.importorskip("fastapi")
    from test_server import post, running_server

    with running_server(tmp_path / "tmp") as srv:
        for name, data in POSTSCRIPTS.items():
            started = time.monotonic()
            response = post(srv.url, {"model": "kenburns"}, data, timeout=BOUND)
            assert response.status_code == 415, (name, response.text)
            assert time.monotonic() - started < 5
            assert "raster" in response.json()["error"]
    assert eps_plugin_watch == []


# -- the decode budget of `imagear serve` ---------------------------------------------------------


def big_png(size: tuple[int, int]) -> bytes:
    """A PNG that decodes to size[0] x size[1] RGB pixels but compresses to little."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (30, 60, 90))
    draw = ImageDraw.Draw(img)
    draw.ellipse([size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4], fill="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@pytest.fixture
def serve(cli_env: dict[str, str], reserve_port: Callable[[], int]) -> Iterator[Callable[..., str]]:
    """``serve(*options)``: a real `imagear serve` (kenburns) on a reserved loopback port; its
    URL once it answers /health. Killed at the end of the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*options: str) -> str:
        port = reserve_port()
        cmd = [sys.executable, "-m", "imagear", "serve", "--model", "kenburns", "--no-preload"]
        cmd += ["--no-quality-gate", "--port", str(port), *options]
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_answering(proc, f"{url}/health")
        return url

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


SMALL = {"model": "kenburns", "width": "160", "height": "96", "num_frames": "8", "fps": "8"}


@pytest.mark.timeout(240)
def test_concurrent_large_uploads_are_decoded_one_at_a_time(serve: Callable[..., str]) -> None:
    """Queued requests hold their uploads, not their pixels: the worker decodes each when its
    turn comes, so uploads that would overspend the budget together all wait and are served
    (they were refused with 503 when every admitted request decoded at once)."""
    size = (4000, 3000)  # 36 MB of RGB pixels each: one decode at a time fits a 48 MB budget
    url = serve("--decode-budget-mb", "48", "--queue-size", "16")
    image = big_png(size)
    assert len(image) < 2 * 1024 * 1024
    n = 6
    barrier = threading.Barrier(n)
    answers: list[httpx.Response] = []

    def send() -> None:
        barrier.wait()
        files = {"image": ("big.png", image, "image/png")}
        answers.append(httpx.post(f"{url}/animate", data=SMALL, files=files, timeout=120))

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert [r.status_code for r in answers] == [200] * n, [r.text for r in answers]
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # nothing crashed
    # one image that could never fit the whole budget is 413, not "try again"
    huge = big_png((6000, 4000))  # 72 MB of pixels
    refused = httpx.post(
        f"{url}/animate", data=SMALL, files={"image": ("huge.png", huge, "image/png")}, timeout=120
    )
    assert refused.status_code == 413, refused.text
    assert "Retry-After" not in refused.headers
    assert "48 MB" in refused.json()["error"]


def test_the_budget_is_thread_safe_and_never_overspent() -> None:
    from imagear.server.budget import DecodeBudget

    budget = DecodeBudget(100)
    held: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            if budget.take(30):
                with lock:
                    held.append(30)
                    peak[0] = max(peak[0], sum(held))
                with lock:
                    held.remove(30)
                budget.give(30)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 100 and budget.in_use == 0
    assert not budget.take(101)


def test_the_decode_cost_is_read_from_the_header_alone(
    make_image: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pricing a PNG must not decode it (Pillow's getexif decodes a PNG to look for eXIf)."""
    from PIL import PngImagePlugin

    from imagear import media

    path = make_image("scan.png", size=(1600, 1000))

    loads: list[str] = []

    def no_load(self: Any) -> Any:
        loads.append("load")
        raise AssertionError("the PNG was decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_load)
    # reduced by 10 while decoding is impossible for PNG: all of it is counted, plus the copies
    assert media.decoded_bytes(path, (160, 100)) == 1600 * 1000 * 4 + 2 * 4 * 160 * 100
    assert loads == []
