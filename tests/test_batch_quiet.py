"""`imagear batch --quiet` for cron, records waiting for a retry in the summary, and the list of
records a stopped run gave back.

The runs are real ``python -m imagear batch`` processes (cron's view: stdout and stderr) against
a loopback fake server living in this test process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from batch_fakes import claims_held, make_records, serve_fixture  # noqa: F401 (serve fixture)
from imagear.app import App
from imagear.cli import app as cli
from imagear.db.schema import JOB

SRC = str(Path(__file__).resolve().parents[1] / "src")


def batch(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``imagear batch ARGS`` to the end: (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "imagear", "batch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


def job_rows(app: App) -> dict[int, tuple[str, Any]]:
    """{record id: (status, next_attempt_at)}."""
    with app.engine.connect() as conn:
        rows = conn.execute(select(JOB.c.object_id, JOB.c.status, JOB.c.next_attempt_at))
        return {int(r[0]): (r[1], r[2]) for r in rows}


def test_quiet_prints_nothing_when_there_is_nothing_to_do(
    app: App, serve: Any, cli_env: dict[str, str]
) -> None:
    serve()
    assert batch("--quiet") == (0, "", "")
    code, out, _ = batch()  # without --quiet the same run says so (cron mailed this each run)
    assert code == 0 and "Nothing to do" in out


def test_quiet_prints_nothing_when_all_went_well(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    make_records(app, 3, tmp_path / "in")
    server = serve()
    assert batch("--quiet", "--concurrency", "2") == (0, "", "")
    assert server.requests == 3
    assert {status for status, _ in job_rows(app).values()} == {"done"}


def test_quiet_says_a_failure_and_its_retry_time(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ids = make_records(app, 3, tmp_path / "in")
    serve(fail_names={"rec_0001"})
    code, out, err = batch("--quiet")
    assert code == 1, out + err
    status, retry_at = job_rows(app)[ids[1]]
    assert status == "failed" and retry_at is not None
    from datetime import UTC

    from imagear.cli.batch_text import local_time

    at = local_time(retry_at.replace(tzinfo=UTC) if retry_at.tzinfo is None else retry_at)
    assert f"1 record waits for a retry at {at}" in out, out
    assert "2 done, 0 skipped, 1 failed" in out and f"record {ids[1]} failed" in out
    assert " created in " not in out, out  # no per-record log lines: only the summary
    assert len(out.splitlines()) <= 4, out


def test_a_run_mentions_records_waiting_from_earlier_runs(
    app: App, serve: Any, runner: Any, tmp_path: Path
) -> None:
    """Failing first: the second run said "1 done, 0 skipped, 0 failed" and nothing of the
    record waiting for its retry."""
    ids = make_records(app, 2, tmp_path / "in")
    serve(fail_names={"rec_0000"})
    first = runner.invoke(cli, ["batch", "--limit", "1"])
    assert first.exit_code == 1, first.output
    second = runner.invoke(cli, ["batch"])
    assert second.exit_code == 0, second.output  # nothing failed in this run: exit 0 as before
    assert "1 done, 0 skipped, 0 failed" in second.stdout
    assert "1 record waits for a retry at " in second.stdout, second.stdout
    data = json.loads(runner.invoke(cli, ["batch", "--json"]).stdout)
    assert data["waiting"] == 1 and data["next_retry_at"] is not None
    assert job_rows(app)[ids[0]][0] == "failed"


def test_quiet_refuses_json(app: App, runner: Any) -> None:
    result = runner.invoke(cli, ["batch", "--quiet", "--json"])
    assert result.exit_code == 2, result.output


def stop_mid_run(app: App, server: Any, proc: subprocess.Popen[str]) -> None:
    """SIGTERM once 2 records are at the server (they finish) and the run holds its 4 claims
    (the other 2, prepared or waiting for a slot, are given back): polled, no long sleep."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if server.requests >= 2 and claims_held(app) >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)


def test_sigterm_summary_lists_every_record_given_back(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Failing first: the summary said "6 given back" and listed only the records stopped
    while waiting for a slot (their log lines), not the claims never started."""
    make_records(app, 12, tmp_path / "in")
    server = serve(latency=0.4)
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagear", "batch", "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    stop_mid_run(app, server, proc)
    out, _ = proc.communicate(timeout=30)
    text = out
    assert proc.returncode == 130, text
    said = re.search(r"(\d+) given back", text)
    assert said, text
    listed = re.search(r"given back \(the next run takes them\): ([\d, ]+)", text)
    assert listed, text
    ids = [int(x) for x in listed.group(1).split(",")]
    assert len(ids) == int(said.group(1)) and len(ids) == len(set(ids)), text
    jobs = job_rows(app)
    assert all(jobs[i][0] == "pending" for i in ids), (ids, jobs)
    done = re.search(r"(\d+) done", text)
    assert done and int(done.group(1)) >= 2 and ids, text  # those at the server finished


def test_sigterm_json_gives_the_ids_given_back(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    make_records(app, 12, tmp_path / "in")
    server = serve(latency=0.4)
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagear", "batch", "--concurrency", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stop_mid_run(app, server, proc)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    data = json.loads(out)
    assert data["interrupted"] and data["released"] == len(data["given_back"]) >= 1, data
    jobs = job_rows(app)
    assert all(jobs[i][0] == "pending" for i in data["given_back"]), (data, jobs)
