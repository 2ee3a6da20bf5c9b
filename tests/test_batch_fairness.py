"""Batch fairness under faults (issue 21, items 17 and 18).

- A pool server that answers 5xx fast is taken out of rotation (as one that stops answering
  is) and a record it failed is sent to a healthy server without charging an attempt.
- A runner claims no more than it can start soon (concurrency + a small prefetch), and a lost
  runner's claim is charged only when its generation had started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from batch_fakes import (
    claims_held,
    clip_counts,
    leases_expire,
    make_records,
    serve_fixture,  # noqa: F401 (the serve fixture)
)
from fake_server import FakeVideoServer, dead_url, fake
from imagear import settings
from imagear.app import App
from imagear.batch import BatchOptions, BatchRunner
from imagear.batch.runner import CLAIM_AHEAD
from imagear.db.claims import ClaimStore
from imagear.db.jobs import RUNNER_LOST, Selection
from imagear.db.schema import JOB


def jobs(app: App) -> dict[int, Any]:
    with app.engine.connect() as conn:
        return {r.object_id: r for r in conn.execute(select(JOB))}


# -- 17: a server that fails fast --------------------------------------------------------------


def test_a_fast_failing_server_does_not_swallow_the_batch(
    app: App, fakes: list[FakeVideoServer], tmp_path: Path
) -> None:
    # as in the issue: A answers 500 at once, B is slower and healthy, C was killed
    sick = fake(fakes, status=500, error="CUDA error: an illegal memory access")
    healthy = fake(fakes, latency=0.05, health={"queue_size": 1})
    settings.set_value(app.engine, "ar_server_url", sick.url)
    settings.set_value(app.engine, "ar_server_pool", f"{healthy.url} {dead_url()}")
    ids = make_records(app, 12, tmp_path / "in")
    summary = BatchRunner(app, BatchOptions(concurrency=3, backoff_secs=60.0)).run()
    outcomes = [r.outcome for r in summary.results]
    assert outcomes.count("created") == 12, outcomes
    assert summary.exit_code == 0
    # every record done, none charged an attempt for the sick server's answers
    rows = jobs(app)
    assert all(rows[oid].status == "done" for oid in ids)
    assert summary.given_up_total == 0
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    # taken out after a few errors in a row (those in flight at once included)
    assert sick.count <= 6, sick.count


def test_a_record_that_fails_everywhere_still_fails(
    app: App, fakes: list[FakeVideoServer], tmp_path: Path
) -> None:
    a = fake(fakes, status=500)
    b = fake(fakes, status=500)
    settings.set_value(app.engine, "ar_server_url", a.url)
    settings.set_value(app.engine, "ar_server_pool", b.url)
    ids = make_records(app, 2, tmp_path / "in")
    summary = BatchRunner(app, BatchOptions(concurrency=1, backoff_secs=60.0)).run()
    assert [r.outcome for r in summary.results] == ["failed", "failed"]
    assert all(jobs(app)[oid].attempts == 1 for oid in ids)
    assert a.count + b.count <= 4  # each record tried once per server at most


def test_a_sick_server_is_probed_again_later(fakes: list[FakeVideoServer]) -> None:
    from imagear.errors import ServerError
    from imagear.pool import ServerPool

    now = [100.0]
    pool = ServerPool(["http://127.0.0.1:9", "http://127.0.0.1:10"], clock=lambda: now[0])
    try:
        server = pool.servers[0]
        failed = ServerError("The image-to-video server failed (500): boom.")
        for _ in range(2):
            pool.failed(server, failed)
        assert server.up  # two errors: still in rotation
        pool.answered(server)  # an answer in between: the streak starts again
        for _ in range(3):
            pool.failed(server, failed)
        assert not server.up and "kept failing" in (server.error or "")
        first = server.next_probe - now[0]
        assert first > 0
        # back after a probe: on probation, the next error takes it out for longer
        pool._learn(server, _health())
        assert server.up
        pool.failed(server, failed)
        assert not server.up and server.next_probe - now[0] > first
    finally:
        pool.close()


def _health() -> Any:
    from imagear.wire import Health

    return Health(status="ok", extra={})


# -- 18: claims of a lost runner ---------------------------------------------------------------


def _claimed(app: App, n: int, runner: str = "dead:1") -> tuple[ClaimStore, list[int]]:
    store = ClaimStore(app.engine, runner, lease_secs=60, max_attempts=3)
    sel = Selection(only_missing=True, since=None, ids=None)
    store.prepare(sel)
    claims = store.claim(n, sel, None, datetime.now(UTC))
    return store, [c.object_id for c in claims]


@pytest.mark.mysql
def test_a_lost_runners_unstarted_claims_cost_no_attempt(
    app: App, serve: Any, tmp_path: Path
) -> None:
    ids = make_records(app, 4, tmp_path / "in")
    dead, taken = _claimed(app, 4)
    assert taken == ids
    dead.started(ids[0])  # its generation began: that one is charged
    assert leases_expire(app) == 4  # the runner was killed: its leases end
    sweeper = ClaimStore(app.engine, "next:1", lease_secs=60, max_attempts=3)
    assert sweeper.sweep() == ids
    rows = jobs(app)
    assert (rows[ids[0]].status, rows[ids[0]].attempts) == ("pending", 1)
    assert rows[ids[0]].last_error_kind == RUNNER_LOST
    for oid in ids[1:]:
        assert (rows[oid].status, rows[oid].attempts, rows[oid].last_error_kind) == (
            "pending",
            0,
            None,
        )
    # the next run takes them all
    serve()
    summary = BatchRunner(app, BatchOptions(backoff_secs=60.0)).run()
    assert [r.outcome for r in summary.results] == ["created"] * 4
    tries = {r.object_id: r.attempts for r in summary.results}
    assert tries == {ids[0]: 2, ids[1]: 1, ids[2]: 1, ids[3]: 1}


@pytest.mark.mysql
def test_a_lost_runner_that_never_started_keeps_a_failed_records_history(
    app: App, tmp_path: Path
) -> None:
    ids = make_records(app, 1, tmp_path / "in")
    store, _ = _claimed(app, 1)
    store.finish_failed(ids[0], kind="ServerTimeout", message="slow", retry_in=0.0)
    again = ClaimStore(app.engine, "dead:2", lease_secs=60, max_attempts=3)
    sel = Selection(only_missing=True, since=None, ids=None)
    assert [c.attempts for c in again.claim(1, sel, None, datetime.now(UTC))] == [2]
    leases_expire(app)
    assert again.sweep() == ids
    row = jobs(app)[ids[0]]
    assert (row.status, row.attempts, row.last_error_kind) == ("pending", 1, "ServerTimeout")


def test_a_runner_holds_no_more_claims_than_it_can_start_soon(
    app: App, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.batch.animator import GenerationGate

    ids = make_records(app, 20, tmp_path / "in")
    serve(latency=0.05)
    seen: list[int] = []
    marked: list[bool] = []
    lock = threading.Lock()
    enter = GenerationGate.enter

    def watch(self: GenerationGate, object_id: int) -> bool:
        held = claims_held(app)
        got = enter(self, object_id)
        with lock:
            seen.append(held)
        return got

    monkeypatch.setattr(GenerationGate, "enter", watch)
    import imagear.db.claims as claims_mod

    started = claims_mod.ClaimStore.started

    def started_and_seen(self: ClaimStore, object_id: int) -> None:
        started(self, object_id)
        row = jobs(app)[object_id]
        with lock:
            marked.append(row.status == "running" and row.next_attempt_at is not None)

    monkeypatch.setattr(claims_mod.ClaimStore, "started", started_and_seen)
    summary = BatchRunner(app, BatchOptions(concurrency=3, backoff_secs=60.0)).run()
    assert [r.outcome for r in summary.results].count("created") == 20
    assert len(seen) == 20 and max(seen) <= 3 + CLAIM_AHEAD, seen
    assert marked == [True] * 20  # each record marked as generating before it was sent
    assert all(r.status == "done" for r in jobs(app).values()) and len(ids) == 20


@pytest.mark.mysql
def test_kill_9_costs_only_the_records_that_were_generating(
    app: App, serve: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's case end to end: ``imagear batch -j 3`` killed with SIGKILL mid-run."""
    make_records(app, 20, tmp_path / "in")
    serve(latency=0.4)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagear", "batch", "--concurrency", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 30
    while " created " not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert " created " in seen, seen
    proc.kill()
    proc.communicate(timeout=30)
    held = leases_expire(app)
    assert 0 < held <= 3 + CLAIM_AHEAD  # claims it held when it died
    ClaimStore(app.engine, "next:1", lease_secs=60, max_attempts=5).sweep()
    rows = [r for r in jobs(app).values() if r.status != "done"]
    charged = [r for r in rows if r.attempts]
    assert all(r.last_error_kind == RUNNER_LOST for r in charged)
    assert len(charged) <= 3 + CLAIM_AHEAD
    assert all(r.status == "pending" for r in rows)
