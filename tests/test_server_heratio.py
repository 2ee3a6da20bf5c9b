"""`imagear serve` as Heratio's PHP client sees it: the exact multipart request, over real HTTP.

Heratio's client (PHP curl) posts every field as a string (model, num_frames=14, fps=7,
motion_bucket_id=127, noise_aug_strength=0.02, seed=0, prompt, maybe empty) and the master image
as a file part named ``image`` labelled ``image/jpeg``; it treats any non-200 or a body under
1024 bytes as failure and reads the X- headers. Sent here with raw httpx (not imagear's client),
with the curl command line (libcurl, which PHP's curl wraps, Expect: 100-continue included), and
against a real (tiny, CPU) Stable Video Diffusion pipeline when torch and diffusers are here.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from imagear.media import probe_mp4  # noqa: E402
from test_server import Served, jpeg_bytes, running_server, wait_until_empty  # noqa: E402

HERATIO_FIELDS = {
    "model": "kenburns",
    "num_frames": "14",
    "fps": "7",
    "motion_bucket_id": "127",
    "noise_aug_strength": "0.02",
    "seed": "0",
    "prompt": "",
}


def heratio_post(url: str, fields: dict[str, str], image: bytes, token: str = "") -> httpx.Response:
    """POST /animate the way Heratio's PHP client does (10 s connect, long total timeout)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{url}/animate",
        data=fields,
        files={"image": ("master_0001.jpg", image, "image/jpeg")},
        headers=headers,
        timeout=httpx.Timeout(900, connect=10),
    )


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG of random pixels: large on disk for its size (over curl's Expect threshold)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root = tmp_path_factory.mktemp("heratio")
    with running_server(root / "tmp", models_dir=root / "models", token="gateway-key") as srv:
        yield srv


def check_heratio_success(
    r: httpx.Response,
    tmp_path: Path,
    frames: int,
    fps: int,
    min_bytes: int = 1024,
    motion_bucket: int | None = None,
) -> None:
    """What Heratio checks (200, body >= 1024) and reads (the X- headers), plus a decode.

    X-Motion-Bucket comes only with a model that has a motion bucket (``motion_bucket``); for
    one without (kenburns) it is left out, and Heratio falls back to what it sent.
    """
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert len(r.content) > min_bytes
    float(r.headers["x-generation-secs"])
    assert int(r.headers["x-frames"]) == frames and int(r.headers["x-fps"]) == fps
    assert int(r.headers["x-seed"]) > 0
    if motion_bucket is None:
        assert "x-motion-bucket" not in r.headers
    else:
        assert int(r.headers["x-motion-bucket"]) == motion_bucket
    clip = tmp_path / "heratio.mp4"
    clip.write_bytes(r.content)
    info = probe_mp4(clip)
    assert (info.frames, round(info.fps)) == (frames, fps)


def test_heratio_shaped_request_gets_a_clip(served: Served, tmp_path: Path) -> None:
    # No width/height, as Heratio sends: the model's size for the image's aspect ratio.
    r = heratio_post(served.url, HERATIO_FIELDS, jpeg_bytes((480, 300)), token="gateway-key")
    check_heratio_success(r, tmp_path, frames=14, fps=7)
    assert r.headers["x-model"] == "kenburns"
    assert wait_until_empty(served.tmp_dir) == []


def test_heratio_health_panel_fields(served: Served) -> None:
    data = httpx.get(f"{served.url}/health", headers={"Authorization": "Bearer gateway-key"}).json()
    for key, kind in [
        ("status", str),
        ("default_model", str),
        ("loaded_models", list),
        ("cuda", bool),
        ("low_vram_mode", bool),
    ]:
        assert isinstance(data[key], kind), key


def test_heratio_without_the_gateway_key_gets_401(served: Served) -> None:
    r = heratio_post(served.url, HERATIO_FIELDS, jpeg_bytes())
    assert r.status_code == 401


@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is not installed")
def test_libcurl_with_expect_100_continue(served: Served, tmp_path: Path) -> None:
    image = tmp_path / "master.jpg"
    image.write_bytes(noisy_jpeg((1200, 900)))
    out, head = tmp_path / "out.mp4", tmp_path / "head.txt"
    cmd = ["curl", "-sS", "--connect-timeout", "10", "-H", "Expect: 100-continue"]
    cmd += ["-H", "Authorization: Bearer gateway-key", "-o", str(out), "-D", str(head)]
    for key, value in {**HERATIO_FIELDS, "width": "320", "height": "240"}.items():
        cmd += ["--form-string", f"{key}={value}"]
    cmd += ["-F", f"image=@{image};type=image/jpeg", f"{served.url}/animate"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    headers = head.read_text().lower()
    assert "100 continue" in headers and " 200 ok" in headers
    info = probe_mp4(out)
    assert (info.frames, info.width, info.height) == (14, 320, 240)


def test_svd_family_through_the_server_with_a_tiny_pipeline(tmp_path: Path) -> None:
    """The real diffusers engine behind the server: availability, 422, the clip, loaded_models.

    A 14-frame SVD run takes ~20 s even with the tiny pipeline on a CPU, so the clip comes from
    ``svd-tiny``: the SVD descriptor and engine, registered with 2 frames allowed.
    """
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from pydantic import Field

    from imagear.models import register, unregister
    from imagear.models.svd import SVD, SVDOptions
    from tiny_svd import build_tiny_svd

    class TinyOptions(SVDOptions):
        num_frames: int = Field(2, ge=2, le=25)

    class TinySvd(SVD):
        name, aliases, default_frames, min_side = "svd-tiny", (), 2, 16
        valid_frames, frames_rule = None, "from 2 to 25"
        Options = TinyOptions

    models = tmp_path / "models"
    build_tiny_svd(models / "svd")
    (models / "svd-tiny").symlink_to(models / "svd")
    register(TinySvd, replace=True)
    try:
        # The tiny pipeline's random weights make noise that has nothing of the image: the
        # quality gate's resemblance check would refuse it (rightly), so it is off here; the
        # other checks (black, blank, frozen, frames, size, fps) still run.
        from imagear.quality import Thresholds

        gate = Thresholds(min_resemblance=0)
        with running_server(
            tmp_path / "tmp", default_model="svd", models_dir=models, quality=gate
        ) as srv:
            health = httpx.get(f"{srv.url}/health").json()
            assert {"svd", "svd-tiny"} <= set(health["available_models"])
            fields = {**HERATIO_FIELDS, "model": "svd", "width": "64", "height": "64"}
            bad = heratio_post(srv.url, {**fields, "num_frames": "20"}, jpeg_bytes())
            assert bad.status_code == 422 and "14 or 25" in bad.json()["error"]
            fields.update(model="svd-tiny", num_frames="2", width="32", height="32")
            fields["num_inference_steps"] = "1"  # a model option, passed on like -o
            r = heratio_post(srv.url, fields, noisy_jpeg((96, 96)))
            check_heratio_success(r, tmp_path, frames=2, fps=7, min_bytes=0, motion_bucket=127)
            assert r.headers["x-model"] == "svd-tiny"
            assert httpx.get(f"{srv.url}/health").json()["loaded_models"] == ["svd-tiny"]
    finally:
        unregister(TinySvd.name)
