"""Heratio drop-in, part 2 (issue 23): what a live Heratio site stores and expects, on AtoM's and
Heratio's own DDL on the real MariaDB (tests/heratio_fixture.py): settings Heratio's form wrote,
times, toggles, the rows Heratio wrote, replacing, verdicts, grants and the strict SQL modes.

Needs the MariaDB/MySQL at 127.0.0.1:3306 (conftest.MYSQL_URL), as tests/test_heratio.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from heratio_fixture import (  # noqa: F401 (the atom_db and heratio_env fixtures)
    ANSI_MODE,
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
)
from imagear.cli import app as cli

pytestmark = pytest.mark.mysql

FAST = ["--model", "kenburns", "--frames", "20", "--fps", "10", "--width", "256", "--height", "160"]
TOKEN = "heratio-web-token-0123456789"


@pytest.fixture(name="heratio_sql_mode")
def ansi_quotes_on() -> str:
    """This module's sessions run with ANSI_QUOTES too (tests/test_heratio.py's without)."""
    return ANSI_MODE


def invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def set_row(db: AtomDatabase, key: str, value: str) -> None:
    """A settings row as Heratio's settings form writes it."""
    db.execute(
        "UPDATE image_ar_settings SET setting_value = %s WHERE setting_key = %s", (value, key)
    )


def heratio_row(db: AtomDatabase, oid: int, path: str | None, **values: Any) -> int:
    """An object_image_ar row as Heratio writes it (no width/height unless given)."""
    name = path.rsplit("/", 1)[-1] if path else None
    columns = {
        "object_id": oid,
        "mp4_filename": name,
        "mp4_path": path,
        "ai_model": "svd",
        "created_at": "2024-01-02 03:04:05",
        "updated_at": "2024-01-02 03:04:05",
        **values,
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    return db.execute(
        f"INSERT INTO object_image_ar ({names}) VALUES ({marks})", tuple(columns.values())
    )


@pytest.fixture
def two(atom_db: AtomDatabase, make_image: Any) -> list[int]:
    """Two AtoM records with master images."""
    return [
        atom_db.add_record(
            {"en": f"Harbour {i}"}, identifier=f"H-{i}", image=make_image(f"h{i}.jpg")
        )[0]
        for i in range(2)
    ]


def object_ids(data: Any) -> set[int]:
    """Every ``object_id`` in a JSON document."""
    if isinstance(data, dict):
        found = {int(data["object_id"])} if "object_id" in data else set()
        return found.union(*(object_ids(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(object_ids(v) for v in data))
    return set()


def planned(runner: Any, *args: str) -> set[int]:
    """The records ``batch --dry-run`` would take."""
    plan = invoke(runner, "batch", "--dry-run", "--json", *args, *FAST)
    assert plan.exit_code == 0, plan.output
    return object_ids(json.loads(plan.stdout))


def heratio_replaces(db: AtomDatabase, storage: Path, oid: int, name: str, data: bytes) -> None:
    """Heratio's replace: its new file, the old row deleted and a new one inserted."""
    folder = storage / "uploads" / "ar" / str(oid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    db.execute("DELETE FROM object_image_ar WHERE object_id = %s", (oid,))
    heratio_row(db, oid, f"/uploads/ar/{oid}/{name}", mp4_size=len(data))


def web_client(env: dict[str, str]) -> Any:
    from fastapi.testclient import TestClient

    from imagear.app import App
    from imagear.web.app import create_app

    return TestClient(create_app(App.load(), TOKEN), base_url="http://127.0.0.1")


# -- settings Heratio's form stored (items 5, 12, 17) -----------------------------------------------


def test_values_heratio_stored_are_used_nearest_and_warned(
    heratio_env: dict[str, str], atom_db: AtomDatabase, runner: Any
) -> None:
    """Item 12: out-of-range values Heratio stored are the nearest valid value, never a silent
    default, with a warning in `settings list`, `health` and the admin page. Item 17: an
    ar_model Heratio's settings page cannot show is a warning there too. Item 5: Heratio's '0'
    for an empty default prompt is no prompt."""
    set_row(atom_db, "ar_num_frames", "60")
    set_row(atom_db, "ar_request_timeout", "30")
    set_row(atom_db, "ar_model", "kenburns")
    set_row(atom_db, "ar_default_prompt", "0")
    listed = invoke(runner, "settings", "list", "--json")
    assert listed.exit_code == 0, listed.output
    values = json.loads(listed.stdout)
    assert values["ar_num_frames"] == 49 and values["ar_request_timeout"] == 60
    assert values["ar_default_prompt"] == ""
    said = " ".join(listed.stderr.split())
    assert "ar_num_frames (60) is outside imagear's range 8..49; imagear uses 49" in said
    assert "ar_request_timeout (30)" in said and "imagear uses 60" in said
    assert "ar_model is kenburns" in said and "reset it to svd" in said
    assert "ar_default_prompt" not in said  # '0' is Heratio's empty, not a problem

    health = invoke(runner, "health", "--json")
    assert health.exit_code == 0, health.output
    assert any("ar_num_frames (60)" in w for w in json.loads(health.stdout)["settings_warnings"])
    assert "imagear uses 49" in " ".join(health.stderr.split())

    page = web_client(heratio_env).get(
        "/admin/image-ar/settings", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert page.status_code == 200, page.text
    assert "ar_num_frames (60) is outside" in page.text and "reset it to svd" in page.text

    set_row(atom_db, "ar_model", "wan-2.1")  # one Heratio's page offers: no warning
    quiet = invoke(runner, "settings", "list", "--json")
    assert "ar_model" not in quiet.stderr


# -- the tables imagear makes on an AtoM-only database (item 7) ------------------------------------


def _ddl(db: AtomDatabase, table: str) -> str:
    import re

    return re.sub(r" AUTO_INCREMENT=\d+", "", db.show_create(table))


def test_missing_heratio_tables_equal_heratios_install_sql(
    heratio_env: dict[str, str], atom_db: AtomDatabase, runner: Any
) -> None:
    """Item 7: key names, DECIMAL(6,2), the settings' 'string' default and self-updating
    timestamp, the database's collation: SHOW CREATE TABLE as after Heratio's install.sql."""
    tables = ("object_image_ar", "image_ar_settings")
    installed = {t: _ddl(atom_db, t) for t in tables}
    for table in tables:
        atom_db.execute(f"DROP TABLE {table}")  # an AtoM without Heratio's package
    assert invoke(runner, "records", "list").exit_code == 0
    for table in tables:
        assert _ddl(atom_db, table) == installed[table], table
    # Heratio's own settings form inserts with no type and relies on the table's default
    atom_db.execute("INSERT INTO image_ar_settings (setting_key, setting_value) VALUES ('x', 'y')")
    row = atom_db.rows(
        "SELECT setting_type, updated_at FROM image_ar_settings WHERE setting_key='x'"
    )
    assert row[0]["setting_type"] == "string" and row[0]["updated_at"] is not None


def test_made_in_the_databases_own_collation(
    heratio_env: dict[str, str], atom_db: AtomDatabase, runner: Any
) -> None:
    atom_db.execute(
        f"ALTER DATABASE `{atom_db.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"
    )
    for table in ("object_image_ar", "image_ar_settings"):
        atom_db.execute(f"DROP TABLE {table}")
    assert invoke(runner, "records", "list").exit_code == 0
    for table in ("object_image_ar", "image_ar_settings"):
        assert "COLLATE=utf8mb4_unicode_520_ci" in atom_db.show_create(table), table


# -- rows Heratio wrote (item 10) ------------------------------------------------------------------


def test_rows_heratio_wrote_without_sizes_or_a_video(
    heratio_env: dict[str, str], atom_db: AtomDatabase, two: list[int], runner: Any
) -> None:
    """Item 10: a row without width/height is shown without 'NonexNone'; a row without
    mp4_path is no video (as Heratio treats it): animate and batch take the record again."""
    sized, pathless = two
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    folder = storage / "uploads" / "ar" / str(sized)
    folder.mkdir(parents=True)
    (folder / "svd_h0_123456.mp4").write_bytes(b"\0" * 64)
    heratio_row(atom_db, sized, f"/uploads/ar/{sized}/svd_h0_123456.mp4")
    heratio_row(atom_db, pathless, None)
    for args in (("recent",), ("records", "show", str(sized))):
        shown = invoke(runner, *args)
        assert shown.exit_code == 0, shown.output
        assert "None" not in shown.output, args
    page = web_client(heratio_env).get(
        f"/records/{sized}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert page.status_code == 200 and "None" not in page.text

    listed = json.loads(invoke(runner, "records", "list", "--json").stdout)
    flags = {r["id"]: r["has_animation"] for r in listed["records"]}
    assert flags == {sized: True, pathless: False}
    plan = invoke(runner, "batch", "--dry-run", "--json", *FAST)
    assert plan.exit_code == 0, plan.output
    assert str(pathless) in plan.stdout and str(sized) not in plan.stdout
    made = invoke(runner, "animate", "--object-id", str(pathless), *FAST)  # no --force needed
    assert made.exit_code == 0 and "already has" not in made.output, made.output
    row = atom_db.rows("SELECT * FROM object_image_ar WHERE object_id = %s", (pathless,))
    assert len(row) == 1 and row[0]["mp4_path"] and row[0]["ai_model"] == "kenburns"


# -- replacing as Heratio does (item 3) ------------------------------------------------------------


def test_replace_is_a_new_row_and_a_failed_insert_loses_nothing(
    heratio_env: dict[str, str], atom_db: AtomDatabase, two: list[int], runner: Any
) -> None:
    """Item 3: Heratio deletes the old row and inserts a new one; its recent list goes by id.
    The delete and the insert are one transaction: when the insert fails, the old row and
    its file stand and the new file is gone."""
    oid, other = two
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    folder = storage / "uploads" / "ar" / str(oid)
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    assert invoke(runner, "animate", "--object-id", str(other), *FAST).exit_code == 0
    first = atom_db.rows("SELECT * FROM object_image_ar WHERE object_id = %s", (oid,))[0]
    forced = invoke(runner, "animate", "--object-id", str(oid), *FAST, "--force")
    assert forced.exit_code == 0, forced.output
    rows = atom_db.rows("SELECT * FROM object_image_ar WHERE object_id = %s", (oid,))
    assert len(rows) == 1 and rows[0]["id"] > first["id"]
    # Heratio's "recent generations": by id, newest first: the replaced clip is on top
    newest = atom_db.rows("SELECT object_id FROM object_image_ar ORDER BY id DESC LIMIT 1")
    assert newest[0]["object_id"] == oid
    kept = rows[0]
    files = sorted(p.name for p in folder.iterdir())

    atom_db.execute(
        "CREATE TRIGGER refuse_insert BEFORE INSERT ON object_image_ar FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no inserts today'"
    )
    failed = runner.invoke(cli, ["animate", "--object-id", str(oid), *FAST, "--force"])
    assert failed.exit_code != 0 and "Traceback" not in failed.output
    assert "no inserts today" in " ".join(failed.output.split())
    after = atom_db.rows("SELECT * FROM object_image_ar WHERE object_id = %s", (oid,))
    assert after == [kept]  # the delete was rolled back with the insert
    assert sorted(p.name for p in folder.iterdir()) == files  # old clip kept, new one gone


# -- a verdict is on the clip it judged (item 11) --------------------------------------------------


def test_an_approval_does_not_survive_heratio_replacing_the_clip(
    heratio_env: dict[str, str], atom_db: AtomDatabase, two: list[int], runner: Any
) -> None:
    from imagear import review
    from imagear.app import App

    oid, other = two
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    for record in two:
        assert invoke(runner, "animate", "--object-id", str(record), *FAST).exit_code == 0
    app = App.load()
    review.approve(app, oid, "curator")
    assert review.state(app, oid) is not None and review.state(app, oid).state == "approved"  # type: ignore[union-attr]
    assert planned(runner, "--all") == {other}  # the approved clip is kept
    rows, _ = review.browse(app)
    assert {r.id: r.review for r in rows}[oid] == "approved"

    heratio_replaces(atom_db, storage, oid, "svd_h0_654321.mp4", b"\0" * 128)
    assert review.state(app, oid) is None  # Heratio's clip is unreviewed
    assert planned(runner, "--all") == {oid, other}
    rows, _ = review.browse(app)
    assert {r.id: r.review for r in rows}[oid] is None

    # the same path with other contents: the checksum tells
    review.approve(app, oid, "curator")
    assert review.state(app, oid) is not None
    (storage / "uploads" / "ar" / str(oid) / "svd_h0_654321.mp4").write_bytes(b"\1" * 128)
    assert review.state(app, oid) is None

    review.reject(app, other, "curator")  # rejected while another record keeps a clip
    rows, _ = review.browse(app, show="rejected")
    assert [r.id for r in rows] == [other]
    heratio_replaces(atom_db, storage, other, "svd_h1_222222.mp4", b"\0" * 96)
    assert review.browse(app, show="rejected")[0] == []  # Heratio's new clip: no verdict


def test_verdicts_from_before_are_bound_to_the_clip_they_have(
    heratio_env: dict[str, str], atom_db: AtomDatabase, two: list[int], runner: Any
) -> None:
    """The schema v5 migration: an existing verdict names the record's clip of now."""
    oid, other = two
    storage = Path(heratio_env["IMAGEAR_STORAGE_ROOT"])
    for record in two:
        assert invoke(runner, "animate", "--object-id", str(record), *FAST).exit_code == 0
    # back to schema v3: imagear_review without the clip columns, one approval in it
    atom_db.execute("ALTER TABLE imagear_review DROP COLUMN clip_path, DROP COLUMN clip_sha256")
    atom_db.execute("UPDATE imagear_schema SET version = 3")
    atom_db.execute(
        "INSERT INTO imagear_review (object_id, state, reviewed_by, reviewed_at) "
        "VALUES (%s, 'approved', 'curator', NOW())",
        (oid,),
    )
    assert planned(runner, "--all") == {other}  # upgraded: the verdict holds for that clip
    judged = atom_db.rows("SELECT clip_path FROM imagear_review WHERE object_id = %s", (oid,))
    path = atom_db.rows("SELECT mp4_path FROM object_image_ar WHERE object_id = %s", (oid,))
    assert judged[0]["clip_path"] == path[0]["mp4_path"]
    heratio_replaces(atom_db, storage, oid, "svd_h0_111111.mp4", b"\0" * 64)
    assert planned(runner, "--all") == {oid, other}


# -- titles as Heratio shows them (item 8) ---------------------------------------------------------


def test_titles_in_the_interface_culture_then_english(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Heratio shows the interface culture's title, then the English one; imagear showed the
    source culture's, then the alphabetically first other."""
    mill, _ = atom_db.add_record({"en": "Mill", "fr": "Moulin"}, source_culture="fr")
    bridge, _ = atom_db.add_record(
        {"de": "Brücke", "en": "Bridge", "nl": "Brug"}, source_culture="nl"
    )
    lone, _ = atom_db.add_record({"es": "Faro"}, source_culture="es")

    def titles() -> dict[int, str]:
        listed = invoke(runner, "records", "list", "--json")
        assert listed.exit_code == 0, listed.output
        return {r["id"]: r["title"] for r in json.loads(listed.stdout)["records"]}

    assert titles() == {mill: "Mill", bridge: "Bridge", lone: "Faro"}  # culture en
    monkeypatch.setenv("IMAGEAR_CULTURE", "fr")
    assert titles() == {mill: "Moulin", bridge: "Bridge", lone: "Faro"}  # fr, then en
    monkeypatch.setenv("IMAGEAR_CULTURE", "de")
    assert titles() == {mill: "Mill", bridge: "Brücke", lone: "Faro"}
    monkeypatch.setenv("IMAGEAR_CULTURE", "fr;drop")
    bad = runner.invoke(cli, ["records", "list"])
    assert bad.exit_code == 2 and "not an AtoM culture code" in bad.output


# -- what records show and the config promise (item 15) --------------------------------------------


def test_records_show_missing_file_advice_and_user_id_bound(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    two: list[int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oid = two[0]
    for path in atom_db.web_root.rglob("h0*"):
        path.unlink()
    shown = runner.invoke(cli, ["records", "show", str(oid)])
    assert shown.exit_code == 3, shown.output  # the docs promise 3, not "found"
    assert "h0.jpg" in shown.output and "is not there" in shown.output
    assert "Traceback" not in shown.output

    bare, _ = atom_db.add_record({"en": "Letter"})
    none = runner.invoke(cli, ["animate", "--object-id", str(bare), *FAST])
    assert none.exit_code == 3 and "no master image" in none.output
    words = " ".join(none.output.split())
    assert "records add" not in words and "in Heratio" in words  # refused there (exit 4)

    monkeypatch.setenv("IMAGEAR_HERATIO_USER_ID", "2147483648")
    big = runner.invoke(cli, ["records", "list"])
    assert big.exit_code == 2 and "at most 2147483647" in " ".join(big.output.split())
    assert atom_db.rows("SELECT COUNT(*) AS n FROM object_image_ar")[0]["n"] == 0


# -- MariaDB in MySQL 8's strict mode (item 18) ----------------------------------------------------


def test_imagears_sessions_run_in_mysql8_strict_mode(
    heratio_env: dict[str, str], atom_db: AtomDatabase, two: list[int], runner: Any
) -> None:
    """Every Heratio test runs its sessions (the fixture's and imagear's) with MySQL 8.0's
    default sql_mode and explicit_defaults_for_timestamp; this module adds ANSI_QUOTES, so
    imagear's SQL is run with double quotes as identifiers here and as strings there."""
    from sqlalchemy import text

    from imagear.app import App

    engine = App.load().engine
    with engine.connect() as conn:
        mode, explicit = conn.execute(
            text("SELECT @@SESSION.sql_mode, @@SESSION.explicit_defaults_for_timestamp")
        ).one()
    for flag in ("ONLY_FULL_GROUP_BY", "STRICT_TRANS_TABLES", "NO_ZERO_DATE", "ANSI_QUOTES"):
        assert flag in mode.split(","), flag
    assert int(explicit) == 1
    assert invoke(runner, "batch", "--json", *FAST).exit_code == 0  # claims, progress, report
    assert invoke(runner, "recent", "--json").exit_code == 0
    assert invoke(runner, "batch", "status", "--json").exit_code == 0


# -- least-privilege grants (item 6) ---------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "heratio.md"
# AtoM's publication status table (lib.model.schema.sql), for the grant on it
ATOM_STATUS = (
    "CREATE TABLE IF NOT EXISTS `status` (`object_id` INTEGER NOT NULL, `type_id` INTEGER, "
    "`status_id` INTEGER, `id` INTEGER NOT NULL AUTO_INCREMENT, `serial_number` INTEGER NOT "
    "NULL DEFAULT 0, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)


def documented_grants() -> list[str]:
    """The statements of the grants block of docs/heratio.md."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- grants:", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    return [s.strip() for s in " ".join(lines).split(";") if s.strip()]


def test_the_documented_grants_are_enough_for_every_command(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    two: list[int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 6: a MariaDB user with exactly the grants docs/heratio.md lists creates imagear's
    tables and runs records, settings, animate, batch, check and the web console."""
    import uuid

    from sqlalchemy.engine import make_url

    user = f"imagear_{uuid.uuid4().hex[:8]}"
    atom_db.execute(ATOM_STATUS)
    statements = [
        s.replace("'imagear'@'%'", f"'{user}'@'%'").replace("heratio.", f"`{atom_db.name}`.")
        for s in documented_grants()
    ]
    assert any(s.startswith("CREATE USER") for s in statements)
    for statement in statements:
        atom_db.execute(statement)
    try:
        url = make_url(atom_db.url).set(username=user, password="secret")
        monkeypatch.setenv("IMAGEAR_DATABASE_URL", url.render_as_string(hide_password=False))
        for args in (
            ("records", "list"),
            ("records", "show", str(two[0])),
            ("settings", "set", "ar_fps", "8"),
            ("settings", "list"),
            ("animate", "--object-id", str(two[0]), *FAST),
            ("animate", "--object-id", str(two[0]), *FAST, "--force"),
            ("batch", *FAST),
            ("batch", "status"),
            ("check", "--all"),
            ("recent",),
        ):
            result = runner.invoke(cli, list(args))
            assert result.exit_code == 0, (args, result.output)
        made = {"image_ar_job", "imagear_review", "imagear_schema"}
        assert made <= atom_db.tables()
        from fastapi.testclient import TestClient

        from imagear.app import App
        from imagear.web.app import create_app

        web = TestClient(create_app(App.load(), TOKEN), base_url="http://127.0.0.1")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for page in ("/", f"/records/{two[0]}", "/admin/image-ar/settings", "/batch"):
            answer = web.get(page, headers=auth)
            assert answer.status_code == 200, (page, answer.text[:300])
        approved = web.post(f"/records/{two[0]}/approve", headers=auth, follow_redirects=False)
        assert approved.status_code in (200, 303), approved.text[:300]
        deleted = runner.invoke(cli, ["delete", "--object-id", str(two[1])])
        assert deleted.exit_code == 0, deleted.output
    finally:
        atom_db.execute(f"DROP USER IF EXISTS '{user}'@'%'")


# -- times (item 4) ---------------------------------------------------------------------------------


def test_times_are_utc_on_a_host_in_another_zone(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    two: list[int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Heratio writes UTC; with no time_zone a host in Johannesburg wrote its local time (two
    hours in the future on Heratio's page)."""
    import time
    from datetime import UTC, datetime, timedelta

    monkeypatch.delenv("IMAGEAR_TIME_ZONE")
    monkeypatch.setenv("TZ", "Africa/Johannesburg")
    time.tzset()
    try:
        made = invoke(runner, "animate", "--object-id", str(two[0]), *FAST)
        assert made.exit_code == 0, made.output
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    row = atom_db.rows("SELECT created_at FROM object_image_ar WHERE object_id = %s", (two[0],))
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(row[0]["created_at"] - now) < timedelta(minutes=2)


def test_heratios_zero_prompt_sends_no_prompt(
    heratio_env: dict[str, str],
    atom_db: AtomDatabase,
    two: list[int],
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 5: Heratio's settings form saved an empty default prompt as '0'; imagear sent
    `prompt: "0"` to wan-2.1 and logged it as the clip's prompt."""
    from batch_fakes import FakeVideoServer

    set_row(atom_db, "ar_default_prompt", "0")
    with FakeVideoServer(models=("wan-2.1",), echo=True) as server:
        monkeypatch.setenv("IMAGEAR_SERVER_URL", server.url)
        made = invoke(
            runner,
            "animate",
            "--object-id",
            str(two[0]),
            "--model",
            "wan-2.1",
            "--frames",
            "17",
            "--json",
        )
        assert made.exit_code == 0, made.output
    row = atom_db.rows("SELECT ai_prompt FROM object_image_ar WHERE object_id = %s", (two[0],))
    assert row[0]["ai_prompt"] in (None, "")
