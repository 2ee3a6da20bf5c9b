"""`imagear batch` from the command line: exit codes, output, and real concurrent processes.

Runs on SQLite and the real PostgreSQL (``app`` / ``cli_env`` are parametrized over both).
The subprocess tests run ``python -m imagear batch`` against a loopback fake server living in
this test process, and check the database and the server's per-record request counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from batch_fakes import (  # noqa: F401 (the serve fixture)
    clip_counts,
    leases_expire,
    make_records,
    serve_fixture,
)
from imagear.app import App
from imagear.batch import list_failures
from imagear.cli import app as cli
from imagear.db.schema import JOB

pytestmark = pytest.mark.all_databases  # storage semantics: every database

SRC = str(Path(__file__).resolve().parents[1] / "src")


def statuses(app: App) -> dict[str, int]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(JOB.c.status, func.count()).group_by(JOB.c.status))
        return {r[0]: int(r[1]) for r in rows}


def batch_process(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "imagear", "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, lines: list[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"never saw {needle!r} in:\n{''.join(lines)}")


# -- CliRunner ---------------------------------------------------------------------------------


def test_exit_codes_log_lines_and_json(app: App, serve: Any, runner: Any, tmp_path: Path) -> None:
    make_records(app, 3, tmp_path / "in")
    server = serve(fail_names={"rec_0001"})
    result = runner.invoke(cli, ["batch", "--concurrency", "2"])
    assert result.exit_code == 1, result.output
    lines = [
        ln for ln in result.stdout.splitlines() if " record " in ln and "for a retry" not in ln
    ]
    assert len(lines) == 3 + 1  # one per record, plus the failure repeated in the summary
    assert any("record 1 created" in ln and ln[:4].isdigit() and ln.endswith("s") for ln in lines)
    assert "record 2 failed" in result.stdout and "ServerError" in result.stdout
    assert "2 done, 0 skipped, 1 failed, 0 given up" in result.stdout

    again = runner.invoke(cli, ["batch", "--json"])  # the failure waits for its backoff
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["planned"] == 0 and data["failed"] == 0 and data["exit_code"] == 0

    server.close()  # the server goes away: stop before the first record, exit 5
    runner.invoke(cli, ["batch", "reset", "--all-failed"])
    down = runner.invoke(cli, ["batch", "--json"])
    assert down.exit_code == 5, down.output
    failed = json.loads(down.stdout)  # a pre-flight failure prints only the error (as JSON)
    assert failed["status"] == "failed" and failed["exit_code"] == 5
    assert "Error:" in down.stderr and "Cannot reach" in down.stderr
    assert statuses(app) == {"done": 2, "pending": 1}


def test_dry_run_limit_and_ids_file(app: App, serve: Any, runner: Any, tmp_path: Path) -> None:
    ids = make_records(app, 5, tmp_path / "in")
    server = serve()
    dry = runner.invoke(cli, ["batch", "--dry-run", "--limit", "2", "--json"])
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["count"] == 2 and [r["object_id"] for r in plan["records"]] == ids[:2]
    table = runner.invoke(cli, ["batch", "--dry-run"])
    assert "5 record(s) would be animated" in table.stdout
    assert server.requests == 0 and statuses(app) == {}

    id_file = tmp_path / "ids.txt"
    id_file.write_text(f"# two of them\n{ids[3]}\n\n{ids[1]}  # and this\n", encoding="utf-8")
    picked = runner.invoke(cli, ["batch", "--object-ids", str(id_file), "--json"])
    assert picked.exit_code == 0, picked.output
    assert json.loads(picked.stdout)["created"] == 2 and server.requests == 2
    limited = runner.invoke(cli, ["batch", "--limit", "1", "--json"])
    assert json.loads(limited.stdout)["created"] == 1 and set(clip_counts(app)) == {
        ids[0],
        ids[1],
        ids[3],
    }


def test_failures_and_reset(app: App, serve: Any, runner: Any, tmp_path: Path) -> None:
    ids = make_records(app, 2, tmp_path / "in")
    serve(fail_names={"rec_0000"})
    result = runner.invoke(cli, ["batch", "--max-attempts", "1"])
    assert result.exit_code == 1 and "given_up" in result.stdout
    assert "1 record given up in this run and no longer retried" in result.stdout
    assert "given up earlier" not in result.stdout
    listed = runner.invoke(cli, ["batch", "failures", "--json"])
    [row] = json.loads(listed.stdout)["failures"]
    assert row["object_id"] == ids[0] and row["status"] == "given_up" and row["attempts"] == 1
    table = runner.invoke(cli, ["batch", "failures"])
    assert "given up" in table.stdout and "ServerError" in table.stdout
    assert "1 record: 1 given up, 0 waiting for retry." in table.stdout
    # later runs mention earlier give-ups once, without saying they were given up now
    later = runner.invoke(cli, ["batch"])
    assert later.exit_code == 0, later.output
    assert "(1 given up earlier: `imagear batch failures`)" in later.stdout
    assert "in this run" not in later.stdout and "no longer retried" not in later.stdout
    assert runner.invoke(cli, ["batch", "reset"]).exit_code == 2
    assert runner.invoke(cli, ["batch", "reset", "--object-id", str(ids[1])]).exit_code == 3
    reset = runner.invoke(cli, ["batch", "reset", "--object-id", str(ids[0]), "--json"])
    assert json.loads(reset.stdout)["reset"] == [ids[0]]
    assert json.loads(runner.invoke(cli, ["batch", "failures", "--json"]).stdout)["failures"] == []


# -- real processes ----------------------------------------------------------------------------


def test_two_processes_never_animate_a_record_twice(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ids = make_records(app, 50, tmp_path / "in")
    both_started = threading.Event()
    server = serve(latency=0.02, max_concurrent=8, hold=both_started)
    procs = [batch_process("--concurrency", "3", "--json") for _ in range(2)]
    deadline = time.monotonic() + 30
    while server.health_calls < 2 and time.monotonic() < deadline:  # both have claimed work
        time.sleep(0.01)
    both_started.set()
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    summaries = [json.loads(out[out.index("{\n") :]) for out in outputs]
    assert sum(s["created"] for s in summaries) == 50
    assert all(s["created"] > 0 for s in summaries), "the runners did not interleave"
    assert len(server.by_name) == 50 and set(server.by_name.values()) == {1}
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    assert statuses(app) == {"done": 50}


def test_killed_runner_is_picked_up_by_the_next_run(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ids = make_records(app, 8, tmp_path / "in")
    serve(latency=0.3)
    proc = batch_process("--concurrency", "2", "--lease-secs", "1")
    lines: list[str] = []
    wait_for_line(proc, " created ", lines)
    proc.kill()
    proc.wait(10)
    assert statuses(app).get("running", 0) >= 1  # the dead runner's claims are still there
    assert leases_expire(app) >= 1  # their lease runs out (time passes, no sleep)
    follow = batch_process("--concurrency", "4", "--json")
    out, _ = follow.communicate(timeout=60)
    assert follow.returncode == 0, out
    summary = json.loads(out[out.index("{\n") :])
    assert summary["reopened"], out
    assert statuses(app) == {"done": 8}
    assert clip_counts(app) == dict.fromkeys(ids, 1)


def test_sigterm_finishes_running_records_and_exits_130(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    make_records(app, 10, tmp_path / "in")
    server = serve(latency=0.3)
    proc = batch_process("--concurrency", "2")
    lines: list[str] = []
    wait_for_line(proc, " created ", lines)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    text = "".join(lines) + out
    assert proc.returncode == 130, text
    assert "SIGTERM" in text and "Interrupted" in text and " done, " in text
    counts = statuses(app)
    assert "running" not in counts, counts
    assert counts["done"] + counts["pending"] == 10 and counts["pending"] >= 1
    assert counts["done"] == len(clip_counts(app)) == server.requests  # none lost, none twice


def test_preflight_errors_print_only_the_error(
    app: App, serve: Any, runner: Any, tmp_path: Path
) -> None:
    """No summary, no given-up count, no claim: just the error and its exit code."""
    make_records(app, 2, tmp_path / "in")
    server = serve(fail_names={"rec_0000"})
    assert runner.invoke(cli, ["batch", "--max-attempts", "1"]).exit_code == 1  # one given up
    nope = runner.invoke(cli, ["batch", "--model", "nope"])
    assert nope.exit_code == 3, nope.output
    assert "Unknown model 'nope'" in nope.stderr and nope.stdout == ""
    from imagear import settings

    settings.set_value(app.engine, "ar_enabled", "0")
    before = dict(jobs_by_id(app))
    off = runner.invoke(cli, ["batch", "--all"])
    assert off.exit_code == 4, off.output
    assert off.stdout == "" and "turned off (ar_enabled=0)" in off.stderr
    assert jobs_by_id(app) == before  # nothing claimed, nothing given back
    assert server.requests == 2
    helptext = " ".join(runner.invoke(cli, ["batch", "--help"]).stdout.split())
    assert "2 a bad option" in helptext and "3 not found: an unknown --model" in helptext
    assert "4 refused" in helptext


def jobs_by_id(app: App) -> dict[int, tuple[Any, ...]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(JOB.c.object_id, JOB.c.status, JOB.c.attempts, JOB.c.updated_at))
        return {r[0]: tuple(r) for r in rows}


def test_named_ids_are_reported(app: App, serve: Any, runner: Any, tmp_path: Path) -> None:
    ids = make_records(app, 2, tmp_path / "in")
    serve(fail_names={"rec_0001"})
    for args in (["--object-id", "99999"], ["--object-id", "99999", "--dry-run"]):
        result = runner.invoke(cli, ["batch", *args])
        assert result.exit_code == 3, result.output
        assert "Error: record 99999 does not exist" in result.stderr  # with what to do
        assert "`imagear records list`" in result.stderr
        assert "Nothing to do" not in result.stdout and "Nothing would" not in result.stdout
    id_file = tmp_path / "ids.txt"
    id_file.write_text(f"{ids[0]}\n99999\n", encoding="utf-8")
    picked = runner.invoke(cli, ["batch", "--object-ids", str(id_file), "--json"])
    assert picked.exit_code == 3, picked.output  # the valid one is still animated
    data = json.loads(picked.stdout)
    assert data["created"] == 1 and [n["reason"] for n in data["named"]] == ["missing"]
    assert "record 99999 does not exist" in picked.stderr
    assert runner.invoke(cli, ["batch", "--object-id", str(ids[1])]).exit_code == 1
    waiting = runner.invoke(cli, ["batch", "--object-id", str(ids[1])])
    assert waiting.exit_code == 0, waiting.output
    assert f"record {ids[1]} is waiting until " in waiting.stdout
    assert "(attempt 1 of 5)" in waiting.stdout
    assert f"`imagear batch reset --object-id {ids[1]}` retries now" in waiting.stdout
    assert "Nothing to do" not in waiting.stdout


def test_failures_are_readable_at_80_columns(
    app: App, serve: Any, runner: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from imagear.cli._common import console

    make_records(app, 2, tmp_path / "in")
    serve(fail_names={"rec_0000", "rec_0001"})
    runner.invoke(cli, ["batch", "--max-attempts", "1", "--object-id", "1"])
    runner.invoke(cli, ["batch", "--object-id", "2"])
    errors = {r.object_id: r.error for r in list_failures(app)}
    assert len(errors[1]) > 80  # longer than the terminal
    monkeypatch.setattr(console, "_width", 80)
    out = runner.invoke(cli, ["batch", "failures"]).stdout
    lines = out.splitlines()
    assert f"    ServerError: {errors[1]}" in lines and f"    ServerError: {errors[2]}" in lines
    assert any(ln.startswith("record 1") and "given up after 1 attempt" in ln for ln in lines)
    assert any(ln.startswith("record 2") and "next try 20" in ln for ln in lines)
    assert lines[-1].startswith("2 records: 1 given up, 1 waiting for retry.")


def test_limit_and_dry_run_wording(app: App, serve: Any, runner: Any, tmp_path: Path) -> None:
    make_records(app, 5, tmp_path / "in")
    server = serve()
    zero = runner.invoke(cli, ["batch", "--limit", "0"])
    assert zero.exit_code == 2, zero.output
    limited = runner.invoke(cli, ["batch", "--dry-run", "--limit", "2"])
    assert limited.exit_code == 0 and "2 of the 5 record(s) to do (--limit 2)" in limited.stdout
    plan = json.loads(runner.invoke(cli, ["batch", "--dry-run", "--limit", "2", "--json"]).stdout)
    assert plan["count"] == 2 and plan["total"] == 5
    from imagear import settings

    settings.set_value(app.engine, "ar_enabled", "0")
    off = runner.invoke(cli, ["batch", "--dry-run"])
    assert off.exit_code == 4, off.output
    assert "would be refused" in off.stderr and "would be animated" not in off.stdout
    settings.set_value(app.engine, "ar_enabled", "1")
    assert runner.invoke(cli, ["batch"]).exit_code == 0
    empty = runner.invoke(cli, ["batch", "--dry-run"])
    assert empty.exit_code == 0 and empty.stdout.strip() == "Nothing would be animated."
    assert server.requests == 5
