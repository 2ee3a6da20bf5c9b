"""`imagear serve` over real HTTP: uvicorn on a free loopback port in a background thread.

Every status of the protocol is produced for real: 200 with a decodable MP4, 400 unknown or
unavailable model, 401, 413 (upload and pixel count), 415, 422, 500, 503 + Retry-After, 507.
Fake engines are registered through the real registry. ``running_server`` is shared with
test_server_heratio.py.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from imagear.engines.base import GenerationResult  # noqa: E402
from imagear.errors import GenerationFailed, OutOfGpuMemory  # noqa: E402
from imagear.models import ModelDescriptor, register, unregister  # noqa: E402
from imagear.server import ServerSettings, create_app  # noqa: E402
from imagear.server.tmpdir import LOCK_NAME  # noqa: E402

SMALL = {"width": "160", "height": "96", "num_frames": "12", "fps": "8"}
SMALL_INTS = {"num_frames": 8, "fps": 8, "width": 160, "height": 96}


@dataclass
class Served:
    url: str
    app: Any  # the gate; app.api.state.imagear is the ServerState
    tmp_dir: Path  # the server's temp folder while it runs

    @property
    def state(self) -> Any:
        return self.app.api.state.imagear


@contextmanager
def running_server(tmp_dir: Path | None, **settings: Any) -> Iterator[Served]:
    """Run create_app(ServerSettings(...)) under uvicorn on 127.0.0.1:<free port>.

    ``tmp_dir`` None: the server makes (and removes) a temp folder of its own."""
    settings.setdefault("default_model", "kenburns")
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(ServerSettings(tmp_dir=tmp_dir, **settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", app, app.api.state.imagear.tmp_dir)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def jpeg_bytes(size: tuple[int, int] = (320, 200)) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (30, 60, 90))
    draw = ImageDraw.Draw(img)
    draw.ellipse([size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4], fill="white")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def post(url: str, fields: dict[str, str], image: bytes | None = None, **kw: Any) -> httpx.Response:
    files = {"image": ("master.jpg", image if image is not None else jpeg_bytes(), "image/jpeg")}
    kw.setdefault("timeout", 30)
    return httpx.post(f"{url}/animate", data=fields, files=files, **kw)


def running_and_waiting(
    url: str, pool: ThreadPoolExecutor, fields: dict[str, str]
) -> tuple[Future[httpx.Response], Future[httpx.Response]]:
    """Two slow requests: the first generating (held by SLOW_GATE), the second sent after it."""
    running = pool.submit(post, url, fields)
    assert SLOW_STARTED.wait(10)
    return running, pool.submit(post, url, fields)


def wait_for(ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``ready()`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wait_until_empty(folder: Path, timeout: float = 5.0) -> list[str]:
    """The files left in ``folder`` once cleanup had ``timeout`` seconds to run."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)  # held while up
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


# -- fake engines, registered through the real registry --------------------------------------


class _FakeEngine:
    """Raises ``error``, or waits for ``gate`` then renders a real clip with Ken Burns."""

    def __init__(self, name: str, error: BaseException | None = None) -> None:
        self.name = name
        self.error = error

    def generate(self, image: Any, options: Any, out_path: Path) -> GenerationResult:
        if self.error is not None:
            raise self.error
        SLOW_CALLS.append(options.seed)
        SLOW_STARTED.set()
        if not SLOW_GATE.wait(20):
            raise GenerationFailed("the test never opened the gate")
        from imagear.engines.kenburns import KenBurnsEngine

        result = KenBurnsEngine().generate(image, options, out_path)
        result.model = self.name
        return result

    def loaded(self) -> bool:
        return True

    def close(self) -> None:
        pass


SLOW_CALLS: list[int] = []
SLOW_STARTED = threading.Event()
SLOW_GATE = threading.Event()


class _Fake(ModelDescriptor):
    family = "test"
    native_width, native_height, divisible_by, min_side = 160, 96, 2, 16
    requires_gpu = False
    honours_settings = False


class FakeOom(_Fake):
    name = "test-oom"

    def create_engine(self, config: Any) -> Any:
        return _FakeEngine(self.name, OutOfGpuMemory("The fake GPU is full."))


class FakeCrash(_Fake):
    name = "test-crash"

    def create_engine(self, config: Any) -> Any:
        return _FakeEngine(self.name, RuntimeError("boom"))


class FakeSlow(_Fake):
    name = "test-slow"

    def create_engine(self, config: Any) -> Any:
        return _FakeEngine(self.name)


@pytest.fixture(scope="module", autouse=True)
def fakes() -> Iterator[None]:
    for cls in (FakeOom, FakeCrash, FakeSlow):
        register(cls, replace=True)
    yield
    for cls in (FakeOom, FakeCrash, FakeSlow):
        unregister(cls.name)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    with running_server(root / "tmp", models_dir=root / "models") as srv:
        yield srv


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("limited")
    with running_server(root / "tmp", max_upload_bytes=64 * 1024, max_pixels=100_000) as srv:
        yield srv


# -- /health and /models -------------------------------------------------------------------------


def test_health_has_heratios_fields_and_types(served: Served) -> None:
    r = httpx.get(f"{served.url}/health")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "ok"
    assert data["default_model"] == "kenburns"
    assert isinstance(data["loaded_models"], list)
    assert isinstance(data["cuda"], bool) and isinstance(data["low_vram_mode"], bool)
    if data["cuda"]:
        assert isinstance(data["device"], str)
        assert isinstance(data["vram_total_gb"], float) and isinstance(data["vram_free_gb"], float)
    else:
        assert "device" not in data and "vram_total_gb" not in data
    assert "kenburns" in data["available_models"]
    assert "svd" not in data["available_models"]  # no weights in this models_dir
    assert isinstance(data["queue_length"], int) and data["queue_size"] == 4
    assert isinstance(data["version"], str)


def test_health_reports_the_gpu_when_cuda_is_there(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import ModuleType, SimpleNamespace

    cuda = SimpleNamespace(
        is_available=lambda: True,
        current_device=lambda: 0,
        get_device_name=lambda i: "NVIDIA Fake 80GB",
        mem_get_info=lambda i: (12_345_678_901, 85_899_345_920),
    )
    torch = ModuleType("torch")
    torch.cuda = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    data = httpx.get(f"{served.url}/health").json()
    assert data["cuda"] is True and data["device"] == "NVIDIA Fake 80GB"
    assert (data["vram_total_gb"], data["vram_free_gb"]) == (80.0, 11.5)


def test_kenburns_only_health_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from imagear.server import *; "
        f"s = ServerState(ServerSettings(default_model='kenburns', models_dir=Path({str(tmp_path)!r}))); "
        "h = s.health(); assert h['cuda'] is False, h; assert 'torch' not in sys.modules"
    )
    tmp_root = tmp_path / "tmp-root"
    tmp_root.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_root)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_root.iterdir()) == []  # a state that never started makes no temp folder


def test_in_process_and_server_agree_on_what_can_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One check (imagear.engines.runtime) behind /models and the in-process path."""
    from types import SimpleNamespace

    from imagear.generators import local_problem
    from imagear.models import list_models
    from imagear.server import ServerState

    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if diffusers were not installed
    reasons = ServerState(ServerSettings(models_dir=tmp_path)).available()
    config: Any = SimpleNamespace(models_dir=tmp_path)
    for desc in list_models():
        local = local_problem(desc, config)
        assert (local is None) == (reasons[desc.name] is None), desc.name
        if local is not None:
            assert reasons[desc.name].startswith(local.message)  # type: ignore[union-attr]
    assert reasons["kenburns"] is None
    assert "diffusers" in (reasons["svd"] or "") and "imagear[diffusers]" in (reasons["svd"] or "")


def test_models_lists_descriptors_with_availability(served: Served) -> None:
    data = httpx.get(f"{served.url}/models").json()
    assert data["default_model"] == "kenburns"
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["kenburns"]["available"] is True
    assert by_name["svd"]["available"] is False and by_name["svd"]["unavailable_reason"]
    options = {o["name"] for o in by_name["kenburns"]["options"]}
    assert {"num_frames", "fps", "motion", "zoom"} <= options


def test_preload_loads_the_default_model_and_tolerates_missing_weights(tmp_path: Path) -> None:
    with running_server(tmp_path / "a", preload=True) as srv:
        wait_for(
            lambda: httpx.get(f"{srv.url}/health").json()["loaded_models"] == ["kenburns"],
            "the preloaded model",
        )
    with running_server(
        tmp_path / "b", default_model="svd", models_dir=tmp_path / "none", preload=True
    ) as srv:
        assert httpx.get(f"{srv.url}/health").json()["loaded_models"] == []
        assert post(srv.url, {"model": "kenburns", **SMALL}).status_code == 200
        assert post(srv.url, SMALL).json()["type"] == "ModelNotAvailable"  # the default: svd


# -- /animate: success ---------------------------------------------------------------------------


def test_animate_kenburns_returns_an_mp4_with_the_x_headers(served: Served, tmp_path: Path) -> None:
    from imagear.media import probe_mp4

    r = post(served.url, {"model": "kenburns", **SMALL, "seed": "42"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert re.fullmatch(r"\d+\.\d\d", r.headers["x-generation-secs"])
    assert r.headers["x-model"] == "kenburns"
    assert (r.headers["x-frames"], r.headers["x-fps"]) == ("12", "8")
    assert r.headers["x-seed"] == "42"
    assert "x-motion-bucket" not in r.headers  # kenburns has no motion bucket
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(r.content)
    info = probe_mp4(clip)
    assert (info.frames, info.fps, info.width, info.height) == (12, 8.0, 160, 96)
    assert "kenburns" in httpx.get(f"{served.url}/health").json()["loaded_models"]


def test_seed_zero_draws_a_random_seed_and_reports_it(served: Served) -> None:
    seeds = {post(served.url, {**SMALL, "seed": "0"}).headers["x-seed"] for _ in range(2)}
    assert len(seeds) == 2 and "0" not in seeds
    assert all(0 < int(s) < 2**31 for s in seeds)  # the same range as in-process generation


def test_fields_a_model_ignores_are_dropped_with_a_notice(served: Served) -> None:
    fields = {**SMALL, "model": "kenburns", "motion_bucket_id": "127"}
    r = post(served.url, {**fields, "noise_aug_strength": "0.02", "prompt": "", "motion": "pan_lr"})
    assert r.status_code == 200, r.text
    assert "motion_bucket_id" in r.headers["x-notices"]


# -- /animate: refusals --------------------------------------------------------------------------


def test_unknown_model_is_400(served: Served) -> None:
    r = post(served.url, {"model": "no-such-model"})
    assert r.status_code == 400
    assert r.json()["type"] == "UnknownModel" and "no-such-model" in r.json()["error"]


def test_model_this_host_cannot_run_is_400(served: Served) -> None:
    r = post(served.url, {"model": "svd"})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "ModelNotAvailable" and "not available on this server" in body["error"]


@pytest.mark.parametrize(
    "image",
    [b"%PDF-1.4 definitely not a jpeg" * 10, jpeg_bytes((320, 200))[:600]],
    ids=["pdf", "truncated-jpeg"],
)
def test_non_image_is_415(served: Served, image: bytes) -> None:
    r = post(served.url, SMALL, image=image)
    assert r.status_code == 415
    assert r.json()["type"] == "InvalidImage"
    assert "master.jpg" in r.json()["error"] and str(served.tmp_dir) not in r.json()["error"]


def test_missing_image_part_and_non_multipart_are_refused(served: Served) -> None:
    r = httpx.post(f"{served.url}/animate", data={"model": "kenburns"}, files={"x": ("", b"")})
    assert r.status_code == 422
    r = httpx.post(f"{served.url}/animate", json={"model": "kenburns"})
    assert r.status_code == 415


def test_decompression_bomb_header_is_413(served: Served) -> None:
    r = post(served.url, SMALL, image=forged_png(60_000, 60_000))
    assert r.status_code == 413
    assert r.json()["type"] == "ImageTooLarge" and "too large" in r.json()["error"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"width": "161", "height": "96"}, "width"),
        ({"num_frames": "0"}, "num_frames"),
        ({"num_frames": "many"}, "num_frames"),
        ({"fps": "0"}, "fps"),
        ({"motion": "spin"}, "motion"),
        ({"frobnicate": "1"}, "frobnicate"),
    ],
)
def test_bad_parameters_are_422_with_the_reason(
    served: Served, fields: dict[str, str], words: str
) -> None:
    r = post(served.url, {"model": "kenburns", **SMALL, **fields})
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and r.json()["type"] == "InvalidOption"
    assert "--" not in r.json()["error"]  # form field names, not CLI flags


def test_upload_over_the_limit_is_413(limited: Served) -> None:
    big = jpeg_bytes((64, 64)) + bytes(200 * 1024)
    r = post(limited.url, SMALL, image=big)
    assert r.status_code == 413 and r.json()["type"] == "UploadTooLarge"


def test_upload_limit_is_enforced_without_content_length(limited: Served) -> None:
    boundary = "imagear-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:  # chunked: the server cannot trust a length
        yield head
        for _ in range(40):
            yield bytes(16 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(
        f"{limited.url}/animate",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    assert r.status_code == 413


def test_image_over_the_pixel_limit_is_413(limited: Served) -> None:
    r = post(limited.url, SMALL, image=jpeg_bytes((400, 300)))  # 120,000 > 100,000 pixels
    assert r.status_code == 413
    assert "100,000" in r.json()["error"]


def test_out_of_gpu_memory_is_507_and_the_server_keeps_serving(served: Served) -> None:
    r = post(served.url, {"model": "test-oom", **SMALL})
    assert r.status_code == 507 and r.json()["type"] == "OutOfGpuMemory"
    assert post(served.url, {"model": "kenburns", **SMALL}).status_code == 200


def test_anything_else_is_500_with_the_error_json(served: Served) -> None:
    r = post(served.url, {"model": "test-crash", **SMALL})
    assert r.status_code == 500
    assert r.json()["error"] and r.json()["type"]


def test_temp_files_are_removed_after_every_request(served: Served) -> None:
    for fields, image in [
        ({"model": "kenburns", **SMALL}, None),
        (SMALL, b"not an image at all"),
        ({**SMALL, "width": "161"}, None),
        ({"model": "test-oom", **SMALL}, None),
    ]:
        post(served.url, fields, image=image)
    assert wait_until_empty(served.tmp_dir) == []


def test_the_server_leaves_no_temp_folder_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a tmp_dir the server's own temp folder exists only while it runs: building an app
    or a state that never starts (as the CLI's checks and in-process /health do) makes none."""
    import tempfile

    from imagear.server import ServerState

    tmp_root = tmp_path / "tmp-root"
    tmp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    state = ServerState(ServerSettings(default_model="kenburns", models_dir=tmp_path / "models"))
    assert state.health()["status"] == "ok" and state.models()["models"]
    create_app(ServerSettings(default_model="kenburns"))
    assert list(tmp_root.iterdir()) == []
    with running_server(None) as srv:
        assert srv.tmp_dir.parent == tmp_root and srv.tmp_dir.name.startswith("imagear-serve-")
        assert post(srv.url, {"model": "kenburns", **SMALL}).status_code == 200
        assert post(srv.url, SMALL, image=b"not an image at all").status_code == 415
    assert list(tmp_root.iterdir()) == []


# -- queue ---------------------------------------------------------------------------------------


def test_full_queue_is_503_with_retry_after(tmp_path: Path) -> None:
    SLOW_STARTED.clear()
    SLOW_GATE.clear()
    with running_server(tmp_path / "tmp", queue_size=1) as srv, ThreadPoolExecutor(2) as pool:
        fields = {"model": "test-slow", **SMALL}
        running, waiting = running_and_waiting(srv.url, pool, fields)
        wait_for(
            lambda: httpx.get(f"{srv.url}/health").json()["queue_length"] >= 1, "a waiting job"
        )
        refused = post(srv.url, fields)
        assert refused.status_code == 503
        wait = int(refused.headers["retry-after"])
        assert wait >= 1
        assert refused.json()["type"] == "ServerBusy"
        assert refused.json()["error"] == (
            "The server is busy: 1 generation running and 1 waiting (queue size 1). "
            f"Retry after {wait} s."
        )
        SLOW_GATE.set()
        assert running.result().status_code == 200
        assert waiting.result().status_code == 200
        assert wait_until_empty(srv.tmp_dir) == []


def test_a_waiting_request_holds_its_upload_and_is_decoded_in_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queued request keeps its upload on disk, not its decoded pixels: the worker decodes it
    when its generation starts (one image at a time), and the upload is removed afterwards."""
    from imagear import media

    decoded: list[str] = []
    real = media.prepare_image

    def prepare_image(*args: Any, **kw: Any) -> Any:
        decoded.append(threading.current_thread().name)
        return real(*args, **kw)

    monkeypatch.setattr(media, "prepare_image", prepare_image)
    SLOW_STARTED.clear()
    SLOW_GATE.clear()
    with running_server(tmp_path / "tmp", queue_size=2) as srv, ThreadPoolExecutor(2) as pool:
        fields = {"model": "test-slow", **SMALL}
        running, waiting = running_and_waiting(srv.url, pool, fields)
        wait_for(
            lambda: srv.state.worker.queue_length >= 1 and len(uploads(srv.tmp_dir)) >= 2,
            "a waiting job with its upload",
        )
        time.sleep(0.2)  # had the request decoded its image, it would have by now
        assert decoded == ["imagear-worker"]  # only the running job's image
        assert srv.state.decode_budget.in_use == 0
        SLOW_GATE.set()
        assert running.result().status_code == 200
        assert waiting.result().status_code == 200
        assert decoded == ["imagear-worker", "imagear-worker"]
        assert wait_until_empty(srv.tmp_dir) == []


def uploads(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("upload-")]


def test_a_waiting_job_whose_client_hangs_up_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SLOW_STARTED.clear()
    SLOW_GATE.clear()
    SLOW_CALLS.clear()
    caplog.set_level(logging.INFO, logger="imagear.server")
    with running_server(tmp_path / "tmp", queue_size=2) as srv, ThreadPoolExecutor(1) as pool:
        running = pool.submit(post, srv.url, {"model": "test-slow", **SMALL, "seed": "1"})
        assert SLOW_STARTED.wait(10)
        with pytest.raises(httpx.ReadTimeout):  # the client gives up while its job waits
            post(srv.url, {"model": "test-slow", **SMALL, "seed": "2"}, timeout=0.5)
        wait_for(
            lambda: any("client=gone" in r.getMessage() for r in caplog.records),
            "the server to notice the hang-up",
        )
        SLOW_GATE.set()
        assert running.result().status_code == 200
        wait_for(
            lambda: not (srv.state.worker.queue_length or srv.state.worker.busy),
            "the worker to skip the job",
        )
        assert SLOW_CALLS == [1]  # job 2 was never generated
        assert wait_until_empty(srv.tmp_dir) == []


def test_busy_message_when_every_slot_is_still_uploading() -> None:
    from imagear.engines.base import EngineConfig
    from imagear.server.worker import Worker

    worker = Worker(EngineConfig(), queue_size=1)
    assert worker.admit() and worker.admit() and not worker.admit()
    message = worker.busy_error().message
    assert message == "The server is busy: 2 requests being prepared (queue size 1)."


# -- token ---------------------------------------------------------------------------------------


def test_token_guards_every_request(tmp_path: Path) -> None:
    with running_server(tmp_path / "tmp", token="s3cret") as srv:
        for headers, words in (
            ({}, "none was sent"),
            ({"Authorization": "Bearer wrong"}, "refused the bearer token that was sent"),
            ({"Authorization": "s3cret"}, "none was sent"),
        ):
            r = httpx.get(f"{srv.url}/health", headers=headers)
            assert r.status_code == 401 and r.json()["type"] == "AuthenticationFailed"
            assert r.headers["www-authenticate"] == "Bearer"
            assert words in r.json()["error"]
        assert post(srv.url, SMALL).status_code == 401  # the upload is read out, then refused
        good = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{srv.url}/health", headers=good).status_code == 200
        assert httpx.get(f"{srv.url}/models", headers=good).status_code == 200
        assert post(srv.url, SMALL, headers=good).status_code == 200


# -- imagear's own client ------------------------------------------------------------------------


def test_imagears_client_talks_to_the_server(tmp_path: Path) -> None:
    from imagear.client import VideoClient

    with running_server(tmp_path / "tmp", token="tok") as srv:
        with VideoClient(srv.url, token="tok", timeout=60) as client:
            health = client.health()
            assert health.default_model == "kenburns" and health.cuda is False
            assert "kenburns" in (health.available_models or [])
            clip = client.animate(jpeg_bytes(), {"model": "kenburns", **SMALL}, tmp_path / "c.mp4")
        assert clip.model == "kenburns" and clip.frames == 12 and clip.fps == 8
        assert clip.size_bytes == (tmp_path / "c.mp4").stat().st_size > 1024


def test_client_tells_a_missing_token_from_a_wrong_one(tmp_path: Path) -> None:
    from imagear.client import VideoClient
    from imagear.errors import AuthenticationFailed

    with running_server(tmp_path / "tmp", token="tok") as srv:
        with VideoClient(srv.url) as client, pytest.raises(AuthenticationFailed) as missing:
            client.health()
        with (
            VideoClient(srv.url, token="nope") as client,
            pytest.raises(AuthenticationFailed) as wrong,
        ):
            client.health()
    assert "none was sent" in missing.value.message
    assert "IMAGEAR_SERVER_TOKEN" in (missing.value.advice or "")
    assert "refused the bearer token that was sent" in wrong.value.message
    assert "matches" in (wrong.value.advice or "")


def test_kenburns_through_the_server_stores_no_motion_bucket(
    app: Any, make_image: Any, tmp_path: Path
) -> None:
    """As in-process: a model without a motion bucket records ai_motion_bucket_id = null."""
    from sqlmodel import select

    from imagear import records, settings
    from imagear.animate import AnimateRequest, Animator
    from imagear_models import ObjectImageAr

    oid = records.add_record(app, make_image("photo.jpg")).id
    with running_server(tmp_path / "tmp") as srv:
        settings.set_value(app.engine, "ar_server_url", srv.url)
        with Animator(app) as animator:
            out = animator.animate(AnimateRequest(oid, model="kenburns", overrides=SMALL_INTS))
    assert out.status == "created"
    with Session(app.engine, expire_on_commit=False) as s:
        row = s.exec(select(ObjectImageAr).where(ObjectImageAr.object_id == oid)).one()
    assert (row.ai_model, row.ai_motion_bucket_id) == ("kenburns", None)


# -- the command ---------------------------------------------------------------------------------


def test_serve_command_builds_the_app_from_options_and_config(
    monkeypatch: pytest.MonkeyPatch, runner: Any, tmp_path: Path, reserve_port: Callable[[], int]
) -> None:
    from imagear.cli import app as cli

    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("IMAGEAR_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("IMAGEAR_SERVER_TOKEN", "from-env-0123456789")
    monkeypatch.chdir(tmp_path)
    from imagear.server import run as server_run

    seen: dict[str, Any] = {}

    def fake_serve(uvicorn: Any, app: Any, sock: socket.socket, level: str) -> None:
        seen.update(app=app, bound=sock.getsockname(), level=level)
        sock.close()

    monkeypatch.setattr(server_run, "serve_forever", fake_serve)
    port = reserve_port()
    args = ["serve", "--model", "ken-burns", "--port", str(port), "--queue-size", "2"]
    result = runner.invoke(cli, [*args, "--max-upload-mb", "1"])
    assert result.exit_code == 0, result.output
    assert seen["bound"] == ("127.0.0.1", port) and seen["level"] == "info"
    settings = seen["app"].api.state.imagear.settings
    assert settings.default_model == "kenburns" and settings.queue_size == 2
    assert settings.token == "from-env-0123456789" and settings.models_dir == tmp_path / "models"
    assert settings.max_upload_bytes == 1024 * 1024 and settings.preload is True


def test_serve_command_refuses_unknown_model_and_missing_extra(
    monkeypatch: pytest.MonkeyPatch, runner: Any, tmp_path: Path
) -> None:
    from imagear.cli import app as cli

    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    result = runner.invoke(cli, ["serve", "--model", "nope"])
    assert result.exit_code == 3 and "Unknown model" in result.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    result = runner.invoke(cli, ["serve", "--model", "kenburns"])
    assert result.exit_code == 6 and "imagear[server]" in result.output


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("svd", (1500, 1000)),  # decoded at 1/2 (covers 944x624), not resampled: its engine does
        ("kenburns", (1833, 1222)),  # fitted inside what its camera needs at zoom 1.3
    ],
)
def test_the_server_decodes_an_upload_to_what_its_model_needs(
    tmp_path: Path, model: str, expected: tuple[int, int]
) -> None:
    """A master sent whole (a 3000x2000 JPEG) costs the server one reduced decode: a model with no
    camera gets the DCT-scaled decode as it is (the engine resizes it to its output), not a
    Lanczos pass here before the engine's own."""
    from PIL import Image

    from imagear.models import get_model
    from imagear.server.budget import DecodeBudget, deferred
    from imagear.server.upload import decode_slack, working_box

    path = tmp_path / "master.jpg"
    Image.new("RGB", (3000, 2000), (90, 120, 30)).save(path, quality=90)
    out = (944, 624) if model == "svd" else (1280, 720)
    options = get_model(model).Options(
        width=out[0], height=out[1], **({"zoom": 1.3} if model == "kenburns" else {})
    )
    box = working_box((3000, 2000), out, options)
    load = deferred(DecodeBudget(1 << 30), path, box, "The upload", decode_slack(options))
    with load() as image:
        assert image.size == expected


@pytest.mark.parametrize("zoom", [1.05, 1.3, 1.7, 2.0])
def test_a_ken_burns_upload_is_kept_at_what_its_own_camera_needs(zoom: float) -> None:
    """A request's image is decoded (in its turn) to what it needs: for Ken Burns it is shrunk
    to what the request's own final zoom needs (the engine's working margin at the tightest view), not to
    the largest zoom any request may ask (a 3000x2000 master for 1280x720 at zoom 1.3: 1833 x
    1223 instead of 2562 x 1708); a model with no camera needs its output size, reduced while
    decoding to at most twice that and not resampled here (its engine resizes it)."""
    from imagear.engines.kenburns import WORK_MARGIN
    from imagear.models import get_model
    from imagear.server.upload import MAX_ZOOM, camera_reach, decode_slack, working_box

    options = get_model("kenburns").Options(zoom=zoom, width=1280, height=720)
    box = working_box((3000, 2000), (1280, 720), options)
    assert box is not None
    tightest = min(box[0] / zoom / 1280, box[1] / zoom / 720)  # source px per output px
    assert WORK_MARGIN <= tightest < WORK_MARGIN * 1.01
    if zoom == 1.3:
        assert box == (1833, 1223)
    assert camera_reach(get_model("svd").Options()) == 1.0 < MAX_ZOOM
    assert decode_slack(get_model("svd").Options()) == 2.0
    assert decode_slack(options) == 1.0
