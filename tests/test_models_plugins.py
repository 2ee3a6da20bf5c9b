"""The model registry's engines and plugins: lazy engine imports, real entry points."""

from __future__ import annotations

import subprocess
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from imagear.engines.base import EngineConfig
from imagear.errors import EngineUnavailable, InvalidOption
from imagear.models import (
    PluginWarning,
    Resolved,
    get_model,
    list_models,
    reset_plugin_cache,
    resolve_generation,
)

SRC = Path(__file__).resolve().parents[1] / "src"
BUILTIN_NAMES = [
    "svd",
    "svd-xt",
    "cogvideox-2b",
    "cogvideox-5b-i2v",
    "wan-2.1",
    "wan-2.2",
    "wan-2.2-a14b",
    "ltx-video",
    "kenburns",
]
SETTINGS: dict[str, Any] = {"ar_num_frames": 14, "ar_fps": 7, "ar_seed": 0, "ar_default_prompt": ""}


pytestmark = pytest.mark.usefixtures("clean_registry")


def resolve(
    model: str,
    settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    **overrides: Any,
) -> Resolved:
    return resolve_generation(
        model, SETTINGS if settings is None else settings, overrides, extra or {}, (1600, 900)
    )


# -- engines ------------------------------------------------------------------------------------


def test_create_engine_imports_the_diffusers_engine_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[Any, Any]] = []

    class FakeEngine:
        def __init__(self, descriptor: Any, config: Any) -> None:
            made.append((descriptor, config))

    fake = types.ModuleType("imagear.engines.diffusers")
    fake.DiffusersEngine = FakeEngine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "imagear.engines.diffusers", fake)
    config = EngineConfig(low_vram=True)
    for name in ("svd", "wan-2.1", "cogvideox-5b-i2v"):
        engine = get_model(name).create_engine(config)
        assert isinstance(engine, FakeEngine)
    assert [(d.name, c) for d, c in made] == [
        ("svd", config),
        ("wan-2.1", config),
        ("cogvideox-5b-i2v", config),
    ]


def test_create_engine_without_the_engine_module_is_engine_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "imagear.engines.diffusers", None)
    with pytest.raises(EngineUnavailable) as err:
        get_model("svd").create_engine(EngineConfig())
    assert err.value.exit_code == 6 and "imagear[diffusers]" in (err.value.advice or "")


def test_kenburns_creates_the_kenburns_engine() -> None:
    engine = get_model("kenburns").create_engine(EngineConfig())
    assert type(engine).__name__ == "KenBurnsEngine"
    assert type(engine).__module__ == "imagear.engines.kenburns"


def test_importing_and_using_the_registry_imports_no_heavy_dependency() -> None:
    code = (
        "import sys, imagear.models as m\n"
        "m.list_models(); m.get_model('wan'); m.get_model('svd').output_size((10, 20))\n"
        "m.resolve_generation('svd', {}, {}, {'num_frames': '25'}, (640, 480))\n"
        "heavy = ('torch', 'diffusers', 'transformers', 'av', 'uvicorn', 'fastapi')\n"
        "print(sorted(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# -- plugins ------------------------------------------------------------------------------------


def _plugin_warnings(call: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, PluginWarning)]


def test_plugins_load_through_real_entry_points(plugins_on_path: None) -> None:
    models, caught = _plugin_warnings(list_models)
    names = [m.name for m in models]
    assert names[: len(BUILTIN_NAMES)] == BUILTIN_NAMES
    assert "test-fake" in names and "test-more" in names  # a class and a function
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'broken'" in message and "imagear-brokenplugin" in message
    assert "pip uninstall imagear-brokenplugin" in message and "ImportError" in message
    # Cached: no second import, no second warning.
    _, again = _plugin_warnings(list_models)
    assert again == []
    reset_plugin_cache()
    _, fresh = _plugin_warnings(list_models)
    assert len(fresh) == 1


def test_plugin_models_resolve_like_builtins(plugins_on_path: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        m = get_model("Fake-Plugin")
    assert m.name == "test-fake"
    more = get_model("test-more")
    assert more.Options.descriptor is type(more) and m.Options.descriptor is type(m)
    r = resolve("test-fake", settings={**SETTINGS, "ar_default_prompt": "p"})
    # Its own 10 frames: the seeded ar_num_frames=14 is SVD's (models.native).
    assert (r.options.num_frames, r.options.prompt) == (10, "p")
    assert (r.options.width, r.options.height) == (340, 192)
    with pytest.raises(InvalidOption, match="from 0.0 to 1.0"):
        resolve("test-fake", extra={"strength": "2"})


def test_builtin_lookups_do_not_load_plugins(plugins_on_path: None) -> None:
    model, caught = _plugin_warnings(lambda: get_model("svd"))
    assert model.name == "svd" and caught == []
    _, caught = _plugin_warnings(lambda: resolve("wan", num_frames=81))
    assert caught == []


def _write_dist(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[imagear.models]\n{entry_points}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)


def test_plugins_that_clash_or_return_junk_are_skipped_with_one_warning_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "from imagear.models.svd import SVD\n"
        "class Clash(SVD):\n"
        "    name = 'svd-clone'\n"
        "    aliases = ('SVD',)\n"
        "def junk():\n"
        "    return [42]\n"
    )
    _write_dist(
        tmp_path,
        "imagear_oddplugin",
        "clash = imagear_oddmod:Clash\njunk = imagear_oddmod:junk\nnot-callable = imagear_oddmod:__doc__",
        {"imagear_oddmod": source},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    models, caught = _plugin_warnings(list_models)
    assert [m.name for m in models] == BUILTIN_NAMES
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3
    assert any("'clash'" in m and "clashes with 'svd'" in m for m in messages)
    assert any("'junk'" in m and "42" in m for m in messages)
    assert all("pip uninstall imagear_oddplugin" in m for m in messages)
