"""Settings are declared once (imagear.settings_spec.Settings, issue 20): the settings table's
first-boot rows, the validation, the typed values, the quality gate's thresholds and
``imagear serve``'s quality options all derive from it and agree."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import typer

from imagear import quality, settings
from imagear.errors import InvalidSetting
from imagear.settings_spec import DEFAULTS, SPECS, Settings

TYPES = {"boolean": bool, "integer": int, "decimal": float, "string": str}


def test_one_declaration_gives_the_specs_and_the_typed_settings() -> None:
    assert [f.name for f in fields(Settings)] == list(SPECS)
    for key, spec in SPECS.items():
        assert spec.key == key and spec.description
        value = DEFAULTS.value(key)
        assert value == spec.default and type(value) is TYPES[spec.type], key
        assert spec.parse(spec.to_text(spec.default)) == spec.default, key
    assert settings.Settings is Settings and settings.SPECS is SPECS


def test_seed_rows_are_the_declared_defaults() -> None:
    rows = settings.seed_rows()
    assert [r["setting_key"] for r in rows] == list(SPECS)
    for row in rows:
        spec = SPECS[row["setting_key"]]
        assert row["setting_type"] == spec.type and row["description"] == spec.description
        assert spec.parse(row["setting_value"]) == spec.default


@pytest.mark.parametrize("key", [k for k, s in SPECS.items() if s.low is not None])
def test_validation_is_the_declared_bounds(key: str) -> None:
    spec = SPECS[key]
    assert spec.low is not None
    assert spec.parse(str(int(spec.low))) == spec.low
    with pytest.raises(InvalidSetting):
        spec.parse(str(spec.low - 1))
    if spec.high is not None:
        assert spec.parse(str(int(spec.high))) == spec.high
        with pytest.raises(InvalidSetting):
            spec.parse(str(spec.high + 1))


def test_the_quality_thresholds_are_the_declared_settings() -> None:
    assert quality.Thresholds.from_settings(DEFAULTS) == quality.Thresholds()
    for name, key in quality.THRESHOLD_SETTINGS.items():
        assert getattr(quality.Thresholds(), name) == SPECS[key].default, name
    assert {f.name for f in fields(quality.Thresholds)} == set(quality.THRESHOLD_SETTINGS)


def test_serves_quality_options_are_the_declared_settings() -> None:
    from imagear.cli import app as cli

    serve = typer.main.get_command(cli).commands["serve"]  # type: ignore[attr-defined]
    options = {p.name: p for p in serve.params}
    for name, key in quality.THRESHOLD_SETTINGS.items():
        option = options["quality_gate" if name == "enabled" else name]
        spec = SPECS[key]
        assert option.default == spec.default, name
        if spec.type == "decimal":  # Typer 0.29 keeps the bounds on the option, earlier on its type
            held = option if hasattr(option, "min") else option.type
            assert (held.min, held.max) == (spec.low, spec.high), name


def test_the_readme_table_names_every_key_with_its_declared_default_and_range() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| key | default | allowed |\n|---|---|---|\n", 1)[1].split("\n\n")[0]
    seen: set[str] = set()
    for line in table.splitlines():
        keys, default, allowed = (cell.strip() for cell in line.strip("|").split("|", 2))
        for key in keys.split(", "):
            spec = SPECS[key]
            seen.add(key)
            assert default == (spec.to_text(spec.default) or "empty"), key
            if spec.type in ("integer", "decimal"):
                assert allowed.startswith(spec.allowed()), (key, allowed)
    assert seen == set(SPECS)
