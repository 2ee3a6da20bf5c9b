"""No traceback reaches a user: an unexpected exception is one line on stderr and exit 1;
``--debug`` or IMAGEAR_DEBUG=1 adds the traceback. ImagearErrors, usage errors and Ctrl-C keep
their own exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from imagear.cli import app as cli
from imagear.errors import RecordNotFound


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("kaboom\nwith a second line nobody needs")


def _lines(text: str) -> list[str]:
    """Non-blank lines, less the note a read-only command gives on a database's first use."""
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("Note: first use of the database")
    ]


@pytest.fixture
def broken_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """`imagear records list` whose service raises a RuntimeError (a bug)."""
    monkeypatch.setattr("imagear.records.list_records", _boom)


def test_unexpected_error_is_one_line_and_exit_1(cli_env, runner, broken_list) -> None:
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "Traceback" not in r.output and "╭" not in r.output
    (line,) = _lines(r.stderr)
    assert line.startswith("Error: ")
    assert "records list" in line and "RuntimeError: kaboom" in line
    assert "second line" not in line
    assert "--debug" in line and "IMAGEAR_DEBUG=1" in line


def test_unexpected_error_with_json_also_prints_json(cli_env, runner, broken_list) -> None:
    r = runner.invoke(cli, ["records", "list", "--json"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    data = json.loads(r.stdout)
    assert data["status"] == "failed" and data["kind"] == "RuntimeError"
    assert data["exit_code"] == 1 and "kaboom" in data["error"] and "--debug" in data["advice"]
    assert len(_lines(r.stderr)) == 1


def test_debug_option_shows_the_traceback(cli_env, runner, broken_list) -> None:
    r = runner.invoke(cli, ["--debug", "records", "list"])
    assert r.exit_code == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "in _boom" in r.stderr and "RuntimeError: kaboom" in r.stderr
    last = _lines(r.stderr)[-1]
    assert last.startswith("Error: ") and "records list" in last and "--debug" not in last


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_debug_variable_shows_the_traceback(
    cli_env, runner, broken_list, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IMAGEAR_DEBUG", value)
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 1 and "Traceback (most recent call last)" in r.stderr


def test_debug_variable_off(cli_env, runner, broken_list, monkeypatch) -> None:
    monkeypatch.setenv("IMAGEAR_DEBUG", "0")
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 1 and "Traceback" not in r.stderr and len(_lines(r.stderr)) == 1


def test_third_party_error_names_its_type_and_first_line(cli_env, runner, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    def unmapped(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "SELECT identifier FROM information_object", {}, Exception("no such column: identifier")
        )

    monkeypatch.setattr("imagear.settings.stored", unmapped)
    r = runner.invoke(cli, ["settings", "list"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = _lines(r.stderr)
    assert "settings list" in line
    assert (
        "sqlalchemy.exc.OperationalError: (builtins.Exception) no such column: identifier" in line
    )
    assert "[SQL:" not in line


def test_root_mirror_failure_names_the_root_command(cli_env, runner, monkeypatch) -> None:
    monkeypatch.setattr("imagear.animate.Animator.__enter__", _boom)
    r = runner.invoke(cli, ["--object-id", "1"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = _lines(r.stderr)
    assert "RuntimeError: kaboom" in line


@pytest.mark.all_databases
def test_database_with_foreign_tables_is_a_clear_error(
    cli_env, runner, tmp_path, monkeypatch
) -> None:
    """An SQLite file whose information_object lacks imagear's columns: exit 1, no traceback."""
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE information_object (id INTEGER PRIMARY KEY, foo TEXT)")
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"sqlite:///{path}")
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "╭" not in r.output
    assert _lines(r.stderr)[0].startswith("Error: ")
    # the missing column is named, and whether the database looks like AtoM's
    assert "the column information_object.identifier does not exist" in r.stderr
    assert "does not look like an AtoM database" in r.stderr


def test_imagear_error_outside_handle_errors_keeps_its_exit_code(
    cli_env, runner, monkeypatch
) -> None:
    def missing(obj: object) -> None:
        raise RecordNotFound("Record 9 does not exist.", "List them with `imagear records list`.")

    monkeypatch.setattr("imagear.cli.records.print_json", missing)
    r = runner.invoke(cli, ["records", "list", "--json"])
    assert r.exit_code == 3 and "Traceback" not in r.output
    assert _lines(r.stderr) == [
        "Error: Record 9 does not exist.",
        "  List them with `imagear records list`.",
    ]


def test_ctrl_c_still_exits_130(cli_env, runner, monkeypatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("imagear.records.list_records", interrupted)
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 130 and "Traceback" not in r.output and "Error" not in r.output


def test_usage_errors_and_exits_pass_through(cli_env, runner) -> None:
    r = runner.invoke(cli, ["records", "list", "--limit", "0"])
    assert r.exit_code == 2 and "--limit" in r.output
    r = runner.invoke(cli, ["records", "no-such-command"])
    assert r.exit_code == 2
    assert runner.invoke(cli, ["records", "list"]).exit_code == 0


def test_pretty_exceptions_are_off() -> None:
    assert cli.pretty_exceptions_enable is False


def test_a_real_process_prints_no_traceback(cli_env, tmp_path) -> None:
    """The console script path (not CliRunner): one line on stderr, exit 1; with --debug the
    traceback."""
    script = (
        "import sys, imagear.records\n"
        "def boom(*a, **k):\n"
        "    raise ValueError('bad value from a bug')\n"
        "imagear.records.list_records = boom\n"
        "from imagear.cli import main\n"
        "sys.argv[0] = 'imagear'\n"
        "main()\n"
    )
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for debug in (False, True):
        args = ["--debug", "records", "list"] if debug else ["records", "list"]
        proc = subprocess.run(
            [sys.executable, "-c", script, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1 and proc.stdout == ""
        if debug:
            assert "Traceback (most recent call last)" in proc.stderr
        else:
            assert "Traceback" not in proc.stderr
            (line,) = _lines(proc.stderr)
            assert line.startswith("Error: imagear records list failed unexpectedly: ValueError")
