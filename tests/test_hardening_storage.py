"""No input ever becomes a traceback (issue 16): clips, the database, batch runs.

- a clip larger than ``max_clip_mb`` is refused while streaming; the previous clip stays
  (defect 5);
- database errors are one line with advice for the database in use: SQLite's write lock held by
  another process, PostgreSQL backends terminated while a run reads and writes (defects 4, 6);
- a CSV row with a NUL byte or an identifier too long for its column gets the same per-line
  refusal on every database and the rest import (defect 8);
- ``.part`` files of killed runs beside existing clips are swept by the next batch run; with
  more workers than server slots, a request waits its turn (defect 8);
- a batch lease is short and renewed often (defect 9).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from batch_fakes import claims_held, leases_expire
from fake_server import FakeVideoServer, make_mp4_bytes
from imagear import records, settings, store
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.cli import app as cli
from imagear.client import VideoClient
from imagear.errors import BadResponse

pytestmark = pytest.mark.all_databases  # storage semantics: every database

TINY = {"num_frames": 8, "width": 64, "height": 64}


def invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args))


def one_line_error(result: Any, code: int) -> list[str]:
    """The error lines of a failed command: exactly one, plus its advice."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # a batch's log lines, its error line included, start with their time (2026-...Z)
    lines[0] = re.sub(r"^\d{4}-\d\d-\d\dT\S+Z (?=Error: )", "", lines[0])
    assert len(lines) <= 2 and lines[0].startswith("Error: "), result.stderr
    assert "failed unexpectedly" not in result.output and "Traceback" not in result.output
    for sql in ("SELECT ", "INSERT ", "UPDATE ", "[SQL:", "[parameters:"):
        assert sql not in result.output, result.output
    return lines


# -- defect 5: a cap on a downloaded clip --------------------------------------------------------


def test_a_clip_over_max_clip_mb_is_refused_and_the_previous_one_kept(
    app: App,
    remote: FakeVideoServer,
    make_image: Any,
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socketserver

    # the fake server's thread reports the hang-up on this process's stderr: not our output
    monkeypatch.setattr(socketserver.BaseServer, "handle_error", lambda *a: None)
    oid = records.add_record(app, make_image()).id
    first = invoke(runner, "animate", "--object-id", str(oid))
    assert first.exit_code == 0, first.output
    before = sorted(p.name for p in store.record_dir(app.config, oid).iterdir())
    monkeypatch.setenv("IMAGEAR_MAX_CLIP_MB", "1")
    remote.configure(body_size=3 * 1024 * 1024)  # a "clip" of 3 MB
    result = invoke(runner, "animate", "--object-id", str(oid), "--force")
    lines = one_line_error(result, 5)
    assert "limit of 1 MB (max_clip_mb)" in lines[0] and "previous one is kept" in lines[0]
    assert sorted(p.name for p in store.record_dir(app.config, oid).iterdir()) == before


def test_the_cap_holds_while_streaming_a_body_without_a_length(tmp_path: Path) -> None:
    clip = make_mp4_bytes()

    def endless() -> Iterator[bytes]:
        yield clip
        while True:
            yield bytes(64 * 1024)

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    dest = tmp_path / "clip.part"
    with (
        VideoClient("http://gpu-host:5052", transport=transport, max_clip_bytes=512 * 1024) as c,
        pytest.raises(BadResponse, match="sent more than 524,288 bytes"),
    ):
        c.animate(b"jpeg", {}, dest)
    assert not dest.exists()


def test_max_clip_mb_must_be_a_positive_number(cli_env: Any, runner: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("IMAGEAR_MAX_CLIP_MB", "lots")
    result = invoke(runner, "recent")
    assert one_line_error(result, 2)[0].startswith("Error: max_clip_mb in IMAGEAR_MAX_CLIP_MB")
    monkeypatch.setenv("IMAGEAR_MAX_CLIP_MB", "0.5")
    assert invoke(runner, "config", "show", "--json").exit_code == 0


@pytest.mark.parametrize(
    ("value", "ok"), [("0", True), ("5.5", True), ("-1", False), ("nan", False)]
)
def test_upload_whole_mb_takes_0_and_no_negative(
    cli_env: Any, runner: Any, monkeypatch: Any, value: str, ok: bool
) -> None:
    monkeypatch.setenv("IMAGEAR_UPLOAD_WHOLE_MB", value)
    result = invoke(runner, "config", "show", "--json")
    if ok:
        assert result.exit_code == 0, result.output
    else:
        line = one_line_error(result, 2)[0]
        assert line.startswith("Error: upload_whole_mb in IMAGEAR_UPLOAD_WHOLE_MB must be")
        assert "0 or more" in line


# -- defect 6: database errors, one line, advice for the database in use ----------------------


@pytest.fixture
def sqlite_locked(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another process holds the SQLite database's write lock (imagear waits 0.2 s for it)."""
    import imagear.db.engine as db_engine

    if not cli_env["IMAGEAR_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_SECS", 0.2)
    app = App.load()
    app.engine.dispose()  # created, seeded: now lock it
    app.close()
    other = sqlite3.connect(cli_env["IMAGEAR_DATABASE_URL"][len("sqlite:///") :])
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")
    yield
    other.execute("ROLLBACK")
    other.close()


def test_sqlite_write_lock_held_elsewhere_is_one_line_without_server_advice(
    sqlite_locked: None, runner: Any, make_image: Any
) -> None:
    for args in (
        ("settings", "set", "ar_fps", "8"),
        ("records", "add", str(make_image())),
        ("batch", "--model", "kenburns"),
    ):
        lines = one_line_error(invoke(runner, *args), 1)
        assert "database is locked" in lines[0] and len(lines) == 2, lines  # with advice
        assert "server" not in " ".join(lines).lower() and "heratio" not in lines[-1].lower()
        assert "try again" in lines[1], lines


@pytest.mark.postgres
def test_postgres_backends_terminated_mid_run_are_one_line_errors(
    pg_url: str,
    roots: dict[str, Path],
    make_image: Any,
    runner: Any,
    monkeypatch: Any,
    tmp_path: Path,
    c2pa_identity: dict[str, str],
) -> None:
    """A stress run: every 50 ms all of this test's PostgreSQL backends are terminated while
    `imagear animate` reads, generates and commits. Each run succeeds or fails with one line."""
    import psycopg

    from conftest import PG_URL

    name = f"imagear-t-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"{pg_url}&application_name={name}")
    for key, path in roots.items():
        monkeypatch.setenv(f"IMAGEAR_{key.upper()}", str(path))
    for key, value in c2pa_identity.items():  # never the user's own data dir
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    app = App.load()
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_model", "kenburns")
    app.close()
    stop = threading.Event()

    def killer() -> None:
        raw = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(raw, autocommit=True) as conn:
            while not stop.wait(0.05):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                )

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    codes = []
    try:
        for _ in range(12):
            result = invoke(runner, "animate", "--object-id", str(oid), "--force", "--frames", "8")
            codes.append(result.exit_code)
            if result.exit_code:
                one_line_error(result, 1)
    finally:
        stop.set()
        thread.join(5)
    assert set(codes) <= {0, 1}, codes


# -- defect 8: the same per-line refusal on every database --------------------------------------


def test_a_nul_byte_or_a_too_long_identifier_fails_its_line_on_every_database(
    app: App, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    image = make_image("a.jpg")
    path = tmp_path / "import.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["identifier", "title", "digitalObjectPath"])
        out.writerow(["first", "fine", str(image)])
        out.writerow(["x" * 1025, "too long", str(image)])
        out.writerow(["nul\x00id", "nul in the identifier", str(image)])
        out.writerow(["nul-title", "a \x00 title", str(image)])
        out.writerow(["last", "fine", str(image)])
        out.writerow(["long-title", "É" * 1025, str(image)])  # AtoM's title holds 1,024
        out.writerow(["longest-title", "É" * 1024, str(image)])
    result = invoke(runner, "records", "import", str(path))
    assert result.exit_code == 1, result.output
    assert "Imported 3 record(s), 4 row(s) failed." in result.output
    assert "line 7: the title is 1,025 characters long; at most 1,024 fit" in result.output
    assert "line 3: the identifier is 1,025 characters long; at most 1,024 fit" in result.output
    assert "line 4: the identifier contains a NUL character" in result.output
    assert "line 5: the title contains a NUL character" in result.output
    assert "failed unexpectedly" not in result.output
    added = invoke(runner, "records", "add", str(image), "--identifier", "a\x00b")
    assert added.exit_code == 2 and "NUL" in added.output, added.output
    added = invoke(runner, "records", "add", str(image), "--title", "t" * 1025)
    assert added.exit_code == 2 and "the title is 1,025 characters long" in added.output
    listed = invoke(runner, "records", "list", "--json")
    assert (
        sum(len(r["title"]) == 1024 for r in json.loads(listed.stdout)["records"]) == 1
    )  # kept whole


# -- defect 8: .part files beside existing clips; waiting for a turn ---------------------------


def test_a_batch_run_sweeps_dead_parts_beside_existing_clips(
    app: App, make_image: Any, runner: Any
) -> None:
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_model", "kenburns")
    with Animator(app) as animator:
        assert animator.animate(AnimateRequest(oid, overrides=TINY)).status == "created"
    folder = store.record_dir(app.config, oid)
    dead = folder / ".kenburns-dead.mp4.part"  # a killed `batch --all` left it: nobody holds it
    dead.write_bytes(b"half a clip")
    result = invoke(runner, "batch")  # the record has its clip: nothing to animate...
    assert result.exit_code == 0, result.output
    assert not dead.exists()  # ...and the dead .part is gone all the same


def test_more_workers_than_server_slots_wait_their_turn(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    ids = [records.add_record(app, make_image(f"p{i}.jpg")).id for i in range(4)]
    # one slot, 0.4 s per clip, "retry after 0 s": four at once get many busy answers each
    remote.configure(max_concurrent=1, latency=0.4, retry_after=0)
    with Animator(app) as animator, ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda oid: animator.animate(AnimateRequest(oid)), ids))
    assert [o.status for o in outcomes] == ["created"] * 4


# -- defect 9: short leases, renewed often -------------------------------------------------------


def test_batch_leases_are_short_and_renewed_often(app: App) -> None:
    from imagear.batch import BatchOptions, BatchRunner, default_lease_secs
    from imagear.batch.options import heartbeat_secs

    settings.set_value(app.engine, "ar_request_timeout", "3600")
    runner = BatchRunner(app, BatchOptions())
    assert 60 <= runner.store.lease_secs <= 120  # a killed runner's records wait 2 min at most
    assert default_lease_secs() == runner.store.lease_secs
    assert heartbeat_secs(runner.store.lease_secs) <= 20
    assert heartbeat_secs(0.5) < 0.5 / 3  # several renewals per lease, however short


def test_a_live_runner_keeps_its_claims_past_the_lease(app: App, make_image: Any) -> None:
    """Renewed while a slow generation runs: no other runner takes the record meanwhile."""
    from imagear.batch import BatchOptions, BatchRunner

    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_model", "kenburns")
    started, release = threading.Event(), threading.Event()

    class Slow(Animator):
        def animate(self, req: AnimateRequest) -> Any:
            started.set()
            release.wait(10)
            return super().animate(AnimateRequest(req.object_id, overrides=TINY, force=True))

    first = BatchRunner(app, BatchOptions(lease_secs=0.6), animator=Slow(app))
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(first.run)
        assert started.wait(10)
        # the lease runs out (time passes, no sleep): only the heartbeat brings the claim back
        assert leases_expire(app) == 1 and claims_held(app) == 0
        deadline = time.monotonic() + 10
        while claims_held(app) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert claims_held(app) == 1, "the heartbeat did not renew the claim"
        other = BatchRunner(App.load(), BatchOptions(lease_secs=0.6)).run()
        release.set()
        summary = done.result(30)
    assert summary.exit_code == 0 and other.planned == 0, (summary.report(), other.report())
    assert os.path.isdir(store.record_dir(app.config, oid))
