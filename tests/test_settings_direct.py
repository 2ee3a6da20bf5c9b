"""`settings list` / `settings get` on the embedded default read the settings through the
standard library's sqlite3 (imagear.db.direct), without importing SQLAlchemy (issue 27:
database commands start in at most 4x `import typer`); the answer is the engine's, and any
database the direct read cannot take is opened the usual way."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from imagear import settings as svc
from imagear.app import App
from imagear.db import direct
from imagear.db import settings as rows_db
from imagear.db.constants import SCHEMA_VERSION

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _stored(app: App) -> svc.Stored:
    return svc.stored(app.config.database_url, lambda: app.engine)


def _created(url: str) -> None:
    """A database made the usual way (tables, seed), then closed."""
    app = App.load()
    assert app.config.database_url == url
    app.engine  # noqa: B018 - creates, seeds
    app.close()


def _store(url: str, **values: str) -> None:
    path = direct.sqlite_file(url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        for key, value in values.items():
            conn.execute(
                "UPDATE image_ar_settings SET setting_value = ? WHERE setting_key = ?", (value, key)
            )


def test_direct_read_is_the_engines_answer(cli_env: dict[str, str], sqlite_url: str) -> None:
    _created(sqlite_url)
    # values another tool stored: out of range, unreadable, Heratio's '0' for empty, an alias
    _store(sqlite_url, ar_num_frames="9999", ar_fps="many", ar_server_url="0", ar_model="SVD_XT")
    found = direct.read_settings(sqlite_url)
    assert found is not None and found.atom is False
    via_direct = _stored(App.load())

    app = App.load()
    engine = app.engine
    assert found.rows == rows_db.read_all(engine)
    assert via_direct.values == svc.get_all(engine)
    assert via_direct.warnings == svc.warnings(engine)
    assert via_direct.values.value("ar_model") == "svd-xt"
    assert via_direct.values.value("ar_server_url") == ""
    assert any("ar_num_frames" in w for w in via_direct.warnings)
    app.close()


def test_an_atom_database_is_told_apart(cli_env: dict[str, str], sqlite_url: str) -> None:
    _created(sqlite_url)
    _store(sqlite_url, ar_model="kenburns")  # not on Heratio's settings page
    path = direct.sqlite_file(sqlite_url)
    assert path is not None
    with sqlite3.connect(path) as conn:  # AtoM's marker tables
        conn.execute("CREATE TABLE object (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE information_object_i18n (id INTEGER, culture TEXT)")
    found = direct.read_settings(sqlite_url)
    assert found is not None and found.atom is True
    shown = _stored(App.load())
    assert any("Heratio's settings page cannot show" in w for w in shown.warnings)
    app = App.load()
    assert shown.warnings == svc.warnings(app.engine)
    app.close()


def test_what_the_direct_read_does_not_take(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    assert direct.read_settings(f"sqlite:///{missing}") is None
    assert not missing.exists(), "the direct read must never create a database"
    for url in (
        "sqlite:///:memory:",
        "sqlite://",
        f"sqlite:///{tmp_path / 'x.db'}?timeout=5",
        "postgresql://imagear@db.invalid/imagear",
        "mysql://root@db.invalid/heratio",
    ):
        assert direct.read_settings(url) is None, url
    empty = tmp_path / "empty.db"  # a SQLite file without imagear's tables
    sqlite3.connect(empty).close()
    assert direct.read_settings(f"sqlite:///{empty}") is None
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert direct.read_settings(f"sqlite:///{garbage}") is None


@pytest.mark.parametrize("version", [SCHEMA_VERSION - 1, SCHEMA_VERSION + 1])
def test_another_schema_version_goes_through_the_engine(
    cli_env: dict[str, str], sqlite_url: str, version: int
) -> None:
    _created(sqlite_url)
    path = direct.sqlite_file(sqlite_url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE imagear_schema SET version = ?", (version,))
    assert direct.read_settings(sqlite_url) is None
    app = App.load()
    if version < SCHEMA_VERSION:  # upgraded, as any command would
        assert _stored(app).values.value("ar_model") == "svd"
        with sqlite3.connect(path) as conn:
            assert (
                conn.execute("SELECT version FROM imagear_schema").fetchone()[0] == SCHEMA_VERSION
            )
    else:  # refused, as any command would
        from imagear.errors import StorageError

        with pytest.raises(StorageError, match="newer than this imagear"):
            _stored(app)
    app.close()


def _fresh_process(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, list[str]]:
    """Run `imagear ARGS` in a new interpreter; its exit code, output and heavy modules."""
    probe = (
        "import sys, json\n"
        "from imagear.cli import main\n"
        "sys.argv = ['imagear', *json.loads(sys.argv[1])]\n"
        "code = 0\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = ('sqlalchemy', 'pydantic', 'imagear.models.registry')\n"
        "sys.stderr.write('\\n' + json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEAR_")}
    full.update(env, PYTHONPATH=SRC)
    proc = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(list(args))],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return code, proc.stdout, heavy


def test_settings_commands_start_without_sqlalchemy(
    cli_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    _created(sqlite_url)
    _store(sqlite_url, ar_model="Ken-Burns", ar_fps="12")
    code, out, heavy = _fresh_process(tmp_path, cli_env, "settings", "get", "ar_model")
    assert (code, out, heavy) == (0, "kenburns\n", [])
    code, out, heavy = _fresh_process(tmp_path, cli_env, "settings", "list", "--json")
    assert code == 0 and heavy == []
    assert json.loads(out)["ar_fps"] == 12 and json.loads(out)["ar_model"] == "kenburns"
    code, out, heavy = _fresh_process(tmp_path, cli_env, "settings", "list")
    assert code == 0 and heavy == [] and "ar_model" in out and "kenburns" in out


def test_a_new_database_is_still_created_and_said(
    cli_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    code, out, _heavy = _fresh_process(tmp_path, cli_env, "settings", "get", "ar_enabled")
    assert (code, out) == (0, "1\n")
    path = direct.sqlite_file(sqlite_url)
    assert path is not None and path.is_file()
    assert direct.read_settings(sqlite_url) is not None
