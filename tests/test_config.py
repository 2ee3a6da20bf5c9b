from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from imagear.cli import app
from imagear.config import KEY_NAMES, load_config
from imagear.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_live_in_platformdirs(clean_env: Path) -> None:
    cfg = load_config()
    assert cfg.path is None
    assert cfg.database_url == f"sqlite:///{clean_env / 'data' / 'imagear' / 'imagear.db'}"
    assert cfg.storage_root == clean_env / "data" / "imagear" / "storage"
    assert set(cfg.sources.values()) == {"default"}


def test_search_order_flag_env_cwd_user(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = clean_env / "cfg" / "imagear" / "imagear.toml"
    user.parent.mkdir(parents=True)
    user.write_text('storage_root = "/srv/user"\n')
    assert load_config().storage_root == Path("/srv/user")
    (clean_env / "imagear.toml").write_text('storage_root = "/srv/cwd"\n')
    assert load_config().storage_root == Path("/srv/cwd")
    envfile = clean_env / "env.toml"
    envfile.write_text('storage_root = "/srv/env"\n')
    monkeypatch.setenv("IMAGEAR_CONFIG", str(envfile))
    assert load_config().storage_root == Path("/srv/env")
    flag = clean_env / "flag.toml"
    flag.write_text('storage_root = "/srv/flag"\n')
    cfg = load_config(flag)
    assert cfg.storage_root == Path("/srv/flag")
    assert cfg.sources["storage_root"] == str(flag)


def test_env_overrides_every_key(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "imagear.toml").write_text(
        'database_url = "sqlite:///file.db"\nlow_vram = false\n'
    )
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", "postgresql://x@h/db")
    monkeypatch.setenv("IMAGEAR_LOW_VRAM", "1")
    cfg = load_config()
    assert cfg.database_url == "postgresql://x@h/db"
    assert cfg.low_vram is True
    assert cfg.sources["database_url"] == "IMAGEAR_DATABASE_URL"


def test_relative_paths_are_relative_to_the_file(clean_env: Path) -> None:
    d = clean_env / "site"
    d.mkdir()
    (d / "imagear.toml").write_text('database_url = "sqlite:///db/x.db"\nimages_root = "imgs"\n')
    cfg = load_config(d / "imagear.toml")
    assert cfg.database_url == f"sqlite:///{d / 'db' / 'x.db'}"
    assert cfg.images_root == d / "imgs"


@pytest.mark.parametrize(
    "content, needle",
    [
        ("database_url = [", "not valid TOML"),
        ('bogus = "x"\n', "unknown key"),
        ("low_vram = 'maybe'\n", "true or false"),
    ],
)
def test_bad_files_are_refused(clean_env: Path, content: str, needle: str) -> None:
    (clean_env / "imagear.toml").write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_config()


def test_missing_explicit_file(clean_env: Path, runner) -> None:
    result = runner.invoke(app, ["--config", "nope.toml", "config", "show"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_config_init_writes_every_key_and_show_reads_it(clean_env: Path, runner) -> None:
    target = clean_env / "out" / "imagear.toml"
    target.parent.mkdir()  # a folder given with --path must exist (a typo is not created)
    result = runner.invoke(app, ["config", "init", "--path", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    data = tomllib.loads(text)
    assert set(data) == set(KEY_NAMES)
    assert text.count("# ") >= len(KEY_NAMES)
    again = runner.invoke(app, ["config", "init", "--path", str(target)])
    assert again.exit_code == 2 and "--force" in again.output
    shown = runner.invoke(app, ["--config", str(target), "config", "show", "--json"])
    assert shown.exit_code == 0
    import json

    doc = json.loads(shown.stdout)
    assert doc["config_file"] == str(target)
    assert {row["key"] for row in doc["keys"]} == set(KEY_NAMES)
    assert all(row["source"] == str(target) for row in doc["keys"])
    values = {row["key"]: row["value"] for row in doc["keys"]}
    assert values["low_vram"] == "false"


def test_example_file_documents_every_key() -> None:
    example = Path(__file__).resolve().parents[1] / "imagear.toml.example"
    text = example.read_text()
    for key in KEY_NAMES:
        assert f"{key} =" in text or f"# {key} =" in text, key
