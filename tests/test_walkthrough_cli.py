"""A newcomer's walk-through (issue 14): one consistent CLI, tried as an archivist, a cron job and
an ops person would, through the real command line (CliRunner; a real process for signals).

Each test names the item of the issue it covers; `imagear batch`'s items are in
tests/test_walkthrough_batch.py, the help's (item 6) in tests/test_help_golden.py. The CLI
behaves the same on every database, so these run on SQLite only.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer.main

from fake_server import FakeVideoServer
from imagear import records, settings, store
from imagear.app import App
from imagear.cli import app as cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only (overrides conftest's database matrix): the CLI's wording is the same on
    every database."""
    return sqlite_url


def invoke(runner: Any, *args: str, app: App | None = None) -> Any:
    """Run the CLI; ``app``: the App it uses (e.g. one whose retries do not sleep)."""
    obj = {"app": app} if app is not None else None
    return runner.invoke(cli, list(args), obj=obj, catch_exceptions=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def add(app: App, make_image: Any, name: str = "photo.jpg") -> int:
    return records.add_record(app, make_image(name)).id


# -- 1: options are checked whatever the record's state ------------------------------------------


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["--model", "nope"], 3),
        (["--model", "svd", "--frames", "13"], 2),
        (["--motion", "999"], 2),
        (["--frames", "20", "-o", "duration=2"], 2),
    ],
    ids=["unknown-model", "bad-frames", "bad-motion", "length-twice"],
)
def test_1_a_typo_fails_whether_or_not_the_record_has_a_clip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, options: list[str], code: int
) -> None:
    with_clip, without = add(app, make_image, "a.jpg"), add(app, make_image, "b.jpg")
    assert invoke(runner, "animate", "--object-id", str(with_clip)).exit_code == 0
    requests = remote.count
    for oid in (with_clip, without):
        result = invoke(runner, "animate", "--object-id", str(oid), *options)
        assert result.exit_code == code, (oid, result.output)
        assert "already has an animation" not in result.output
        assert lines(result.stderr)[0].startswith("Error: ")
    assert remote.count == requests  # nothing was generated
    skipped = invoke(runner, "animate", "--object-id", str(with_clip), "--model", "kenburns")
    assert skipped.exit_code == 0 and "already has an animation" in skipped.stdout


# -- 2: --json is a contract ----------------------------------------------------------------------

FAILURE_KEYS = ["status", "kind", "error", "advice", "exit_code"]


OUTCOMES = [
    (["animate"], 2),  # no --object-id
    (["animate", "--object-id", "abc"], 2),  # not a number: click's usage error
    (["animate", "--object-id", "999"], 3),
    (["animate", "--object-id", "{oid}", "--model", "nope"], 3),
    (["animate", "--object-id", "{oid}"], 0),  # skipped: a refusal that is no error
    (["--object-id", "{oid}", "--frames", "x"], 2),
    (["delete"], 2),
    (["delete", "--object-id", "999"], 3),
    (["delete", "--object-id", "-1"], 2),
    (["recent", "-n", "0"], 2),
    (["recent"], 0),
    (["records", "add"], 2),  # missing argument
    (["records", "add", "missing.jpg"], 3),
    (["records", "show", "abc"], 2),
    (["records", "show", "999"], 3),
    (["records", "list", "--limit", "0"], 2),
    (["records", "import", "missing.csv"], 3),
    (["settings", "get", "ar_nope"], 3),
    (["settings", "list"], 0),
    (["config", "show"], 0),
    (["models", "show", "nope"], 3),
    (["batch", "--limit", "0"], 2),
    (["batch", "--model", "nope"], 3),
    (["batch", "--model", "nope", "--dry-run"], 3),
    (["batch", "reset"], 2),
    (["batch", "reset", "--object-id", "999"], 3),
    (["batch", "failures"], 0),
    (["check"], 2),
    (["check", "--object-id", "{oid}"], 0),
    (["health"], 0),
]
"""(arguments, exit code): success, refusal and usage error of every command with --json."""


def test_2_every_json_command_prints_one_document_in_every_outcome(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    problems = []
    for args, code in OUTCOMES:
        argv = [a.replace("{oid}", str(oid)) for a in args] + ["--json"]
        result = runner.invoke(cli, argv)
        try:
            assert result.exit_code == code, f"exit {result.exit_code}"
            document = json.loads(result.stdout)  # exactly one document, nothing else
            if code != 0:
                assert isinstance(document, dict), document
                assert [k for k in document if k in FAILURE_KEYS] == FAILURE_KEYS, document
                assert document["status"] == "failed" and document["exit_code"] == code
                # the person's line too (a batch's is timestamped, as its log lines are)
                assert re.match(r"(\S+Z )?Error: ", lines(result.stderr)[0]), result.stderr
        except (AssertionError, ValueError) as exc:
            problems.append(f"imagear {' '.join(argv)}: {exc}\n{result.output}")
    assert not problems, "\n\n".join(problems)


def test_2_delete_json_keys_are_stable_and_documented(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    keys = []
    for name in ("a.jpg", "b.jpg"):
        oid = add(app, make_image, name)
        assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
        result = invoke(runner, "delete", "--object-id", str(oid), "--json")
        keys.append(list(json.loads(result.stdout)))
    assert keys[0] == keys[1]
    assert keys[0][:3] == ["status", "id", "object_id"]  # the row in table order
    assert keys[0][-3:] == ["file", "file_removed", "removed"]


def test_2_docs_json_covers_every_command_with_json() -> None:
    doc = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")

    def walk(command: Any, path: tuple[str, ...] = ()) -> list[str]:
        found = []
        if any("--json" in getattr(p, "opts", ()) for p in command.params) and path:
            found.append(" ".join(path))
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, (*path, name))
        return found

    commands = walk(typer.main.get_command(cli))
    assert len(commands) >= 15
    missing = [c for c in commands if f"`{c}`" not in doc and f"`{c} " not in doc]
    assert not missing, f"docs/json.md does not describe: {missing}"


# -- 5: the first animate on a fresh install -------------------------------------------------------


def test_5_first_animate_without_server_or_weights_says_why_and_how(
    app: App, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)  # a fresh install: ar_model svd, no ar_server_url, no weights
    result = invoke(runner, "animate", "--object-id", str(oid))
    assert result.exit_code == 6, result.output
    error, advice = lines(result.stderr)
    assert "The default model svd (ar_model) cannot run in this process" in error
    assert "no image-to-video server is set (ar_server_url is empty)" in error
    assert "--model kenburns" in advice and "imagear settings set ar_model kenburns" in advice
    kenburns = invoke(
        runner, "animate", "--object-id", str(oid), "--model", "kenburns", "-o", "duration=0.2"
    )
    assert kenburns.exit_code == 0, kenburns.output  # what the advice says works


def test_5_readme_usage_says_so_and_agrees() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# imagear")
    top = readme.split("## Everyday use", 1)[1].split("\n## ", 1)[0]
    assert "bash scripts/demo.sh" in readme.split("## ", 1)[0]
    assert "bash scripts/test.sh" in readme.split("## ", 1)[0]
    first_animate = next(ln for ln in top.splitlines() if ln.startswith("imagear animate"))
    assert "--model kenburns" in first_animate
    assert "ar_server_url" in top and "weights" in top and "exit" in top


def test_5_demo_reuses_its_record(app: App, runner: Any) -> None:
    first = invoke(runner, "demo", "-o", "duration=0.2", "--json")
    second = invoke(runner, "demo", "-o", "duration=0.2", "--json")
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["object_id"] == two["object_id"]
    assert (one["new_record"], two["new_record"]) == (True, False)
    assert two["status"] == "replaced"
    assert records.list_records(app)[1] == 1  # no duplicate record


# -- 7: advice that goes somewhere, on one line -----------------------------------------------------


def test_7_health_does_not_send_you_to_health(app: App, runner: Any) -> None:
    app.sleep = lambda seconds: None  # the client's retries do not wait
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")
    result = invoke(runner, "health", app=app)
    assert result.exit_code == 5
    assert "Cannot reach" in result.stderr and "imagear health" not in result.stderr
    data = json.loads(invoke(runner, "health", "--json", app=app).stdout)
    assert data["reachable"] is False and "imagear health" not in (data["advice"] or "")


def test_7_records_add_of_a_folder_says_what_to_do(
    cli_env: Any, runner: Any, tmp_path: Path
) -> None:
    result = invoke(runner, "records", "add", str(tmp_path))
    assert result.exit_code == 2
    error, advice = lines(result.stderr)
    assert "is a folder, not an image file" in error
    assert "imagear records import" in advice


def test_7_length_given_twice_has_advice(app: App, make_image: Any, runner: Any) -> None:
    oid = add(app, make_image)
    result = invoke(
        runner, "animate", "--object-id", str(oid), "--frames", "20", "-o", "duration=2"
    )
    assert result.exit_code == 2
    error, advice = lines(result.stderr)
    assert "--frames and -o duration both set the clip's length" in error
    assert advice.startswith("  Keep --frames")


def test_7_usage_errors_are_one_line_like_every_other_error(cli_env: Any, runner: Any) -> None:
    for args in (["animate", "--object-id", "abc"], ["records", "add"], ["anmate"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2
        error, advice = lines(result.stderr)
        assert error.startswith("Error: ") and "Usage:" not in result.stderr
        assert advice.strip().startswith("See `imagear") and advice.strip().endswith("--help`.")


def test_7_a_driver_message_with_line_breaks_stays_one_line(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.errors import StorageError

    def down(*args: object) -> None:
        raise StorageError(
            "Cannot open the database: connection refused\n\tIs the server running on that "
            "host and accepting TCP/IP connections?",
            "Check database_url.",
        )

    monkeypatch.setattr("imagear.records.list_records", down)
    result = invoke(runner, "records", "list")
    assert result.exit_code == 1
    error, advice = lines(result.stderr)
    assert error.startswith("Error: Cannot open the database") and "\t" not in error


# -- 8: one exit code rule ---------------------------------------------------------------------------


def test_8_one_rule_for_exit_codes(app: App, make_image: Any, runner: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "scan.jpg"
    bogus.write_text("not an image")
    assert invoke(runner, "records", "add", str(bogus)).exit_code == 1  # unusable data: 1
    oid = add(app, make_image)
    unknown = invoke(runner, "settings", "set", "ar_model", "nope")
    assert unknown.exit_code == 3  # an unknown name, as `--model nope` everywhere
    assert invoke(runner, "animate", "--object-id", str(oid), "--model", "nope").exit_code == 3
    assert invoke(runner, "batch", "--model", "nope").exit_code == 3
    listed = invoke(runner, "settings", "list")
    assert "a model: svd, svd-xt" in listed.stdout and "kenburns" in listed.stdout
    gone = invoke(runner, "delete", "--object-id", "999")
    assert gone.exit_code == 3 and "Record 999 does not exist." in gone.stderr
    no_clip = invoke(runner, "delete", "--object-id", str(oid))
    assert no_clip.exit_code == 3 and "has no animation to delete" in no_clip.stderr
    table = (ROOT / "README.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    assert "however it was named" in table


# -- 9: health is not "healthy" when no clip can be made --------------------------------------------


def test_9_health_fails_when_ar_model_cannot_run_here(
    app: App, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagear.generators.cuda_info", lambda: {"cuda": False})
    result = invoke(runner, "health")  # no server, svd without weights
    assert result.exit_code == 6, result.output
    assert "Error: The default model svd (ar_model) cannot run in this process" in result.stderr
    data = json.loads(invoke(runner, "health", "--json").stdout)
    assert data["status"] == "failed" and data["exit_code"] == 6
    assert data["ar_model"] == {"name": "svd", "available": False}
    settings.set_value(app.engine, "ar_model", "kenburns")
    healthy = invoke(runner, "health", "--json")
    assert healthy.exit_code == 0 and json.loads(healthy.stdout)["ar_model"]["available"]


def test_9_health_fails_when_the_server_lacks_ar_model(
    app: App, remote: FakeVideoServer, runner: Any
) -> None:
    assert invoke(runner, "health").exit_code == 0  # the fake server has svd
    settings.set_value(app.engine, "ar_model", "wan-2.1")
    result = invoke(runner, "health")
    assert result.exit_code == 5 and "Error:" in result.stderr and "wan-2.1" in result.stderr


# -- 10: files a web server can read ------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_10_copies_and_clips_get_the_umask_permissions(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, umask: int, mode: int
) -> None:
    source = make_image()
    source.chmod(0o644)
    old = os.umask(umask)
    try:
        oid = int(invoke(runner, "records", "add", str(source)).stdout)
        assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    finally:
        os.umask(old)
    master = records.find_master(app, oid).file
    assert stat.S_IMODE(master.stat().st_mode) == mode
    clips = list(store.record_dir(app.config, oid).iterdir())
    assert len(clips) == 3  # the clip, its poster and preview
    assert {stat.S_IMODE(p.stat().st_mode) for p in clips} == {mode}


# -- 11: the smaller ones ------------------------------------------------------------------------------


def test_11_delete_leaves_no_empty_folder(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    assert invoke(runner, "delete", "--object-id", str(oid)).exit_code == 0
    assert not store.record_dir(app.config, oid).exists()


def test_11_interrupting_a_first_clip_does_not_mention_a_previous_one(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    remote.configure(body_size=50_000_000, chunk_size=256 * 1024, chunk_delay=0.05)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagear", "animate", "--object-id", str(oid)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    folder = store.record_dir(app.config, oid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size > 512 * 1024 for p in folder.glob("*.part")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"previous clip" not in err
    assert f"record {oid} still has no animation".encode() in err


def test_11_records_add_warns_about_an_existing_identifier(
    app: App, make_image: Any, runner: Any
) -> None:
    image = make_image("scan.jpg")
    first = invoke(runner, "records", "add", str(image), "--identifier", "F1-S2-3")
    again = invoke(runner, "records", "add", str(image), "--identifier", "F1-S2-3")
    assert again.exit_code == 0 and again.stdout == first.stdout  # the existing record's id
    assert "Warning:" in again.stderr and "already exists" in again.stderr
    assert "--allow-duplicates" in again.stderr
    assert records.list_records(app)[1] == 1
    forced = invoke(runner, "records", "add", str(image), "--identifier", "F1-S2-3", "--json",
                    "--allow-duplicates")  # fmt: skip
    assert json.loads(forced.stdout)["status"] == "created"
    assert records.list_records(app)[1] == 2


def test_11_config_init_does_not_make_folders_it_was_not_asked_for(
    cli_env: Any, runner: Any, tmp_path: Path
) -> None:
    target = tmp_path / "nonexistent" / "dir" / "imagear.toml"
    result = invoke(runner, "config", "init", "--path", str(target))
    assert result.exit_code == 3 and "does not exist" in result.stderr
    assert not target.parent.exists()
    default = invoke(runner, "config", "init")  # the user config dir is made on first use
    assert default.exit_code == 0, default.output


def test_11_default_user_is_the_login_name(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGEAR_USER")
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)  # cron and systemd units may set none
    shown = json.loads(invoke(runner, "config", "show", "--json").stdout)
    user = next(row for row in shown["keys"] if row["key"] == "user")
    assert user["value"] == pwd.getpwuid(os.getuid()).pw_name


def test_11_a_read_only_command_says_when_it_created_the_database(
    cli_env: Any, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"sqlite:///{tmp_path / 'typo.db'}")
    first = runner.invoke(cli, ["records", "list", "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["total"] == 0
    assert "Note: first use of the database at sqlite:///" in first.stderr
    assert "typo.db" in first.stderr and "database_url" in first.stderr
    again = runner.invoke(cli, ["records", "list"])
    assert again.exit_code == 0 and "Note:" not in again.stderr  # said once


# -- services name options by their option names; the CLI words them (architecture leftover) ------


def test_services_do_not_spell_cli_flags(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    from imagear.animate import AnimateRequest, Animator
    from imagear.batch import BatchOptions
    from imagear.batch.report import NamedSkip, lost_claim_notice
    from imagear.cli.wording import CLI
    from imagear.errors import InvalidOption

    with pytest.raises(InvalidOption, match=r"^limit must be at least 1, not 0\.$") as caught:
        BatchOptions(limit=0)
    assert caught.value.fields == ("limit",)
    with pytest.raises(InvalidOption, match=r"^--max-attempts must be at least 1"):
        BatchOptions(max_attempts=0, wording=CLI)
    assert "raise lease_secs" in lost_claim_notice(3)
    assert "raise --lease-secs" in lost_claim_notice(3, CLI)
    assert "--" not in NamedSkip(5, "has_clip").message + NamedSkip(5, "done_since").message
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
        skipped = animator.animate(AnimateRequest(oid))
        assert skipped.message is not None and skipped.message.endswith("pass force to replace it.")
    cli_skip = invoke(runner, "animate", "--object-id", str(oid))  # the CLI's words, as before
    assert "pass --force to replace it." in cli_skip.stdout
    batch = invoke(runner, "batch", "--object-id", str(oid))
    assert "already has an animation (`--all` re-animates it)" in batch.stdout
