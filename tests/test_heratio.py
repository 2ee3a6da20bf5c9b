"""imagear against a Heratio install's database on the real MariaDB/MySQL: AtoM's tables as AtoM
defines them and Heratio's object_image_ar / image_ar_settings as Heratio's install makes them
(tests/heratio_fixture.py), records made the way AtoM makes them, through the real CLI.

Needs the MariaDB/MySQL at 127.0.0.1:3306 (conftest.MYSQL_URL): skipped when it is unreachable,
failed instead with IMAGEAR_REQUIRE_MYSQL=1 (CI).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from batch_fakes import FakeVideoServer
from heratio_fixture import (  # noqa: F401 (the atom_db and heratio_env fixtures)
    USER_ID,
    ZONE,
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from imagear.cli import app as cli

pytestmark = pytest.mark.mysql

FAST = ["--model", "kenburns", "--frames", "20", "--fps", "10", "--width", "256", "--height", "160"]
HERATIO_NAME = re.compile(r"^kenburns_(\w+)_\d{6}(_[0-9a-f]{6})?\.mp4$")


def invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


def ddl(db: AtomDatabase, table: str) -> str:
    """SHOW CREATE TABLE without the AUTO_INCREMENT counter (rows come and go)."""
    return re.sub(r" AUTO_INCREMENT=\d+", "", db.show_create(table))


def clip_row(db: AtomDatabase, oid: int) -> dict[str, Any] | None:
    rows = db.rows("SELECT * FROM object_image_ar WHERE object_id = %s", (oid,))
    return rows[0] if rows else None


def mp4s(storage: Path, oid: int) -> list[str]:
    folder = storage / "uploads" / "ar" / str(oid)
    return sorted(p.name for p in folder.glob("*.mp4")) if folder.exists() else []


def near_now_in(zone: str, value: datetime) -> bool:
    """``value`` (naive, as a DATETIME holds it) is the wall-clock time now in ``zone``."""
    now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    return abs(now - value) < timedelta(minutes=2)


@pytest.fixture
def serve() -> Any:
    """``serve(**knobs)`` starts a fake image-to-video server (stopped after the test)."""
    servers: list[FakeVideoServer] = []

    def _start(**knobs: Any) -> FakeVideoServer:
        server = FakeVideoServer(**knobs).__enter__()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.close()


@pytest.fixture
def records(atom_db: AtomDatabase, make_image: Any) -> dict[str, int]:
    """Four AtoM records: titles in several cultures, one titled only in another culture, one
    without a master image."""
    ids = {}
    ids["harbour"], _ = atom_db.add_record(
        {"en": "Harbour, 1911", "fr": "Port, 1911"},
        identifier="F1-S2-3",
        image=make_image("harbour.jpg"),
    )
    ids["french"], _ = atom_db.add_record(
        {"en": "Mill (English)", "fr": "Moulin"},
        source_culture="fr",
        identifier="F1-S2-4",
        image=make_image("mill.jpg"),
    )
    # AtoM keeps the record's source culture 'en', but its only title is in Spanish
    ids["only_es"], _ = atom_db.add_record(
        {"es": "Faro de la costa"}, identifier="F1-S2-5", image=make_image("lighthouse.jpg")
    )
    ids["no_image"], _ = atom_db.add_record({"en": "Letter, no scan yet"}, identifier="F1-S2-6")
    return ids


# -- what imagear adds to a Heratio database ---------------------------------------------------


def test_recognised_as_atom_and_atom_tables_untouched(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    before = {t: ddl(atom_db, t) for t in atom_db.tables()}
    result = invoke(runner, "records", "list", "--json")
    assert result.exit_code == 0, result.output
    after = atom_db.tables()
    # imagear's own two tables, named so they cannot clash with AtoM's or Heratio's
    assert after - set(before) == {
        "image_ar_job",
        "imagear_review",
        "imagear_schema",
        "imagear_user",
        "imagear_session",
        "imagear_audit",
        "imagear_trash",
    }
    for table, made in before.items():  # not one column or key of AtoM's or Heratio's changed
        assert ddl(atom_db, table) == made, table
    # Heratio's seeded settings are kept as Heratio wrote them
    url = atom_db.rows(
        "SELECT setting_value FROM image_ar_settings WHERE setting_key = 'ar_server_url'"
    )
    assert url[0]["setting_value"] == "http://heratio-gpu.invalid:5052"


def test_missing_heratio_tables_are_made_in_heratios_shape(
    heratio_env: dict[str, str], atom_db: AtomDatabase, runner: Any
) -> None:
    expected = {
        t: atom_db.rows(f"SHOW COLUMNS FROM `{t}`")
        for t in ("object_image_ar", "image_ar_settings")
    }
    atom_db.execute("DROP TABLE object_image_ar")
    atom_db.execute("DROP TABLE image_ar_settings")  # an AtoM without Heratio's package
    assert invoke(runner, "records", "list").exit_code == 0
    for table, columns in expected.items():
        made = atom_db.rows(f"SHOW COLUMNS FROM `{table}`")
        shape = [(c["Field"], c["Type"].lower(), c["Null"]) for c in made]
        assert shape == [(c["Field"], c["Type"].lower(), c["Null"]) for c in columns], table


# -- records --------------------------------------------------------------------------------------


def test_records_list_and_show_read_atoms_titles(
    heratio_env: dict[str, str], records: dict[str, int], runner: Any
) -> None:
    result = invoke(runner, "records", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = as_json(result)
    rows = {r["id"]: r for r in listed["records"]}
    assert set(rows) == set(records.values())  # AtoM's root description is no record
    assert listed["total"] == 4
    assert rows[records["harbour"]]["title"] == "Harbour, 1911"  # culture en (the default)
    # as Heratio shows it: the interface culture (en), not the source culture (fr)
    assert rows[records["french"]]["title"] == "Mill (English)"
    assert rows[records["only_es"]]["title"] == "Faro de la costa"  # any culture, when needed
    assert rows[records["harbour"]]["identifier"] == "F1-S2-3"
    assert rows[records["harbour"]]["has_master"] is True
    assert rows[records["no_image"]]["has_master"] is False
    shown = invoke(runner, "records", "show", str(records["only_es"]), "--json")
    assert shown.exit_code == 0, shown.output
    record = as_json(shown)
    assert record["title"] == "Faro de la costa"
    assert record["master"]["usage_id"] == 140  # the master, not its derivatives
    assert record["master"]["name"] == "lighthouse.jpg"
    text = invoke(runner, "records", "list")
    assert "Faro de la costa" in text.output and "Mill (English)" in text.output


def test_records_add_and_import_are_refused(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    records: dict[str, int],
    make_image: Any,
    runner: Any,
    tmp_path: Path,
) -> None:
    count = atom_db.rows("SELECT count(*) AS n FROM object")[0]["n"]
    added = runner.invoke(cli, ["records", "add", str(make_image("new.jpg"))])
    assert added.exit_code == 4, added.output
    assert "add the record in heratio, then animate it here" in added.output.lower()
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("identifier,title,digitalObjectPath\nX1,One,new.jpg\n", encoding="utf-8")
    imported = runner.invoke(cli, ["records", "import", str(csv_file)])
    assert imported.exit_code == 4, imported.output
    assert "AtoM/Heratio database" in imported.output
    assert atom_db.rows("SELECT count(*) AS n FROM object")[0]["n"] == count


def test_missing_record_and_missing_file_are_not_found(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    shown = runner.invoke(cli, ["records", "show", "99999"])
    assert shown.exit_code == 3 and "Traceback" not in shown.output, shown.output
    missing = runner.invoke(cli, ["animate", "--object-id", "99999", *FAST])
    assert missing.exit_code == 3 and "does not exist" in missing.output, missing.output
    no_image = runner.invoke(cli, ["animate", "--object-id", str(records["no_image"]), *FAST])
    assert no_image.exit_code == 3 and "no master image" in no_image.output, no_image.output
    for path in atom_db.web_root.rglob("harbour.jpg"):
        path.unlink()
    gone = runner.invoke(cli, ["animate", "--object-id", str(records["harbour"]), *FAST])
    assert gone.exit_code == 3 and "harbour.jpg" in gone.output, gone.output
    assert "Traceback" not in gone.output


def test_images_root_may_be_heratios_uploads_path(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    records: dict[str, int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGEAR_IMAGES_ROOT", str(atom_db.web_root / "uploads"))
    shown = as_json(invoke(runner, "records", "show", str(records["harbour"]), "--json"))
    assert Path(shown["master"]["file"]).is_file()
    # Heratio's own fallback: {uploads_path}/{record id}/{name}
    flat = atom_db.web_root / "flat"
    (flat / str(records["french"])).mkdir(parents=True)
    (flat / str(records["french"]) / "mill.jpg").write_bytes(b"x")
    monkeypatch.setenv("IMAGEAR_IMAGES_ROOT", str(flat))
    shown = as_json(invoke(runner, "records", "show", str(records["french"]), "--json"))
    assert shown["master"]["file"] == str(flat / str(records["french"]) / "mill.jpg")


# -- animate, replace, delete, recent -------------------------------------------------------------


def test_animate_writes_the_row_as_heratio_does(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    oid = records["harbour"]
    master = atom_db.rows(
        "SELECT id FROM digital_object WHERE object_id = %s AND usage_id = 140", (oid,)
    )[0]["id"]
    result = invoke(runner, "animate", "--object-id", str(oid), *FAST, "--seed", "42", "--json")
    assert result.exit_code == 0, result.output
    row = clip_row(atom_db, oid)
    assert row is not None
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    file = storage / "uploads" / "ar" / str(oid) / row["mp4_filename"]
    # read back column by column, with the types Heratio's install gave them
    assert isinstance(row["id"], int) and row["object_id"] == oid
    assert row["digital_object_id"] == master
    assert HERATIO_NAME.match(row["mp4_filename"]) and "harbour" in row["mp4_filename"]
    assert row["mp4_path"] == f"/uploads/ar/{oid}/{row['mp4_filename']}"
    assert file.is_file() and row["mp4_size"] == file.stat().st_size
    assert row["mp4_duration_secs"] == Decimal("2.00")
    assert (row["mp4_width"], row["mp4_height"], row["mp4_fps"]) == (256, 160, 10)
    assert row["mp4_motion"] == "ken_burns_diagonal"
    assert (row["ai_model"], row["ai_seed"], row["ai_prompt"]) == ("kenburns", 42, None)
    assert row["ai_motion_bucket_id"] is None
    assert isinstance(row["generation_secs"], Decimal)
    assert row["generation_secs"] == row["generation_secs"].quantize(Decimal("0.01"))
    assert row["created_by"] == USER_ID  # Heratio's INT user id, not a name
    assert all(row[c] is None for c in ("mind_filename", "mind_path", "mind_size"))
    assert near_now_in(ZONE, row["created_at"]) and near_now_in(ZONE, row["updated_at"])
    shown = as_json(result)["animation"]
    assert shown["created_by"] == USER_ID
    assert datetime.fromisoformat(shown["created_at"]).utcoffset() is not None


def test_created_by_is_null_without_a_heratio_user(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    records: dict[str, int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMAGEAR_HERATIO_USER_ID")
    monkeypatch.setenv("IMAGEAR_USER", "archivist")  # a name: never written to an INT column
    result = invoke(runner, "animate", "--object-id", str(records["french"]), *FAST)
    assert result.exit_code == 0, result.output
    row = clip_row(atom_db, records["french"])
    assert row is not None and row["created_by"] is None


def test_force_replaces_delete_removes_recent_lists(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    oid = records["only_es"]
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    first = clip_row(atom_db, oid)
    assert first is not None and mp4s(storage, oid) == [first["mp4_filename"]]
    again = invoke(runner, "animate", "--object-id", str(oid), *FAST)
    assert again.exit_code == 0 and "already has an animation" in again.output
    forced = invoke(runner, "animate", "--object-id", str(oid), *FAST, "--force", "--seed", "5")
    assert forced.exit_code == 0, forced.output
    second = clip_row(atom_db, oid)
    # a new row, as Heratio replaces (its admin page lists the recent clips by id)
    assert second is not None and second["id"] > first["id"]
    assert second["ai_seed"] == 5
    assert mp4s(storage, oid) == [second["mp4_filename"]]  # the old clip is gone
    recent = invoke(runner, "recent", "--json")
    assert recent.exit_code == 0, recent.output
    clips = as_json(recent)
    assert clips["total"] == 1
    assert clips["clips"][0]["object_id"] == oid
    assert clips["clips"][0]["title"] == "Faro de la costa"
    assert clips["clips"][0]["identifier"] == "F1-S2-5"
    assert "F1-S2-5" in invoke(runner, "recent").output
    deleted = invoke(runner, "delete", "--object-id", str(oid))
    assert deleted.exit_code == 0, deleted.output
    assert clip_row(atom_db, oid) is None and mp4s(storage, oid) == []
    assert runner.invoke(cli, ["delete", "--object-id", str(oid)]).exit_code == 3


def test_a_clip_heratio_made_is_replaced_cleanly(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    oid = records["harbour"]
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    folder = storage / "uploads" / "ar" / str(oid)
    folder.mkdir(parents=True)
    (folder / "svd_harbour_123456.mp4").write_bytes(b"\0" * 4096)
    atom_db.execute(
        "INSERT INTO object_image_ar (object_id, digital_object_id, mp4_filename, mp4_path, "
        "mp4_size, mp4_duration_secs, mp4_width, mp4_height, mp4_fps, mp4_motion, ai_model, "
        "ai_seed, ai_motion_bucket_id, generation_secs, created_by, created_at, updated_at) "
        "VALUES (%s, NULL, 'svd_harbour_123456.mp4', %s, 4096, 2.00, 1024, 576, 7, 'ai-svd', "
        "'svd', 99, 127, 61.50, 3, '2024-01-02 03:04:05', '2024-01-02 03:04:05')",
        (oid, f"/uploads/ar/{oid}/svd_harbour_123456.mp4"),
    )
    heratio_id = clip_row(atom_db, oid)["id"]  # type: ignore[index]
    shown = invoke(runner, "animate", "--object-id", str(oid), *FAST)
    assert shown.exit_code == 0 and "already has an animation" in shown.output
    result = invoke(runner, "animate", "--object-id", str(oid), *FAST, "--force")
    assert result.exit_code == 0, result.output
    row = clip_row(atom_db, oid)
    assert row is not None and row["id"] > heratio_id and row["ai_model"] == "kenburns"
    assert row["created_by"] == USER_ID and row["ai_motion_bucket_id"] is None
    assert mp4s(storage, oid) == [row["mp4_filename"]]  # Heratio's file was removed


# -- values Heratio's columns cannot hold ----------------------------------------------------------


def test_a_clip_longer_than_heratio_can_record_is_refused_before_generation(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    oid = records["harbour"]
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    for args in (["-o", "duration=120"], ["--frames", "1000"]):
        result = runner.invoke(
            cli, ["animate", "--object-id", str(oid), "--model", "kenburns", "--fps", "10", *args]
        )
        assert result.exit_code == 2, result.output
        assert "99.99" in result.output and "mp4_duration_secs" in result.output
        assert "Traceback" not in result.output
    assert clip_row(atom_db, oid) is None
    folder = storage / "uploads" / "ar" / str(oid)
    assert not folder.exists() or not any(folder.iterdir())  # nothing was generated
    batch = runner.invoke(
        cli, ["batch", "--model", "kenburns", "--fps", "10", "-o", "duration=120"]
    )
    assert batch.exit_code == 2 and "99.99" in batch.output, batch.output
    assert atom_db.rows("SELECT count(*) AS n FROM image_ar_job")[0]["n"] == 0  # before any claim
    ok = invoke(runner, "animate", "--object-id", str(oid), "--model", "kenburns", "--fps", "10",
                "--width", "128", "--height", "80", "-o", "duration=99.9")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert clip_row(atom_db, oid)["mp4_duration_secs"] == Decimal("99.90")  # type: ignore[index]


# -- where requests go -------------------------------------------------------------------------------


def test_the_shared_server_row_and_this_installs_choice(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    records: dict[str, int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
    serve: Any,
) -> None:
    monkeypatch.delenv("IMAGEAR_SERVER_URL")  # follow the shared row
    # Issue 23 item 14: no guess at which URLs Heratio ignores (the guess warned about
    # [::1], 127.0.0.2, link-local and user@ URLs Heratio uses): health says where and why
    for url in ("http://127.0.0.1:9", "http://[::1]:9", "http://u@127.0.0.2:9"):
        atom_db.execute(
            "UPDATE image_ar_settings SET setting_value = %s WHERE setting_key = 'ar_server_url'",
            (url,),
        )
        health = runner.invoke(cli, ["health", "--json"])
        assert health.exit_code == 5, health.output
        assert "AI gateway" not in health.output and "Heratio ignores" not in health.output
        route = json.loads(health.stdout)["route"]
        assert "shared with Heratio" in route["source"] and "warning" not in route
    server = serve()
    monkeypatch.setenv("IMAGEAR_SERVER_URL", server.url)
    health = invoke(runner, "health", "--json")
    assert health.exit_code == 0, health.output
    route = as_json(health)["route"]
    assert route["url"] == server.url and "IMAGEAR_SERVER_URL" in route["source"]
    text = invoke(runner, "health").output
    assert server.url in text and "server_url" in text
    shown = invoke(runner, "config", "show", "--json")
    keys = {k["key"]: k for k in as_json(shown)["keys"]}
    assert keys["server_url"]["value"] == server.url
    assert keys["server_url"]["source"] == "IMAGEAR_SERVER_URL"


def test_settings_written_on_heratio_keep_its_time(
    heratio_env: dict[str, str], atom_db: AtomDatabase, runner: Any
) -> None:
    assert invoke(runner, "settings", "set", "ar_fps", "8").exit_code == 0
    row = atom_db.rows("SELECT * FROM image_ar_settings WHERE setting_key = 'ar_fps'")[0]
    assert row["setting_value"] == "8" and near_now_in(ZONE, row["updated_at"])


# -- batch ---------------------------------------------------------------------------------------


def test_batch_two_runners_take_each_record_once(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    make_image: Any,
    serve: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imagear.app import App
    from imagear.batch import BatchOptions, BatchRunner

    ids = [
        atom_db.add_record(
            {"en": f"Plate {i}"}, image=make_image(f"plate{i}.jpg", size=(64 + 2 * i, 48))
        )[0]
        for i in range(20)
    ]
    both_started = threading.Event()
    server = serve(latency=0.01, max_concurrent=4, hold=both_started)
    monkeypatch.setenv("IMAGEAR_SERVER_URL", server.url)
    from imagear import settings as settings_svc

    if "ar_quality_gate" in settings_svc.SPECS:  # the fake's clip is not of the image
        setup = App.load()
        settings_svc.set_value(setup.engine, "ar_quality_gate", "0")
        setup.close()
    summaries: list[Any] = []

    def runner_thread() -> None:
        app = App.load()
        try:
            summaries.append(BatchRunner(app, BatchOptions(concurrency=2, backoff_secs=60.0)).run())
        finally:
            app.close()

    threads = [threading.Thread(target=runner_thread) for _ in range(2)]
    for t in threads:
        t.start()
    # the server holds every request until both runners hold claims: then both must share
    holders = "SELECT count(DISTINCT claimed_by) AS n FROM image_ar_job WHERE status = 'running'"
    deadline = datetime.now() + timedelta(seconds=60)
    while atom_db.rows(holders)[0]["n"] < 2 and datetime.now() < deadline:
        threading.Event().wait(0.02)
    both_started.set()
    for t in threads:
        t.join(120)
    assert len(summaries) == 2 and all(s.exit_code == 0 for s in summaries), summaries
    assert sum(s.count("created") for s in summaries) == 20
    assert set(server.by_name.values()) == {1} and len(server.by_name) == 20  # no record twice
    assert all(s.count("created") > 0 for s in summaries), "the runners did not share the work"
    rows = atom_db.rows("SELECT object_id, created_by FROM object_image_ar ORDER BY object_id")
    assert [r["object_id"] for r in rows] == ids
    assert {r["created_by"] for r in rows} == {USER_ID}
    jobs = atom_db.rows("SELECT status, count(*) AS n FROM image_ar_job GROUP BY status")
    assert jobs == [{"status": "done", "n": 20}]


# -- database errors at the edge ------------------------------------------------------------------


def test_a_missing_atom_column_is_one_line_naming_it(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int], runner: Any
) -> None:
    # an AtoM database whose i18n table lacks the title (an old or broken install)
    atom_db.execute("ALTER TABLE information_object_i18n DROP COLUMN title")
    result = runner.invoke(cli, ["records", "list"])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "information_object_i18n.title" in result.output, result.output
    assert "AtoM/Heratio database" in result.output
    assert "Traceback" not in result.output and len(lines) <= 3


def test_an_unreachable_database_is_one_line(
    heratio_env: dict[str, str], runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", "mysql://root@127.0.0.1:1/none")
    result = runner.invoke(cli, ["records", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "cannot reach the database server" in result.output


def test_the_animate_lookup_draws_no_sqlalchemy_warning(
    heratio_env: dict[str, str], atom_db: AtomDatabase, records: dict[str, int]
) -> None:
    import warnings

    from imagear.db import clips as clips_db
    from imagear.db import make_engine

    engine = make_engine(atom_db.url)  # a fresh engine: the statement is compiled here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "SELECT statement has a cartesian product"
            found = clips_db.lookup(engine, records["harbour"])
    finally:
        engine.dispose()
    assert found.record_exists and found.clip is None
    assert found.master is not None and found.master["usage_id"] == 140


def test_a_claim_waits_out_rows_another_statement_holds_for_a_moment(mysql_url: str) -> None:
    """InnoDB locks every row a locking statement reads, if only for a moment: a claim that
    skipped rows held that way tries again instead of ending the run with work left."""
    from sqlalchemy import text

    from imagear import db, settings
    from imagear.db.claims import ClaimStore
    from imagear.db.jobs import Selection
    from imagear.db.schema import FILES, RECORDS

    engine = db.init_db(mysql_url, seed_rows=settings.seed_rows())
    with engine.begin() as conn:
        for i in range(1, 7):
            conn.execute(RECORDS.insert().values(id=i, identifier=f"r{i}", title="t"))
            conn.execute(
                FILES.insert().values(
                    object_id=i, mime_type="image/jpeg", name="a.jpg", path="/x/", usage_id=140
                )
            )
    store = ClaimStore(engine, "a", lease_secs=60, max_attempts=3)
    sel = Selection()
    store.prepare(sel)
    started = store.db_now()
    held = engine.connect()
    held.execute(text("SELECT object_id FROM image_ar_job FOR UPDATE"))  # every row, for now
    timer = threading.Timer(0.3, held.rollback)
    timer.start()
    try:
        got = store.claim(3, sel, None, started)
    finally:
        timer.join()
        held.close()
        engine.dispose()
    assert [c.object_id for c in got] == [1, 2, 3]
