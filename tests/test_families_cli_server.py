"""Every diffusers family through `imagear animate` (in-process) and through `imagear serve`,
each with its tiny pipeline (tests/tiny_pipelines.py) installed in models_dir.

The tiny descriptors take the real models' names in the registry (same options and frame
rules, tiny sizes), so the CLI and Heratio's wire protocol reach them exactly as they would
reach the real checkpoints. SQLite only: the database is not what is under test here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from imagear.app import App
from imagear.cli import app as cli
from imagear.media import probe_mp4
from imagear.models import get_model, register, reset_registry
from tiny_pipelines import TINY_FRAMES, install, tiny_descriptors, tiny_extra

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from test_server import jpeg_bytes, running_server  # noqa: E402

if TYPE_CHECKING:
    import numpy as np

FAMILIES = list(TINY_FRAMES)


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # this module: SQLite only (overrides conftest's pair)
    return sqlite_url


@pytest.fixture(scope="module", autouse=True)
def tiny_models() -> Iterator[None]:
    """The tiny descriptors in the real models' places; one torch thread (tiny tensors)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for cls in tiny_descriptors().values():
        register(cls, replace=True)
    yield
    reset_registry()
    torch.set_num_threads(threads)


def no_quality_gate(app: App) -> None:
    """Tiny random models make noise, which the quality gate (rightly) refuses: off here."""
    from imagear import settings

    if "ar_quality_gate" in settings.SPECS:
        settings.set_value(app.engine, "ar_quality_gate", "0")


def decode(path: Path) -> np.ndarray:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("name", FAMILIES)
def test_animate_in_process(
    name: str, app: App, make_image: Any, runner: Any, roots: dict[str, Path]
) -> None:
    from imagear import records

    install(roots["models_dir"], name)
    no_quality_gate(app)
    oid = records.add_record(app, make_image("photo.jpg", size=(64, 48))).id
    args = ["animate", "--object-id", str(oid), "--model", name, "--seed", "7", "--json"]
    args += ["--frames", str(TINY_FRAMES[name]), "--width", "32", "--height", "32"]
    args += ["--prompt", "a slow pan over the harbour"]
    for key, value in tiny_extra(name).items():
        args += ["-o", f"{key}={value}"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "created"
    anim = data["animation"]
    fps = get_model(name).native_fps  # the model's own frame rate: no per-call --fps
    assert (anim["ai_model"], anim["ai_seed"], anim["mp4_fps"]) == (name, 7, fps)
    assert (anim["mp4_width"], anim["mp4_height"]) == (32, 32)
    frames = decode(Path(data["file"]))
    assert frames.shape == (TINY_FRAMES[name], 32, 32, 3)
    assert "Loading" not in result.stderr and "%|" not in result.stderr  # no progress bars
    # AI: c2pa's own Reader finds a valid manifest declaring trainedAlgorithmicMedia (issue 22)
    from imagear.provenance.manifest import TRAINED
    from test_provenance import actions_of, c2pa_report, generation_of

    state, manifest = c2pa_report(Path(data["file"]))
    assert state == "Valid" and actions_of(manifest)[0]["digitalSourceType"] == TRAINED
    assert manifest["ingredients"][0]["relationship"] == "inputTo"
    made = generation_of(manifest)
    assert (made["model"], made["seed"], made["ai_generated"]) == (name, 7, True)


def test_animate_takes_each_models_own_fps_over_the_seeded_setting(
    app: App, make_image: Any, runner: Any, roots: dict[str, Path]
) -> None:
    """Wan 2.1 with the seeded settings: 16 fps (its own), said in a notice, not SVD's 7."""
    from imagear import records

    install(roots["models_dir"], "wan-2.1")
    no_quality_gate(app)
    oid = records.add_record(app, make_image("photo.jpg", size=(64, 48))).id
    args = ["animate", "--object-id", str(oid), "--model", "wan-2.1", "--width", "32"]
    args += ["--height", "32", "--frames", "5", "-o", "num_inference_steps=1"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ar_fps=7" in result.stderr and "16 fps" in result.stderr
    info = probe_mp4(next((roots["storage_root"] / "uploads" / "ar" / str(oid)).glob("*.mp4")))
    assert (info.frames, round(info.fps)) == (5, 16)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("families")
    install(root / "models", *FAMILIES)
    models, tmp = root / "models", root / "tmp"
    gate: dict[str, Any] = {}
    try:  # the quality gate refuses noise (see no_quality_gate)
        from imagear.quality import Thresholds

        gate["quality"] = Thresholds(enabled=False)
    except ImportError:
        pass
    with running_server(tmp, default_model="svd", models_dir=models, **gate) as srv:
        yield srv


@pytest.mark.parametrize("name", FAMILIES)
def test_serve_speaks_heratios_protocol_for_every_family(
    name: str, served: Any, tmp_path: Path
) -> None:
    fields = {"model": name, "num_frames": str(TINY_FRAMES[name]), "seed": "11"}
    fields.update(width="32", height="32", prompt="a slow pan over the harbour")
    fields.update({key: str(value) for key, value in tiny_extra(name).items()})
    r = httpx.post(
        f"{served.url}/animate",
        data=fields,
        files={"image": ("master.jpg", jpeg_bytes((64, 48)), "image/jpeg")},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-model"] == name and r.headers["x-seed"] == "11"
    fps = get_model(name).native_fps
    assert int(r.headers["x-frames"]) == TINY_FRAMES[name] and int(r.headers["x-fps"]) == fps
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(r.content)
    assert decode(clip).shape == (TINY_FRAMES[name], 32, 32, 3)
    health = httpx.get(f"{served.url}/health").json()
    assert name in health["available_models"]
    assert name in health["loaded_models"]  # (on a CPU several stay loaded; on a GPU, one)


def test_verbose_shows_the_libraries_loading_output(
    app: App, make_image: Any, runner: Any, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear import records

    monkeypatch.setenv("IMAGEAR_VERBOSE", "0")  # restored after: --verbose sets it to 1
    install(roots["models_dir"], "ltx-video")
    no_quality_gate(app)
    oid = records.add_record(app, make_image("photo.jpg", size=(64, 48))).id
    args = ["--verbose", "animate", "--object-id", str(oid), "--model", "ltx-video"]
    args += ["--frames", "9", "--width", "32", "--height", "32", "-o", "num_inference_steps=2"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Loading pipeline components" in result.stderr


def test_models_lists_the_new_models_and_says_where_frames_and_fps_come_from(
    runner: Any,
) -> None:
    reset_registry()  # the real descriptors, not the tiny ones
    try:
        listing = runner.invoke(cli, ["models"], catch_exceptions=False)
        assert listing.exit_code == 0
        for name in ("wan-2.2", "wan-2.2-a14b", "ltx-video"):
            assert f"\n{name}\t" in listing.stdout
        shown = runner.invoke(cli, ["models", "show", "ltx"], catch_exceptions=False)
        assert "frames and fps: 161 frames at 25 fps, its own" in shown.stdout
        data = json.loads(runner.invoke(cli, ["models", "show", "wan-2.2", "--json"]).stdout)
        assert (data["native_fps"], data["default_frames"], data["divisible_by"]) == (24, 121, 32)
        assert data["frames_and_fps"].startswith("121 frames at 24 fps")
    finally:
        for cls in tiny_descriptors().values():
            register(cls, replace=True)


def test_serve_without_ftfy_says_wan_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not 'available' in /health and then a 500 on the first request: it is not offered."""
    import sys

    models = install(tmp_path / "models", "wan-2.1", "ltx-video")  # built with ftfy
    monkeypatch.setitem(sys.modules, "ftfy", None)  # then as if not installed
    with running_server(tmp_path / "tmp", default_model="ltx-video", models_dir=models) as srv:
        health = httpx.get(f"{srv.url}/health").json()
        assert "wan-2.1" not in health["available_models"]
        assert "ltx-video" in health["available_models"]
        listed = {m["name"]: m for m in httpx.get(f"{srv.url}/models").json()["models"]}
        assert "ftfy (not installed)" in listed["wan-2.1"]["unavailable_reason"]
        r = httpx.post(
            f"{srv.url}/animate",
            data={"model": "wan-2.1", "num_frames": "5", "width": "32", "height": "32"},
            files={"image": ("master.jpg", jpeg_bytes((64, 48)), "image/jpeg")},
            timeout=60,
        )
        assert r.status_code == 400, r.text


def test_animate_without_ftfy_exits_6_naming_the_extra(
    app: App, make_image: Any, runner: Any, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from imagear import records

    install(roots["models_dir"], "wan-2.1")  # built with ftfy
    monkeypatch.setitem(sys.modules, "ftfy", None)  # then as if not installed
    oid = records.add_record(app, make_image("photo.jpg", size=(64, 48))).id
    args = ["animate", "--object-id", str(oid), "--model", "wan-2.1", "--frames", "5"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 6, result.output
    assert "ftfy (not installed)" in result.stderr
    assert "pip install 'imagear[diffusers]'" in result.stderr
    health = json.loads(runner.invoke(cli, ["health", "--json"]).stdout)
    wan = next(e for e in health["engines"] if e["name"] == "wan-2.1")
    assert wan["available"] is False and "ftfy" in wan["reason"]


@pytest.fixture(scope="module", autouse=True)
def _needs_torch_and_diffusers() -> None:
    """Imported here, not at collection: torch and diffusers take seconds to import."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
