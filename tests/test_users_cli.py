"""`imagear users add | list | passwd | remove` and `imagear audit` (issue 25, accounts): real
CLI runs on the test's database (SQLite; PostgreSQL and MariaDB where marked)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagear.cli import app as cli

PASSWORD = "correct horse battery"


def run(runner: Any, *args: str, stdin: str | None = None) -> Any:
    return runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.mark.all_databases
@pytest.mark.mysql
def test_add_list_passwd_remove(cli_env: Any, runner: Any) -> None:
    from imagear import accounts
    from imagear.app import App

    added = run(runner, "users", "add", "cora", "--role", "curator", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Added cora (curator)." in added.stdout
    admin = run(runner, "users", "add", "adam", "--role", "admin", "--heratio-user-id", "7",
                "--password-stdin", "--json", stdin=PASSWORD + "\n")  # fmt: skip
    assert admin.exit_code == 0 and json.loads(admin.stdout)["heratio_user_id"] == 7
    listed = json.loads(run(runner, "users", "list", "--json").stdout)["users"]
    assert [(u["name"], u["role"]) for u in listed] == [("adam", "admin"), ("cora", "curator")]
    assert "password" not in json.dumps(listed)
    table = run(runner, "users", "list")
    assert "adam" in table.stdout and "curator" in table.stdout
    changed = run(runner, "users", "passwd", "cora", "--password-stdin", stdin="a new password\n")
    assert changed.exit_code == 0, changed.output
    app = App.load()
    try:
        assert accounts.verify(app, "cora", "a new password") is not None
        assert accounts.verify(app, "cora", PASSWORD) is None
    finally:
        app.close()
    assert run(runner, "users", "remove", "cora").exit_code == 0
    listed = json.loads(run(runner, "users", "list", "--json").stdout)["users"]
    assert [u["name"] for u in listed] == ["adam"]
    trail = json.loads(run(runner, "audit", "--json").stdout)["entries"]
    assert [e["detail"] for e in reversed(trail)] == [
        "add cora", "add adam", "passwd cora", "remove cora",
    ]  # fmt: skip
    assert all(e["role"] == "cli" and e["user"] == "tester" for e in trail)


@pytest.mark.parametrize(
    ("args", "stdin", "code", "said"),
    [
        (["users", "add", "eve", "--role", "owner", "--password-stdin"], PASSWORD, 2, "not a role"),
        (["users", "add", "e ve", "--password-stdin"], PASSWORD, 2, "cannot be a user name"),
        (["users", "add", "eve", "--password-stdin"], "short", 2, "too short"),
        (["users", "passwd", "nobody", "--password-stdin"], PASSWORD, 3, "no user named"),
        (["users", "remove", "nobody"], None, 3, "no user named"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    cli_env: Any, runner: Any, args: list[str], stdin: str | None, code: int, said: str
) -> None:
    result = run(runner, *args, stdin=stdin)
    assert result.exit_code == code, result.output
    assert said in result.output and "Traceback" not in result.output


def test_a_taken_name_is_refused_and_the_user_kept(cli_env: Any, runner: Any) -> None:
    args = ("users", "add", "cora", "--password-stdin")
    assert run(runner, *args, stdin=PASSWORD).exit_code == 0
    again = run(runner, *args, "--role", "admin", stdin="another password")
    assert again.exit_code == 2 and "already a user named 'cora'" in again.output
    listed = json.loads(run(runner, "users", "list", "--json").stdout)["users"]
    assert [(u["name"], u["role"]) for u in listed] == [("cora", "curator")]


def test_the_password_is_asked_twice_without_echo(cli_env: Any, runner: Any) -> None:
    mismatch = run(runner, "users", "add", "cora", stdin=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0
    ok = run(runner, "users", "add", "cora", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert ok.exit_code == 0 and PASSWORD not in ok.output


def test_audit_filters_by_record(cli_env: Any, runner: Any) -> None:
    from imagear import auditlog
    from imagear.app import App

    app = App.load()
    try:
        auditlog.record(app, "cora", "curator", "approve", 5)
        auditlog.record(app, "adam", "admin", "delete", 6, "clip_id=2")
    finally:
        app.close()
    only = json.loads(run(runner, "audit", "--object-id", "6", "--json").stdout)["entries"]
    assert [(e["user"], e["action"], e["object_id"], e["detail"]) for e in only] == [
        ("adam", "delete", 6, "clip_id=2")
    ]
    assert only[0]["at"].endswith("+00:00")
    table = run(runner, "audit")
    assert table.exit_code == 0 and "approve" in table.stdout and "cora" in table.stdout
