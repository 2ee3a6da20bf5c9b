"""The batch service (imagear.batch + imagear.db.claims) on SQLite and the real PostgreSQL.

Records get tiny distinct master images; a loopback fake server (tests/batch_fakes.py) answers
a tiny MP4 and counts requests per record (by the uploaded file name).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from batch_fakes import clip_counts, make_records, serve_fixture  # noqa: F401 (the serve fixture)
from imagear import settings
from imagear.app import App
from imagear.batch import (
    BatchEvents,
    BatchOptions,
    BatchRunner,
    ItemResult,
    list_failures,
    read_ids_file,
    reset_failures,
    retry_delay,
)
from imagear.db.jobs import as_utc
from imagear.db.schema import FILES, JOB
from imagear.errors import (
    FeatureDisabled,
    ImageMissing,
    InvalidOption,
    ModelNotAvailable,
    ServerTimeout,
    ServerUnreachable,
    UnknownModel,
    UsageError,
)

pytestmark = pytest.mark.all_databases  # storage semantics: every database


def jobs(app: App) -> dict[int, Any]:
    with app.engine.connect() as conn:
        return {r.object_id: r for r in conn.execute(select(JOB))}


def mp4_files(app: App, oid: int) -> list[Path]:
    folder = Path(app.config.storage_root) / "uploads" / "ar" / str(oid)
    return sorted(folder.glob("*.mp4")) if folder.exists() else []


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def run(app: App, **kw: Any) -> Any:
    kw.setdefault("backoff_secs", 60.0)
    events = kw.pop("events", None)
    return BatchRunner(app, BatchOptions(**kw), events=events).run()


def run_concurrently(n: int, between: Callable[[], None] | None = None, **kw: Any) -> list[Any]:
    """``n`` runners at once, each with its own App (as separate processes would have);
    ``between()`` runs once they are all started. Returns their summaries."""
    summaries: list[Any] = []

    def runner() -> None:
        other = App.load()
        try:
            summaries.append(run(other, **kw))
        finally:
            other.close()

    threads = [threading.Thread(target=runner) for _ in range(n)]
    for t in threads:
        t.start()
    if between is not None:
        between()
    for t in threads:
        t.join(60)
    return summaries


def test_animates_missing_records_once(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 6, tmp_path / "in")
    server = serve()
    summary = run(app, concurrency=3)
    assert summary.exit_code == 0 and summary.count("created") == 6 and summary.planned == 6
    assert set(server.by_name.values()) == {1} and len(server.by_name) == 6
    assert server.health_calls == 1  # one health check per run, not per record
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    assert all(len(mp4_files(app, oid)) == 1 for oid in ids)
    assert {j.status for j in jobs(app).values()} == {"done"}
    again = run(app, concurrency=3)  # nothing missing: no request, no health check
    assert again.exit_code == 0 and again.planned == 0 and server.requests == 6
    assert server.health_calls == 1


def test_two_runners_share_the_work(app: App, serve: Any, tmp_path: Path) -> None:
    """Two runners (separate App instances, as two processes would have) over 50 records."""
    ids = make_records(app, 50, tmp_path / "in")
    both_started = threading.Event()
    server = serve(latency=0.01, max_concurrent=8, hold=both_started)

    def release_both() -> None:
        wait_until(lambda: server.health_calls >= 2)  # both checked the server: both have work
        both_started.set()

    summaries = run_concurrently(2, release_both, concurrency=3)
    assert len(summaries) == 2
    assert sum(s.count("created") for s in summaries) == 50
    assert all(s.exit_code == 0 for s in summaries)
    assert len(server.by_name) == 50 and set(server.by_name.values()) == {1}
    assert len(server.by_hash) == 50 and set(server.by_hash.values()) == {1}
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    assert all(s.count("created") > 0 for s in summaries), "the runners did not interleave"


def test_heartbeat_keeps_claims_alive(app: App, serve: Any, tmp_path: Path) -> None:
    """Requests last 2x the lease: without renewal the other runner would take them over."""
    make_records(app, 6, tmp_path / "in")
    server = serve(latency=1.0)
    summaries = run_concurrently(2, concurrency=2, lease_secs=0.5)
    assert sum(s.count("created") for s in summaries) == 6
    assert set(server.by_name.values()) == {1}
    assert not any(s.reopened for s in summaries)


def test_dead_runner_claims_are_taken_over(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 3, tmp_path / "in")
    server = serve()
    BatchRunner(app, BatchOptions()).store.prepare(BatchRunner(app, BatchOptions()).selection())
    past = datetime.now(UTC) - timedelta(minutes=5)
    future = datetime.now(UTC) + timedelta(hours=1)
    with app.engine.begin() as conn:
        for oid, expires in ((ids[0], past), (ids[1], future)):
            conn.execute(
                update(JOB)
                .where(JOB.c.object_id == oid)
                .values(status="running", claimed_by="deadhost:1", claim_expires_at=expires)
                .values(attempts=1)
            )
    summary = run(app)
    assert summary.reopened == [ids[0]]
    assert {r.object_id for r in summary.results} == {ids[0], ids[2]}  # the live claim is kept
    rows = jobs(app)
    assert rows[ids[0]].status == "done" and rows[ids[1]].status == "running"
    assert rows[ids[1]].claimed_by == "deadhost:1"
    assert server.by_name["rec_0001"] == 0


def retry_wait(app: App, oid: int) -> float:
    """Seconds between a failure being recorded and its retry time."""
    row = jobs(app)[oid]
    return (as_utc(row.next_attempt_at) - as_utc(row.updated_at)).total_seconds()  # type: ignore[operator]


def time_passes(app: App) -> None:
    """Every retry time is now in the past (instead of sleeping through the backoff)."""
    with app.engine.begin() as conn:
        conn.execute(
            update(JOB)
            .where(JOB.c.next_attempt_at.is_not(None))
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_failures_retry_with_backoff_then_give_up(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 3, tmp_path / "in")
    bad = ids[1]
    server = serve(fail_names={"rec_0001"})
    opts: dict[str, Any] = {"max_attempts": 3, "backoff_secs": 100.0, "concurrency": 2}

    first = run(app, **opts)
    assert first.exit_code == 1 and first.count("created") == 2
    [failure] = first.failures
    assert (failure.object_id, failure.outcome, failure.attempts) == (bad, "failed", 1)
    assert failure.error_kind == "ServerError" and "500" in (failure.error or "")
    row = jobs(app)[bad]
    assert row.status == "failed" and row.attempts == 1 and row.last_error_kind == "ServerError"
    assert 99 <= retry_wait(app, bad) <= 101

    not_yet = run(app, **opts)  # backoff not over: nothing to do, exit 0
    assert not_yet.planned == 0 and not_yet.exit_code == 0 and server.by_name["rec_0001"] == 1

    time_passes(app)
    second = run(app, **opts)
    assert [(r.outcome, r.attempts) for r in second.results] == [("failed", 2)]
    assert server.by_name["rec_0001"] == 2
    assert 199 <= retry_wait(app, bad) <= 201  # the backoff doubled
    time_passes(app)
    third = run(app, **opts)
    assert [(r.outcome, r.attempts) for r in third.results] == [("given_up", 3)]
    assert third.exit_code == 1 and third.given_up_total == 1
    [listed] = list_failures(app)
    assert listed.object_id == bad and listed.status == "given_up"
    assert listed.attempts == 3 and listed.error_kind == "ServerError"

    time_passes(app)
    assert run(app, **opts).planned == 0  # given up: no longer retried
    assert reset_failures(app, [bad]) == [bad]
    server.fail_names.clear()
    fixed = run(app, **opts)
    assert fixed.exit_code == 0 and [r.outcome for r in fixed.results] == ["created"]
    assert list_failures(app) == [] and jobs(app)[bad].attempts == 0


def test_a_run_tries_each_record_once(app: App, serve: Any, tmp_path: Path) -> None:
    make_records(app, 2, tmp_path / "in")
    server = serve(fail_names={"rec_0000"})
    summary = run(app, backoff_secs=0.0, concurrency=1)
    assert server.by_name["rec_0000"] == 1 and summary.count("failed") == 1


def test_record_errors_wait_the_cap(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 2, tmp_path / "in")
    serve()
    (Path(app.config.images_root) / "uploads" / "r" / str(ids[0]) / "rec_0000.png").unlink()
    summary = run(app, backoff_secs=1.0, backoff_cap_secs=7200.0)
    [failure] = summary.failures
    assert failure.error_kind == "ImageMissing"
    wait = (failure.retry_at - datetime.now(UTC)).total_seconds()  # type: ignore[operator]
    assert 7000 < wait <= 7200
    assert retry_delay(ImageMissing("x"), 1, 300, 3600) == 3600
    assert retry_delay(ServerTimeout("x"), 3, 300, 3600) == 1200
    assert retry_delay(ServerTimeout("x"), 9, 300, 3600) == 3600


def test_server_down_stops_before_the_first_record(app: App, tmp_path: Path) -> None:
    ids = make_records(app, 2, tmp_path / "in")
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")  # discard port
    with pytest.raises(ServerUnreachable) as caught:  # a pre-flight failure is raised
        run(app)
    assert caught.value.exit_code == 5
    assert jobs(app) == {} and len(ids) == 2  # the pre-flight comes before any job row


def test_a_failed_preflight_of_all_leaves_the_counts_as_they_were(
    app: App, serve: Any, tmp_path: Path
) -> None:
    """`batch --all` whose server is down used to reopen every done record as "pending"
    before its pre-flight failed (issue 25): the batch page then showed all of them to do."""
    make_records(app, 3, tmp_path / "in")
    serve()
    assert run(app).count("created") == 3
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")  # discard port
    with pytest.raises(ServerUnreachable):
        run(app, only_missing=False)
    assert {j.status for j in jobs(app).values()} == {"done"} and len(jobs(app)) == 3


def test_model_not_on_the_server_stops(app: App, serve: Any, tmp_path: Path) -> None:
    make_records(app, 1, tmp_path / "in")
    server = serve(models=("kenburns",))
    with pytest.raises(ModelNotAvailable):
        run(app, model="svd")
    assert server.requests == 0 and jobs(app) == {}  # refused before any job row


def test_invalid_options_stop_before_any_record(app: App, serve: Any, tmp_path: Path) -> None:
    make_records(app, 2, tmp_path / "in")
    server = serve()
    with pytest.raises(InvalidOption) as caught:
        run(app, model="svd", overrides={"num_frames": 99})
    assert caught.value.exit_code == 2
    assert server.requests == 0 and server.health_calls == 0 and jobs(app) == {}


@pytest.mark.parametrize(
    ("kw", "setting", "error"),
    [
        ({}, "ar_enabled", FeatureDisabled),
        ({"model": "nope"}, None, UnknownModel),
    ],
)
def test_preflight_fails_before_any_claim(
    app: App, serve: Any, tmp_path: Path, kw: dict[str, Any], setting: str | None, error: type
) -> None:
    """Feature toggles and the model are checked before any job row is written or claimed
    (a toggle that was off used to claim a record and give it back)."""
    make_records(app, 2, tmp_path / "in")
    server = serve()
    if setting:
        settings.set_value(app.engine, setting, "0")
    with pytest.raises(error):
        run(app, **kw)
    assert jobs(app) == {} and server.requests == 0 and server.health_calls == 0
    with pytest.raises(error):  # also when there is nothing to do
        run(app, object_ids=[99999], **kw)


def test_the_button_toggle_does_not_stop_a_batch(app: App, serve: Any, tmp_path: Path) -> None:
    """Issue 23 item 9: ar_user_button hides the record pages' button; Heratio's artisan
    command ignores it, and so does a batch (cron behind a hidden button)."""
    make_records(app, 2, tmp_path / "in")
    server = serve()
    settings.set_value(app.engine, "ar_user_button", "0")
    summary = run(app)
    assert summary.exit_code == 0 and summary.count("created") == 2
    assert server.requests == 2


def test_named_ids_that_cannot_be_taken_are_explained(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 4, tmp_path / "in")
    server = serve(fail_names={"rec_0001", "rec_0002"})
    with app.engine.begin() as conn:  # ids[3] loses its master image
        conn.execute(delete(FILES).where(FILES.c.object_id == ids[3]))
    first = run(app, object_ids=[ids[2]], max_attempts=2)
    assert first.exit_code == 1 and first.named == []
    time_passes(app)
    second = run(app, object_ids=[ids[2]], max_attempts=2)  # ids[2] is given up now
    assert [r.outcome for r in second.results] == ["given_up"]
    assert run(app, object_ids=[ids[1]], max_attempts=2).count("failed") == 1  # waits now
    server.fail_names.clear()
    summary = run(app, object_ids=[ids[0], 99999, ids[3], ids[1], ids[2]], max_attempts=2)
    assert [(r.object_id, r.outcome) for r in summary.results] == [(ids[0], "created")]
    why = {n.object_id: n for n in summary.named}
    assert {oid: n.reason for oid, n in why.items()} == {
        99999: "missing",
        ids[3]: "no_master",
        ids[1]: "waiting",
        ids[2]: "given_up",
    }
    assert why[99999].message == "record 99999 does not exist"
    assert why[ids[3]].message.startswith(f"record {ids[3]} has no master image")
    waiting = why[ids[1]].message
    assert "waiting until 20" in waiting and "(attempt 1 of 2)" in waiting
    from imagear.cli.batch_text import named_message  # the command line words its way out

    assert f"`imagear batch reset --object-id {ids[1]}` retries now" in named_message(why[ids[1]])
    assert summary.exit_code == 3  # a named record is unknown and nothing else failed
    assert server.requests == 3 + 1
    # only waiting / given up: said, but not an error
    assert run(app, object_ids=[ids[1], ids[2]]).exit_code == 0
    # a failure elsewhere in the run wins: exit 1
    (Path(app.config.images_root) / "uploads" / "r" / str(ids[1])).rename(tmp_path / "gone")
    reset_failures(app, [ids[1]])
    mixed = run(app, object_ids=[ids[1], 99999])
    assert mixed.count("failed") == 1 and mixed.exit_code == 1


def test_run_level_error_mid_run_gives_the_record_back(
    app: App, serve: Any, tmp_path: Path
) -> None:
    ids = make_records(app, 4, tmp_path / "in")
    serve()
    from imagear.animate import Animator

    class Flaky(Animator):
        def animate(self, req: Any) -> Any:
            if req.object_id == ids[1]:
                raise ServerUnreachable("The server went away.")
            return super().animate(req)

    runner = BatchRunner(app, BatchOptions(), animator=Flaky(app))
    summary = runner.run()
    assert summary.exit_code == 5 and isinstance(summary.stopped, ServerUnreachable)
    assert [(r.object_id, r.outcome) for r in summary.results] == [
        (ids[0], "created"),
        (ids[1], "released"),
    ]
    rows = jobs(app)
    assert rows[ids[1]].status == "pending" and rows[ids[1]].attempts == 0
    assert rows[ids[2]].status == "pending" and rows[ids[3]].status == "pending"


def test_stop_finishes_running_and_gives_back_the_rest(
    app: App, serve: Any, tmp_path: Path
) -> None:
    make_records(app, 20, tmp_path / "in")
    server = serve(latency=0.1)

    class StopAfterFirst(BatchEvents):
        runner: BatchRunner

        def item(self, result: ItemResult) -> None:
            self.runner.stop()

    events = StopAfterFirst()
    runner = BatchRunner(app, BatchOptions(concurrency=2), events=events)
    events.runner = runner
    summary = runner.run()
    assert summary.interrupted and summary.exit_code == 130
    created = summary.count("created")
    # those finished when the first was reported and those at the server or past it (each at
    # most the 2 * 2 + 2 workers) finish; the ones waiting for a slot or claimed ahead are
    # given back without being sent
    assert 1 <= created <= 12 and server.requests == created
    assert summary.count("released") + len(summary.released) >= 1
    rows = jobs(app)
    assert not [j for j in rows.values() if j.status == "running"]
    pending = [j for j in rows.values() if j.status == "pending"]
    assert len(pending) == 20 - created
    assert all(j.attempts == 0 for j in pending)


def test_limit_and_ids(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 6, tmp_path / "in")
    server = serve()
    assert sorted(r.object_id for r in run(app, limit=2, concurrency=4).results) == ids[:2]
    picked = run(app, object_ids=[ids[5], ids[0], ids[3]])  # ids[0] is done already
    assert sorted(r.object_id for r in picked.results) == [ids[3], ids[5]]
    assert server.requests == 4


def test_dry_run_changes_nothing(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 3, tmp_path / "in")
    server = serve()
    plan = BatchRunner(app, BatchOptions(limit=2)).plan()
    assert [(p.object_id, p.status) for p in plan] == [(ids[0], "new"), (ids[1], "new")]
    preview = BatchRunner(app, BatchOptions(limit=2, object_ids=[ids[2], ids[0], 404])).preview()
    assert [p.object_id for p in preview.rows] == [ids[0], ids[2]] and preview.total == 2
    assert [(n.object_id, n.reason) for n in preview.named] == [(404, "missing")]
    assert preview.exit_code == 3
    assert BatchRunner(app, BatchOptions(limit=1)).preview().total == 3
    assert jobs(app) == {} and server.requests == 0  # nothing was animated, nothing written
    assert server.health_calls == 2  # but the server was checked, as a real run checks it


def test_limit_must_be_positive() -> None:
    with pytest.raises(UsageError, match="at least 1"):
        BatchOptions(limit=0)


def test_all_reanimates_each_record_once(app: App, serve: Any, tmp_path: Path) -> None:
    ids = make_records(app, 4, tmp_path / "in")
    server = serve()
    assert run(app, concurrency=2).count("created") == 4
    since = datetime.now(UTC)
    redo = run(app, only_missing=False, concurrency=2, since=since)
    assert redo.count("replaced") == 4 and redo.exit_code == 0
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    assert all(len(mp4_files(app, oid)) == 1 for oid in ids)  # the old files were removed
    # a resumed --all run with the same --since does not redo them
    assert run(app, only_missing=False, since=since).planned == 0
    assert server.requests == 8


def test_all_keeps_the_clips_a_curator_approved(app: App, serve: Any, tmp_path: Path) -> None:
    from imagear import review
    from imagear.db import clips as clips_db

    ids = make_records(app, 3, tmp_path / "in")
    server = serve()
    assert run(app).count("created") == 3
    review.approve(app, ids[0], "curator")
    kept = clips_db.rows(app.engine, [ids[0]])
    since = datetime.now(UTC)
    assert BatchRunner(app, BatchOptions(only_missing=False, since=since)).preview().total == 2
    redo = run(app, only_missing=False, since=since)
    assert redo.count("replaced") == 2 and redo.exit_code == 0
    assert clips_db.rows(app.engine, [ids[0]]) == kept  # the approved clip is untouched
    assert review.state(app, ids[0]).state == "approved"  # type: ignore[union-attr]
    # named, it is made again: the verdict was on the clip it replaced
    named = run(app, only_missing=False, object_ids=[ids[0]], since=datetime.now(UTC))
    assert named.count("replaced") == 1
    assert review.state(app, ids[0]) is None and review.approved_ids(app) == set()
    assert server.requests == 6


def test_a_rejected_clip_is_made_again_and_its_verdict_forgotten(
    app: App, serve: Any, tmp_path: Path
) -> None:
    from imagear import review

    ids = make_records(app, 2, tmp_path / "in")
    serve()
    assert run(app).count("created") == 2
    review.reject(app, ids[1], "curator")
    assert mp4_files(app, ids[1]) == []
    assert review.state(app, ids[1]).state == "rejected"  # type: ignore[union-attr]
    again = run(app, backoff_secs=0.0)
    assert again.count("created") == 1 and len(mp4_files(app, ids[1])) == 1
    assert review.state(app, ids[1]) is None


def test_read_ids_file(tmp_path: Path) -> None:
    lines = tmp_path / "ids.txt"
    lines.write_text("# records to redo\n12\n\n7  # this one too\n12\n", encoding="utf-8")
    assert read_ids_file(lines) == [12, 7]
    listed = tmp_path / "ids.json"
    listed.write_text("[3, 1, 2]", encoding="utf-8")
    assert read_ids_file(listed) == [3, 1, 2]
    bad = tmp_path / "bad.txt"
    bad.write_text("1\nabc\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 2"):
        read_ids_file(bad)
