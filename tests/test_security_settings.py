"""Issue 21, items 8, 13, 15 and 16: non-finite numbers, failures paged in SQL, crashes on odd
input (NUL in config paths, malformed job times, huge searches, the first torch import), and
the smaller items (exit codes, what a config path is, passwords in settings output)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from imagear.cli import app as cli


def invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args))


# -- 8. nan and inf never switch the quality gate off -------------------------------------------

NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "-nan"]


@pytest.mark.parametrize("value", NON_FINITE)
def test_settings_set_refuses_non_finite_numbers(cli_env: Any, runner: Any, value: str) -> None:
    before = json.loads(invoke(runner, "settings", "list", "--json").stdout)
    r = invoke(runner, "settings", "set", "ar_quality_min_brightness", "--", value)
    assert r.exit_code == 2, r.output
    assert "ar_quality_min_brightness must be a number in 0..255" in r.output
    assert json.loads(invoke(runner, "settings", "list", "--json").stdout) == before


def test_every_number_setting_refuses_nan() -> None:
    from imagear.errors import InvalidSetting
    from imagear.settings_spec import SPECS

    for spec in SPECS.values():
        if spec.type in ("integer", "decimal"):
            for value in NON_FINITE:
                with pytest.raises(InvalidSetting):
                    spec.parse(value)


@pytest.mark.all_databases
def test_a_nan_already_stored_does_not_switch_the_gate_off(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Heratio (or an old imagear) wrote 'nan': read as invalid (warned), the default applies."""
    from imagear import settings
    from imagear.db import settings as rows_db

    settings._WARNED.clear()  # warned once per process: this database's turn
    for key in ("ar_quality_min_brightness", "ar_quality_min_contrast", "ar_quality_min_motion"):
        rows_db.write(app.engine, key, "nan", "decimal", "")
    rows_db.write(app.engine, "ar_quality_min_resemblance", "inf", "decimal", "")
    values = settings.get_all(app.engine)
    assert values.ar_quality_min_brightness == 10.0
    assert values.ar_quality_min_contrast == 2.0
    assert values.ar_quality_min_motion == 1.0
    assert values.ar_quality_min_resemblance == 0.5
    assert "The stored ar_quality_min_brightness ('nan') is not valid" in caplog.text


def test_the_web_form_refuses_nan_by_its_field(app: Any, make_image: Any) -> None:
    pytest.importorskip("fastapi")
    from imagear import settings
    from web_helpers import TOKEN, client

    c = client(app)
    r = c.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    found = re.search(r'name="csrf" value="([^"]+)"', c.get("/admin/image-ar/settings").text)
    assert found
    bad = c.post(
        "/admin/image-ar/settings",
        data={"csrf": found.group(1), "ar_quality_min_brightness": "nan"},
    )
    assert bad.status_code == 400 and "ar_quality_min_brightness must be a number" in bad.text
    assert settings.get(app.engine, "ar_quality_min_brightness") == 10.0


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_serve_refuses_non_finite_gate_thresholds(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    pytest.importorskip("fastapi")
    from imagear.server import run as server_run

    started: list[Any] = []
    monkeypatch.setattr(server_run, "serve", lambda *a, **k: started.append(a))
    for flag in ("--min-brightness", "--min-contrast", "--min-motion", "--min-resemblance"):
        r = invoke(runner, "serve", "--model", "kenburns", "--port", "1", f"{flag}={value}")
        assert r.exit_code == 2, (flag, r.output)
        assert flag in r.output
    assert started == []


@pytest.mark.parametrize("value", ["nan", "inf", "-nan"])
@pytest.mark.parametrize(
    "args",
    [
        ("batch", "--dry-run", "--backoff-secs"),
        ("batch", "--dry-run", "--lease-secs"),
        ("batch", "--dry-run", "--backoff-cap-secs"),
        ("serve", "--port", "1", "--max-upload-mb"),
    ],
)
def test_every_float_option_refuses_non_finite_numbers(
    cli_env: Any, runner: Any, value: str, args: tuple[str, ...]
) -> None:
    """nan passes click's range checks: every float option refuses it (and infinities) itself
    (imagear.cli._help), before anything runs."""
    r = invoke(runner, *args, value)
    assert r.exit_code == 2, (args, r.output)
    assert args[-1] in r.output
    assert "not a finite number" in r.output or "is not in the range" in r.output


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_clip_mb", "nan"), ("max_clip_mb", "inf"), ("heratio_user_id", "nan")],
)
def test_config_numbers_refuse_non_finite(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    monkeypatch.setenv(f"IMAGEAR_{key.upper()}", value)
    r = invoke(runner, "config", "show")
    assert r.exit_code == 2, r.output
    assert key in r.output and "Traceback" not in r.output


def test_config_file_numbers_refuse_toml_nan(cli_env: Any, runner: Any, tmp_path: Path) -> None:
    conf = tmp_path / "nan.toml"
    conf.write_text("max_clip_mb = nan\n", encoding="utf-8")
    r = invoke(runner, "--config", str(conf), "config", "show")
    assert r.exit_code == 2, r.output
    assert "max_clip_mb" in r.output


# -- 16. smaller: exit codes, what a config path is, passwords in settings output ----------------


def test_check_on_a_missing_record_exits_3(cli_env: Any, runner: Any) -> None:
    r = invoke(runner, "check", "--object-id", "999999")
    assert r.exit_code == 3, r.output
    assert "record 999999: -: the record does not exist" in r.stdout
    r = invoke(runner, "check", "--object-id", "999999", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["failed"] == 1


def test_a_config_path_that_is_a_folder_or_a_fifo_says_what_it_is(
    cli_env: Any, runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    folder = tmp_path / "conf.d"
    folder.mkdir()
    r = invoke(runner, "--config", str(folder), "config", "show")
    assert r.exit_code == 2 and "is a folder, not a file" in r.output, r.output
    assert "does not exist" not in r.output
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    r = invoke(runner, "--config", str(fifo), "config", "show")
    assert r.exit_code == 2 and "is not a regular file" in r.output, r.output
    monkeypatch.setenv("IMAGEAR_CONFIG", str(folder))
    r = invoke(runner, "config", "show")
    assert r.exit_code == 2 and "is a folder, not a file" in r.output, r.output
    monkeypatch.setenv("IMAGEAR_CONFIG", str(tmp_path / "nowhere.toml"))
    r = invoke(runner, "config", "show")
    assert r.exit_code == 2 and "does not exist" in r.output, r.output


def test_settings_get_and_list_never_show_the_server_password(cli_env: Any, runner: Any) -> None:
    from imagear import settings
    from imagear.app import App

    url = "http://bob:s3cret@gpu.invalid:5052"
    assert invoke(runner, "settings", "set", "ar_server_url", url).exit_code == 0
    for args in (
        ("settings", "get", "ar_server_url"),
        ("settings", "get", "ar_server_url", "--json"),
        ("settings", "list"),
        ("settings", "list", "--json"),
    ):
        r = invoke(runner, *args)
        assert r.exit_code == 0 and "s3cret" not in r.output, (args, r.output)
        assert "bob:***@gpu.invalid" in r.output.replace("\n", ""), (args, r.output)
    r = invoke(runner, "settings", "set", "ar_server_pool", f"{url} http://x:pw@b.invalid:1")
    assert r.exit_code == 0 and "s3cret" not in r.output and "pw@" not in r.output
    assert "pw@" not in invoke(runner, "settings", "get", "ar_server_pool").output
    a = App.load()
    try:
        assert settings.get(a.engine, "ar_server_url") == url  # the stored value is kept
    finally:
        a.close()


# -- 15. crashes on odd input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("storage_root", "/tmp/a\\u0000b"),
        ("images_root", "/tmp/a\\u0000b"),
        ("models_dir", "/tmp/a\\u0000b"),
        ("database_url", "sqlite:////tmp/a\\u0000b.db"),
        ("server_token", "tok\\u0000en"),
        ("user", "a\\u0000b"),
    ],
)
@pytest.mark.parametrize("command", [("config", "show"), ("check", "--all"), ("records", "list")])
def test_a_nul_in_a_config_value_is_one_line_exit_2(
    cli_env: Any,
    runner: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    value: str,
    command: tuple[str, ...],
) -> None:
    monkeypatch.delenv(f"IMAGEAR_{key.upper()}", raising=False)
    conf = tmp_path / "nul.toml"
    conf.write_text(f'{key} = "{value}"\n', encoding="utf-8")
    r = invoke(runner, "--config", str(conf), *command)
    assert r.exit_code == 2, r.output
    assert f"{key} in {conf}" in r.output and "NUL" in r.output
    assert "unexpectedly" not in r.output and "Traceback" not in r.output


def test_a_nul_in_the_config_path_itself_is_one_line_exit_2(cli_env: Any, runner: Any) -> None:
    r = invoke(runner, "--config", "imagear\x00.toml", "config", "show")
    assert r.exit_code == 2 and "contains a NUL character" in r.output, r.output


def _bad_job_times(app: Any, ids: list[int], value: str) -> None:
    """Job rows whose times another tool wrote badly (a failed, a running and a done row)."""
    from sqlalchemy import text

    with app.engine.begin() as conn:
        if app.engine.dialect.name in ("mysql", "mariadb"):
            conn.execute(text("SET SESSION sql_mode = ''"))  # let the zero date in
        for oid, status in zip(ids, ("failed", "running", "done"), strict=False):
            conn.execute(
                text(
                    "INSERT INTO image_ar_job (object_id, status, claimed_by, attempts, "
                    "last_error, last_error_kind, next_attempt_at, finished_at, "
                    "claim_expires_at, updated_at) VALUES (:oid, :status, 'host-1', 1, 'boom', "
                    "'server', :bad, :bad, :bad, :bad)"
                ),
                {"oid": oid, "status": status, "bad": value},
            )


@pytest.mark.all_databases
@pytest.mark.mysql
@pytest.mark.parametrize("value", ["0000-00-00 00:00:00", "garbage"])
def test_malformed_job_times_are_unknown_not_a_crash(
    app: Any, make_image: Any, runner: Any, db_backend: str, value: str
) -> None:
    pytest.importorskip("fastapi")
    if db_backend == "postgresql":
        pytest.skip("PostgreSQL's timestamptz holds no malformed time")
    if db_backend != "sqlite" and value == "garbage":
        pytest.skip("MySQL/MariaDB's DATETIME turns text into the zero date")
    from web_helpers import add_records, bearer, client

    ids = add_records(app, make_image, 3, animated=0)
    _bad_job_times(app, ids, value)
    c = client(app)
    for path in ("/", "/?status=failed", "/batch", "/batch.json"):
        assert c.get(path).status_code == 200, path
    assert c.get("/admin/image-ar/settings", headers=bearer()).status_code == 200
    r = invoke(runner, "batch", "failures")
    assert r.exit_code == 0 and "unexpectedly" not in r.output, r.output
    assert f"{ids[0]}" in r.output
    r = invoke(runner, "batch", "failures", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    rows = data["failures"] if isinstance(data, dict) else data
    assert rows[0]["object_id"] == ids[0] and rows[0]["next_attempt_at"] is None
    r = invoke(runner, "batch", "status")
    assert r.exit_code == 0 and "unexpectedly" not in r.output, r.output


@pytest.mark.all_databases
@pytest.mark.mysql
def test_a_huge_search_is_a_page_not_a_500(app: Any, make_image: Any) -> None:
    pytest.importorskip("fastapi")
    from web_helpers import add_records, client

    add_records(app, make_image, 2, animated=0)
    c = client(app)
    for q in ("x" * 60_000, "%_" * 10_000, "Harbour\x00view", "Harbour view 1" + " " * 50_000):
        r = c.get("/", params={"q": q})
        assert r.status_code == 200, (len(q), r.status_code)
    found = c.get("/", params={"q": "Harbour view 1" + "z" * 300})
    assert found.status_code == 200
    assert "REC-001" in c.get("/", params={"q": "Harbour view 1"}).text


def test_concurrent_first_health_reports_wait_for_one_torch_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two first loads of the admin page at once: the second must not see the half-imported
    torch of the first ("partially initialized module 'torch'") and report no CUDA."""
    import importlib.abc
    import importlib.machinery
    import sys
    import threading
    import time
    import types

    from imagear.engines import runtime

    started = threading.Event()

    class SlowTorch(importlib.abc.Loader):
        def create_module(self, spec: Any) -> None:
            return None

        def exec_module(self, module: types.ModuleType) -> None:
            started.set()
            time.sleep(0.3)  # torch takes seconds; its module is in sys.modules meanwhile
            cuda = types.SimpleNamespace(
                is_available=lambda: True,
                current_device=lambda: 0,
                mem_get_info=lambda i: (2 * 1024**3, 4 * 1024**3),
                get_device_name=lambda i: "Fake GPU",
            )
            module.cuda = cuda  # type: ignore[attr-defined]

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name == "torch":
                return importlib.machinery.ModuleSpec("torch", SlowTorch())
            return None

    real = sys.modules.pop("torch", None)
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    results: dict[str, Any] = {}
    try:
        first = threading.Thread(target=lambda: results.update(a=runtime.device_info(True)))
        first.start()
        assert started.wait(5)
        results["b"] = runtime.device_info(True)
        first.join(5)
    finally:
        sys.modules.pop("torch", None)
        if real is not None:
            sys.modules["torch"] = real
    assert (
        results["a"]
        == results["b"]
        == {
            "cuda": True,
            "device": "Fake GPU",
            "vram_total_gb": 4.0,
            "vram_free_gb": 2.0,
        }
    )


# -- 13. failures are paged in SQL; guests see their counts -------------------------------------


def _failure_rows(app: Any, n: int, given_up_every: int = 3) -> None:
    """``n`` failure rows (every ``given_up_every``-th given up, the rest failed), no records."""
    from datetime import UTC, datetime, timedelta

    from imagear.db.schema import JOB

    later = datetime.now(UTC) + timedelta(hours=1)
    rows = [
        {
            "object_id": oid,
            "status": "given_up" if oid % given_up_every == 0 else "failed",
            "attempts": 3,
            "last_error": f"secret-host-{oid} refused",
            "last_error_kind": "server",
            "next_attempt_at": None if oid % given_up_every == 0 else later,
            "updated_at": datetime.now(UTC),
        }
        for oid in range(1, n + 1)
    ]
    with app.engine.begin() as conn:
        conn.execute(JOB.insert(), rows)


@pytest.mark.all_databases
@pytest.mark.mysql
def test_failures_are_paged_in_sql_given_up_first(app: Any) -> None:
    from imagear.batch import failure_page, list_failures

    _failure_rows(app, 10)  # given up: 3, 6, 9; failed: the rest
    everything = [f.object_id for f in list_failures(app)]
    assert everything == [3, 6, 9, 1, 2, 4, 5, 7, 8, 10]
    seen = []
    for offset in range(0, 10, 4):
        page = failure_page(app, 4, offset)
        assert (page.total, page.given_up, page.waiting) == (10, 3, 7)
        assert page.more == max(0, 10 - offset - 4)
        seen += [f.object_id for f in page.failures]
    assert seen == everything
    assert failure_page(app, 4, 50).failures == []


def test_batch_failures_shows_a_page_and_says_how_many_more(
    app: Any, cli_env: Any, runner: Any
) -> None:
    _failure_rows(app, 120)
    r = invoke(runner, "batch", "failures")
    assert r.exit_code == 0, r.output
    heads = [ln for ln in r.stdout.splitlines() if ln.startswith("record ")]
    assert len(heads) == 50 and heads[0].startswith("record 3:")
    assert "... and 70 more: `--offset 50` shows the next 50" in r.stdout
    assert "120 records: 40 given up, 80 waiting for retry." in r.stdout
    r = invoke(runner, "batch", "failures", "--limit", "5", "--offset", "118")
    heads = [ln for ln in r.stdout.splitlines() if ln.startswith("record ")]
    assert [h.split(":")[0] for h in heads] == ["record 118", "record 119"]
    assert "more:" not in r.stdout
    everything = invoke(runner, "batch", "failures", "--limit", "0")
    assert len([ln for ln in everything.stdout.splitlines() if ln.startswith("record ")]) == 120
    data = json.loads(invoke(runner, "batch", "failures", "--json", "--limit", "7").stdout)
    assert (data["total"], data["given_up"], data["waiting"], data["more"]) == (120, 40, 80, 113)
    assert (data["offset"], data["limit"]) == (0, 7) and len(data["failures"]) == 7
    assert data["failures"][0]["object_id"] == 3
    assert invoke(runner, "batch", "failures", "--limit", "-1").exit_code == 2


def test_the_batch_page_shows_guests_counts_and_admins_a_page(app: Any) -> None:
    pytest.importorskip("fastapi")
    from web_helpers import bearer, client

    _failure_rows(app, 250)
    c = client(app)
    guest = c.get("/batch")
    assert guest.status_code == 200
    assert "secret-host" not in guest.text and "(250)" in guest.text
    assert 'id="failures-signin"' in guest.text
    admin = c.get("/batch", headers=bearer())
    assert admin.text.count("secret-host-") == 100 and "secret-host-3 " in admin.text
    assert "fpage=2" in admin.text and "150 more" in admin.text
    last = c.get("/batch?fpage=3", headers=bearer())
    assert last.text.count("secret-host-") == 50 and "fpage=2" in last.text
    beyond = c.get("/batch?fpage=99", headers=bearer())
    assert beyond.status_code == 200 and "None on this page" in beyond.text
    settings_page = c.get("/admin/image-ar/settings", headers=bearer())
    assert settings_page.text.count("secret-host-") == 50 and "200 more" in settings_page.text
