"""A newcomer's walk-through (issue 14), `imagear batch` as cron runs it: its log lines, its dry
run, its errors (the rest of the issue is in tests/test_walkthrough_cli.py).

The waiting-for-retry count is a query of its own, so that test runs on every database
(SQLite, PostgreSQL, MySQL/MariaDB); the others are about wording and run on SQLite.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from batch_fakes import make_records, serve_fixture  # noqa: F401 (the serve fixture)
from imagear import records, settings
from imagear.app import App
from imagear.cli import app as cli
from imagear_models import ObjectImageAr

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def invoke(runner: Any, *args: str, app: App | None = None) -> Any:
    """Run the CLI; ``app``: the App it uses (e.g. one whose retries do not sleep)."""
    obj = {"app": app} if app is not None else None
    return runner.invoke(cli, list(args), obj=obj, catch_exceptions=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("wording: the same on every database, checked once")


# -- 3: generation time and waiting time, named apart ---------------------------------------------


def test_3_log_lines_name_generation_and_waiting_apart(
    sqlite_only: None, app: App, serve: Any, runner: Any, tmp_path: Path
) -> None:
    ids = make_records(app, 3, tmp_path / "in")
    serve(latency=0.4)  # each generation takes a while; the next record waits for the slot
    result = invoke(runner, "batch", "--concurrency", "1")
    assert result.exit_code == 0, result.output
    logged = {}
    for line in lines(result.stdout):
        found = re.match(
            STAMP + r" record (\d+) created in ([\d.]+)s: generation ([\d.]+)s, waited ([\d.]+)s$",
            line,
        )
        if found:
            oid, total, generation, waited = found.groups()
            logged[int(oid)] = (float(total), float(generation), float(waited))
    assert sorted(logged) == ids, result.stdout
    from sqlmodel import Session, select

    with Session(app.engine) as s:
        recorded = {r.object_id: r.generation_secs for r in s.exec(select(ObjectImageAr))}
    for oid, (total, generation, waited) in logged.items():
        assert generation == pytest.approx(recorded[oid], abs=0.006)  # the clip's own time
        assert total >= generation and total >= waited
    assert max(w for _, _, w in logged.values()) > 0.1  # one record did wait for its turn
    data = json.loads(invoke(runner, "batch", "--all", "--json").stdout)
    assert data["exit_code"] == 0 and data["replaced"] == 3


def test_3_failures_carry_both_times_in_json(
    sqlite_only: None, app: App, serve: Any, runner: Any, tmp_path: Path
) -> None:
    make_records(app, 1, tmp_path / "in")
    serve(fail_names={"rec_0000"})
    data = json.loads(invoke(runner, "batch", "--json").stdout)
    (failure,) = data["failures"]
    assert set(failure) >= {"secs", "generation_secs", "wait_secs"}
    assert failure["wait_secs"] >= 0 and failure["secs"] >= failure["wait_secs"]


# -- 4: a dry run runs every pre-flight check --------------------------------------------------------


def test_4_dry_run_stops_where_the_real_run_would(
    sqlite_only: None, app: App, runner: Any, tmp_path: Path
) -> None:
    make_records(app, 2, tmp_path / "in")  # ar_model svd, no server, no weights
    dry = invoke(runner, "batch", "--dry-run")
    real = invoke(runner, "batch")
    assert dry.exit_code == real.exit_code == 6, dry.output
    assert "dry run: the real run would stop before any record" in dry.stderr
    assert "would be animated" not in dry.stdout
    as_json = json.loads(invoke(runner, "batch", "--dry-run", "--json").stdout)
    assert as_json["dry_run"] is True and as_json["kind"] == "EngineUnavailable"
    app.sleep = lambda seconds: None  # the client's retries do not wait
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")  # a server, down
    assert invoke(runner, "batch", "--dry-run", app=app).exit_code == 5
    settings.set_value(app.engine, "ar_server_url", "")
    settings.set_value(app.engine, "ar_model", "kenburns")
    fine = invoke(runner, "batch", "--dry-run")
    assert fine.exit_code == 0 and "2 record(s) would be animated" in fine.stdout


# -- 7: a named record that does not exist is an error with advice ----------------------------------


def test_7_a_missing_named_record_is_an_error_with_advice(
    sqlite_only: None, app: App, serve: Any, runner: Any
) -> None:
    serve()
    result = invoke(runner, "batch", "--object-id", "999")
    assert result.exit_code == 3
    error, advice = lines(result.stderr)
    assert re.match(STAMP + " Error: record 999 does not exist", error), error
    assert advice.strip() == "List records with `imagear records list`."
    data = json.loads(invoke(runner, "batch", "--object-id", "999", "--json").stdout)
    assert data["named"][0]["advice"] == "List records with `imagear records list`."


# -- 11: every line of a cron log has its time; a run with nothing to do says why -------------------


def test_11_the_early_stop_line_has_its_timestamp(
    sqlite_only: None, app: App, runner: Any, tmp_path: Path
) -> None:
    app.sleep = lambda seconds: None  # the client's retries do not wait
    make_records(app, 1, tmp_path / "in")
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")
    result = invoke(runner, "batch", app=app)
    assert result.exit_code == 5
    assert re.match(STAMP + " Error: Cannot reach", lines(result.stderr)[0]), result.stderr


@pytest.mark.all_databases
@pytest.mark.mysql
def test_11_nothing_to_do_says_how_many_wait_and_until_when(
    app: App, serve: Any, runner: Any, tmp_path: Path
) -> None:
    ids = make_records(app, 2, tmp_path / "in")
    serve()
    records.find_master(app, ids[1]).file.write_bytes(b"not an image any more")
    first = invoke(runner, "batch")
    assert first.exit_code == 1, first.output  # one created, one failed: retried later
    again = invoke(runner, "batch")
    assert again.exit_code == 0, again.output
    (line,) = lines(again.stdout)
    assert re.match(
        STAMP + r" Nothing to do: no record needs an animation now; 1 failed record waits "
        r"for a retry, the first at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ",
        line,
    ), line
    data = json.loads(invoke(runner, "batch", "--json").stdout)
    assert data["planned"] == 0 and data["waiting"] == 1 and data["next_retry_at"]
