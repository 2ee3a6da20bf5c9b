"""How the batch is getting on (imagear.batch.progress, `imagear batch status`, the web
console's /batch page), read from image_ar_job on every database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from batch_fakes import make_records, serve_fixture  # noqa: F401 (the serve fixture)
from imagear.app import App
from imagear.batch import BatchOptions, BatchRunner, progress
from imagear.cli import app as cli
from imagear.db.schema import JOB
from imagear.domain import JobCounts, json_object

pytestmark = pytest.mark.all_databases  # storage semantics: every database


def run(app: App, **kw: Any) -> Any:
    return BatchRunner(app, BatchOptions(backoff_secs=600.0, **kw)).run()


def set_job(app: App, oid: int, **values: Any) -> None:
    with app.engine.begin() as conn:
        conn.execute(update(JOB).where(JOB.c.object_id == oid).values(**values))


@pytest.fixture
def worked(app: App, serve: Any, tmp_path: Path) -> list[int]:
    """Eight records: seven done by real runs, one pending; then of the done ones one is made
    a held claim, one an expired claim (its runner died) and one a failure waiting to retry."""
    ids = make_records(app, 8, tmp_path / "in")
    serve()
    assert run(app, limit=6).count("created") == 6
    run(app, limit=1, object_ids=[ids[6]])  # a seventh record, done last
    BatchRunner(app, BatchOptions()).store.prepare(BatchRunner(app, BatchOptions()).selection())
    now = datetime.now(UTC)
    set_job(
        app,
        ids[4],
        status="running",
        claimed_by="host-a:1",
        attempts=1,
        updated_at=now - timedelta(seconds=90),
        claim_expires_at=now + timedelta(minutes=2),
    )
    set_job(
        app,
        ids[5],
        status="running",
        claimed_by="host-b:2",
        attempts=2,
        updated_at=now - timedelta(minutes=9),
        claim_expires_at=now - timedelta(minutes=1),
    )
    set_job(
        app,
        ids[3],
        status="failed",
        attempts=1,
        last_error="boom",
        last_error_kind="server",
        next_attempt_at=now + timedelta(minutes=30),
        finished_at=None,
    )
    for oid, ago in ((ids[0], 60), (ids[1], 45), (ids[2], 30), (ids[6], 15)):
        set_job(app, oid, finished_at=now - timedelta(seconds=ago))
    return ids


def test_the_snapshot_counts_claims_rate_and_time_left(app: App, worked: list[int]) -> None:
    p = progress(app)
    assert p.counts == JobCounts(pending=1, running=2, done=4, failed=1, given_up=0)
    assert p.total == 8 and p.to_do == 4
    running = {c.object_id: c for c in p.running}
    assert running[worked[4]].runner == "host-a:1" and not running[worked[4]].expired
    assert running[worked[5]].expired and p.active
    # four finished 60, 45, 30 and 15 s ago and a runner is at work: 3 intervals over 60 s
    assert p.done_last_10_min == 4 and p.per_minute == pytest.approx(3.0, rel=0.05)
    assert p.eta_secs == pytest.approx(60.0, abs=3)  # 1 pending + 2 running at 3 a minute
    assert [d.object_id for d in p.last_done][0] == worked[6]  # newest first
    assert p.next_retry_at is not None and p.next_retry_at > datetime.now(UTC)
    data = json_object(p)
    assert data["counts"] == {"pending": 1, "running": 2, "done": 4, "failed": 1, "given_up": 0}
    assert 57 <= data["eta_secs"] <= 63 and json.dumps(data)
    assert list(data) == [
        "now", "counts", "total", "to_do", "active", "running", "done_last_10_min",
        "done_last_hour", "per_minute", "eta_secs", "last_done", "next_retry_at",
    ]  # fmt: skip
    assert datetime.fromisoformat(str(data["now"])).utcoffset() is not None


def test_no_batch_yet(app: App) -> None:
    p = progress(app)
    assert (p.total, p.running, p.eta_secs, p.active) == (0, [], None, False)


def test_cli_status_text_and_json(app: App, worked: list[int], runner: Any) -> None:
    result = runner.invoke(cli, ["batch", "status"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Batch: 4 of 8 records done (50.0%)." in out
    counts = [line.split(None, 1) for line in out.splitlines()[1:6]]
    assert counts == [
        ["1", "pending"],
        ["2", "running"],
        ["4", "done"],
        ["1", "failed (retried later)"],
        ["0", "given up"],
    ]
    assert "Rate: 3.0 records/min over the last 4 records; about " in out
    assert f"record {worked[4]}  host-a:1  for 1 min, attempt 1\n" in out
    assert f"record {worked[5]}  host-b:2  for 9 min, attempt 2; claim EXPIRED" in out
    assert "Next retry of a failed record:" in out
    data = json.loads(runner.invoke(cli, ["batch", "status", "--json"]).output)
    assert data["counts"]["done"] == 4 and data["to_do"] == 4 and len(data["running"]) == 2


def test_cli_status_before_any_batch(app: App, runner: Any) -> None:
    result = runner.invoke(cli, ["batch", "status"])
    assert result.exit_code == 0 and "No batch has run on this database yet" in result.output


def test_the_web_page_and_its_json(app: App, worked: list[int]) -> None:
    pytest.importorskip("fastapi")
    from web_helpers import bearer, client

    c = client(app)
    page = c.get("/batch", headers=bearer())  # the failures' errors: to an admin only
    assert page.status_code == 200
    assert 'id="batch-done">4<' in page.text and 'id="batch-total">8<' in page.text
    assert (
        f'href="/records/{worked[4]}"' in page.text and "expired: the runner is gone" in page.text
    )
    assert "boom" in page.text  # the failures list
    assert "+00:00<" not in page.text  # times shown as 2026-11-28 19:56:58Z (then local)
    data = c.get("/batch.json").json()
    assert data["counts"]["running"] == 2 and data["last_done"][0]["object_id"] == worked[6]
    assert '<time class="muted" datetime="20' in page.text  # shown local by the script


def test_the_web_retry_failures_button(app: App, worked: list[int]) -> None:
    pytest.importorskip("fastapi")
    from web_helpers import bearer, client

    c = client(app)
    assert 'id="retry-failures"' not in c.get("/batch").text  # a guest has no such button
    assert c.post("/batch/retry").status_code == 401
    page = c.get("/batch", headers=bearer())
    assert "Retry the 1 failure" in page.text
    done = c.post("/batch/retry", headers=bearer(), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/batch?retried=1"
    assert progress(app).counts.failed == 0 and progress(app).counts.pending == 2
    after = c.get("/batch?retried=1", headers=bearer()).text
    assert "1 failure will be tried again" in after and 'id="retry-failures"' not in after


HOSTILE_RUNNER = "<script>alert(1)</script>[red]x[/red]"
HOSTILE_ERROR = '<img src=x onerror="alert(2)">'


def test_hostile_text_is_shown_not_run(app: App, worked: list[int], runner: Any) -> None:
    """A runner name and an error message come from other hosts and servers: the page escapes
    them, the command shows them as they are (never read as Rich markup)."""
    pytest.importorskip("fastapi")
    from web_helpers import bearer, client

    set_job(app, worked[4], claimed_by=HOSTILE_RUNNER)
    set_job(app, worked[3], last_error=HOSTILE_ERROR)
    page = client(app).get("/batch", headers=bearer()).text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    out = runner.invoke(cli, ["batch", "status"]).output
    assert HOSTILE_RUNNER in out


# -- the rate over the run's actual window (issue 25's numbers), with an injected clock -------

T0 = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)


def snap(now: datetime, first: float, last: float, done: int, active: bool, **counts: int) -> Any:
    from imagear.db.progress import Snapshot
    from imagear.domain import RunningClaim

    claims = [RunningClaim(1, "h:1", 1, now, now + timedelta(minutes=5))] if active else []
    window = (T0 + timedelta(seconds=first), T0 + timedelta(seconds=last)) if done else None
    return Snapshot(now, {"done": done, **counts}, claims, done, done, [], None, window)


def test_eight_records_in_29_s_are_about_16_a_minute_not_0_8() -> None:
    from imagear.batch.progress import progress_of

    # a run started at T0 finished its eight records 3.6 s apart, the last at 29 s; now 29.5 s
    p = progress_of(snap(T0 + timedelta(seconds=29.5), 3.6, 29.0, 8, True, pending=16))
    assert p.per_minute == pytest.approx(60 * 7 / 25.9, rel=0.01)  # ~16.2, not 0.8
    assert p.eta_secs == pytest.approx(16 / p.per_minute * 60, abs=1)  # ~59 s, not 25 min


def test_nothing_pending_or_no_run_going_is_no_time_left() -> None:
    from imagear.batch.progress import progress_of

    # one failure waiting for its retry time, nothing pending: no "about 46 s left"
    p = progress_of(snap(T0 + timedelta(seconds=40), 0, 30, 5, True, failed=1))
    assert p.eta_secs is None and p.per_minute > 0
    # a 12 s run that ended: its rate over its 12 s, and no time left (no runner at work)
    p = progress_of(snap(T0 + timedelta(minutes=8), 0, 12, 3, False, pending=100))
    assert p.per_minute == pytest.approx(10.0) and p.eta_secs is None  # not "5 h 40 min"
    # one record finished: no rate yet
    assert progress_of(snap(T0 + timedelta(seconds=9), 3, 3, 1, True, pending=4)).eta_secs is None
