"""What a host needs to run each model (packages, checked without importing them; the right
diffusers), and which frame count and frame rate each model gets from the settings.

The weights are the tiny pipelines of tests/tiny_pipelines.py, in their published layouts (the
CogVideoX tokenizer as a ``spiece.model`` only, as the real checkpoints ship it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from imagear.engines import runtime
from imagear.engines.base import EngineConfig
from imagear.engines.diffusers import DiffusersEngine
from imagear.errors import EngineUnavailable
from imagear.models import get_model, resolve_generation
from tiny_pipelines import TINY_FRAMES, built, install, tiny_descriptors

FAMILIES = list(TINY_FRAMES)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = ("cogvideox-2b", "cogvideox-5b-i2v", "wan-2.1", "wan-2.2", "wan-2.2-a14b", "ltx-video")
    return install(tmp_path_factory.mktemp("models"), *names)


# -- what a host needs ----------------------------------------------------------------------------


def test_wan_without_ftfy_is_unavailable_with_the_pip_command(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.problem(get_model("wan-2.1"), models_dir) is None
    monkeypatch.setitem(sys.modules, "ftfy", None)  # as if not installed
    for name in ("wan-2.1", "wan-2.2", "wan-2.2-a14b"):
        found = runtime.problem(get_model(name), models_dir)
        assert found is not None and "ftfy" in found.message, name
        assert "pip install 'imagear[diffusers]'" in (found.advice or "")
    assert runtime.problem(get_model("ltx-video"), models_dir) is None
    engine = DiffusersEngine(
        tiny_descriptors()["wan-2.1"](), EngineConfig(models_dir=models_dir, device="cpu")
    )
    with pytest.raises(EngineUnavailable, match=r"ftfy \(not installed\)"):
        engine.load()  # the engine checks too, before loading anything


def test_a_spiece_tokenizer_needs_sentencepiece_and_protobuf(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    for name in ("cogvideox-2b", "cogvideox-5b-i2v"):
        found = runtime.problem(get_model(name), models_dir)
        assert found is not None and "sentencepiece (not installed)" in found.message
    # The folder decides for models that declare nothing: LTX's tiny tokenizer has a
    # tokenizer.json; the same folder with spiece.model only needs sentencepiece.
    assert runtime.problem(get_model("ltx-video"), models_dir) is None
    # And transformers really cannot read such a tokenizer without it:
    from transformers import AutoTokenizer

    with pytest.raises(Exception):  # noqa: B017 - whichever error transformers picks
        AutoTokenizer.from_pretrained(built("cogvideox-2b") / "tokenizer")


def test_too_old_a_diffusers_is_named_with_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata as metadata

    real = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "0.34.0" if name == "diffusers" else real(name)
    )
    assert runtime.missing_requirements(("diffusers>=0.35", "ftfy")) == [
        "diffusers>=0.35 (0.34.0 is installed)"
    ]
    assert runtime.missing_requirements(("diffusers>=0.33",)) == []


def test_the_extra_installs_what_the_models_require() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["diffusers"]
    names = {req.split(">=")[0].split("==")[0] for req in extra}
    needed = {r.split(">=")[0] for m in FAMILIES for r in get_model(m).requires}
    assert needed | set(runtime.SENTENCEPIECE_REQUIRES) <= names
    minimum = next(r for r in extra if r.startswith("diffusers"))
    highest = max(
        (r.split(">=")[1] for m in FAMILIES for r in get_model(m).requires if ">=" in r),
        key=runtime._version_tuple,
    )
    assert runtime._version_tuple(minimum.split(">=")[1]) >= runtime._version_tuple(highest)


# -- the frame count and frame rate a model gets --------------------------------------------------


def test_seeded_settings_give_way_to_each_models_own_frames_and_fps() -> None:
    from imagear.models.native import SEEDED
    from imagear.settings import SPECS, Settings

    assert {key: SPECS[key].default for key in SEEDED} == SEEDED
    seeded = Settings().model_dump()
    for name, frames, fps in [
        ("svd", 14, 7),
        ("svd-xt", 25, 7),
        ("wan-2.1", 81, 16),
        ("wan-2.2", 121, 24),
        ("ltx-video", 161, 25),
        ("cogvideox-5b-i2v", 49, 8),
    ]:
        got = resolve_generation(name, seeded, {}, {}, (640, 480))
        assert (got.options.num_frames, got.options.fps) == (frames, fps), name
    notices = resolve_generation("wan-2.1", seeded, {}, {}, (640, 480)).notices
    assert any("81 frames at 16 fps, its own" in n and "ar_fps=7" in n for n in notices)
    assert resolve_generation("svd", seeded, {}, {}, (640, 480)).notices == []


def test_an_administrators_setting_and_the_call_still_win() -> None:
    from imagear.settings import Settings

    changed = Settings(ar_fps=12, ar_num_frames=33).model_dump()
    got = resolve_generation("wan-2.1", changed, {}, {}, (640, 480))
    assert (got.options.num_frames, got.options.fps) == (33, 12)
    assert any("12 fps from ar_fps=12, an administrator's setting (its own: 16)" in n
               for n in got.notices)  # fmt: skip
    call = resolve_generation("wan-2.1", changed, {"fps": 20, "num_frames": 41}, {}, (640, 480))
    assert (call.options.num_frames, call.options.fps) == (41, 20)
    short = resolve_generation("cogvideox-5b-i2v", {}, {"num_frames": 25}, {}, None)
    assert any("trained for 49 frames" in n for n in short.notices)


@pytest.fixture(scope="module", autouse=True)
def _needs_torch_and_diffusers() -> None:
    """Imported here, not at collection: torch and diffusers take seconds to import."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
