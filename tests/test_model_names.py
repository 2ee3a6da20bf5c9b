"""imagear.models.names: the built-ins' names and aliases, known without the registry (so that
validating ar_model loads no pydantic), and always the registry's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagear.errors import UnknownModel
from imagear.models.names import BUILTIN_NAMES, builtin_name
from imagear.settings_spec import spec

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_the_table_is_the_registrys() -> None:
    from imagear.models.registry import BUILTINS

    assert {cls.name: tuple(cls.aliases) for cls in BUILTINS} == BUILTIN_NAMES
    assert list(BUILTIN_NAMES) == [cls.name for cls in BUILTINS]  # the order models lists


@pytest.mark.parametrize(
    ("given", "name"),
    [("svd", "svd"), ("SVD_XT", "svd-xt"), (" Ken-Burns ", "kenburns"), ("LTXV", "ltx-video")],
)
def test_aliases_any_case(given: str, name: str) -> None:
    from imagear.models import get_model

    assert builtin_name(given) == name == get_model(given).name
    assert spec("ar_model").parse(given) == name


def test_unknown_models_still_go_to_the_registry() -> None:
    assert builtin_name("no-such-model") is None
    with pytest.raises(UnknownModel, match="Unknown model 'no-such-model'"):
        spec("ar_model").parse("no-such-model")


def run_fresh(probe: str) -> Any:
    """What ``probe`` printed as JSON, run in a new interpreter (nothing imported yet)."""
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def test_ar_model_is_validated_without_the_registry() -> None:
    probe = (
        "import sys, json\n"
        "from imagear.settings_spec import spec\n"
        "s = spec('ar_model')\n"
        "out = [s.parse('Wan2.2'), s.allowed()]\n"
        "heavy = ('pydantic', 'imagear.models.registry', 'imagear.models.base')\n"
        "print(json.dumps([out, sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    (name, allowed), heavy = run_fresh(probe)
    assert name == "wan-2.2" and heavy == []
    assert allowed.startswith("a model: svd, svd-xt, cogvideox-2b") and "kenburns" in allowed


def test_a_registered_model_counts_once_the_registry_is_loaded() -> None:
    from imagear.models import register, reset_registry
    from imagear.models.kenburns import KenBurns

    class Pans(KenBurns):
        name = "pans"
        aliases = ("svd-pans",)

    register(Pans)
    try:
        assert spec("ar_model").parse("SVD-Pans") == "pans"
    finally:
        reset_registry()


def test_only_the_model_used_builds_its_options_validator() -> None:
    """Loading the registry makes every model's Options class, but pydantic builds a validator
    only for the model a command uses (``defer_build``: about 35 ms of every start saved)."""
    probe = (
        "import json\n"
        "from imagear.models import registry\n"
        "built = lambda: sorted(c.name for c in registry.BUILTINS\n"
        "                       if c.Options.__pydantic_complete__)\n"
        "before = built()\n"
        "options = registry.get_model('kenburns').Options(num_frames=30, zoom=1.5)\n"
        "print(json.dumps([before, built(), options.num_frames]))\n"
    )
    before, after, frames = run_fresh(probe)
    assert (before, after, frames) == ([], ["kenburns"], 30)
