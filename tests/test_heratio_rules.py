"""The rules of sharing a database with Heratio that need no database server: URL
normalisation, the config keys, where requests go, who a clip is created by, what Heratio's
columns hold, how database errors are worded, where master files are looked for; and the
AtoM kind of database on SQLite (for machines without MariaDB; tests/test_heratio.py runs the
real thing)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, text

from imagear import db
from imagear.config import load_config
from imagear.db import diagnose, flavour
from imagear.db.engine import normalize_url
from imagear.errors import ConfigError, ReadOnlyRecords, StorageError, UnsafePath
from imagear.heratio import created_by, route
from imagear.records import master_places
from imagear.settings import Settings

# -- database URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mysql://u:p@db/heratio", "mysql+pymysql://u:p@db/heratio?charset=utf8mb4"),
        ("mariadb://u@db/heratio", "mariadb+pymysql://u@db/heratio?charset=utf8mb4"),
        ("mysql://u@db/h?ssl=1", "mysql+pymysql://u@db/h?ssl=1&charset=utf8mb4"),
        ("mysql+pymysql://u@db/h?charset=latin1", "mysql+pymysql://u@db/h?charset=latin1"),
        ("postgres://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:///a.db", "sqlite:///a.db"),
    ],
)
def test_urls_people_paste(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


# -- config keys --------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_heratio_keys_are_read_and_checked(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config()
    assert (cfg.server_url, cfg.heratio_user_id, cfg.time_zone, cfg.zone()) == ("", None, "", None)
    (clean_env / "imagear.toml").write_text(
        'server_url = "http://gpu-host:5052/"\nheratio_user_id = 12\ntime_zone = "Europe/Berlin"\n'
    )
    cfg = load_config()
    assert cfg.server_url == "http://gpu-host:5052" and cfg.heratio_user_id == 12
    assert str(cfg.zone()) == "Europe/Berlin"
    monkeypatch.setenv("IMAGEAR_SERVER_URL", "In-Process")
    monkeypatch.setenv("IMAGEAR_HERATIO_USER_ID", "")
    cfg = load_config()
    assert cfg.server_url == "in-process" and cfg.heratio_user_id is None
    for key, bad, words in (
        ("IMAGEAR_SERVER_URL", "gpu-host:5052", "http(s) URL"),
        ("IMAGEAR_HERATIO_USER_ID", "archivist", "Heratio user id"),
        ("IMAGEAR_HERATIO_USER_ID", "0", "above 0"),
        ("IMAGEAR_TIME_ZONE", "Mars/Olympus", "not a time zone"),
    ):
        monkeypatch.setenv(key, bad)
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_config()
        monkeypatch.delenv(key)


# -- where requests go, who made a clip ---------------------------------------------------------


def _ip(*parts: int) -> str:
    """An IPv4 literal built at run time: only ever the input of a rule, never sent anywhere,
    and not written down in a test file (tests/test_no_routable_addresses.py)."""
    return ".".join(str(p) for p in parts)


LAN_URL = f"http://{_ip(192, 168, 0, 40)}:5052"


def test_route_follows_this_installs_choice_first(clean_env: Path, monkeypatch: Any) -> None:
    private = Settings(ar_server_url=LAN_URL)
    cfg = load_config()
    shared = route(cfg, private, shared=True)  # a route is only computed here: nothing is sent
    assert shared.url == LAN_URL and "shared with Heratio" in shared.source
    own = route(cfg, private, shared=False)  # imagear's own database: the row is imagear's
    assert own.url == private.ar_server_url and "shared" not in own.source
    assert route(cfg, Settings(), shared=True).url is None  # empty row: in-process
    assert route(cfg, private, shared=True, in_process=True).url is None
    monkeypatch.setenv("IMAGEAR_SERVER_URL", "in-process")
    chosen = route(load_config(), private, shared=True)
    assert chosen.url is None and "IMAGEAR_SERVER_URL" in chosen.source
    monkeypatch.setenv("IMAGEAR_SERVER_URL", "https://gpu.example.org")
    chosen = route(load_config(), private, shared=True)
    assert chosen.url == "https://gpu.example.org"


def test_created_by(clean_env: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("IMAGEAR_USER", "archivist")
    assert created_by(load_config(), shared=False) == "archivist"
    assert created_by(load_config(), shared=True) is None
    monkeypatch.setenv("IMAGEAR_HERATIO_USER_ID", "7")
    assert created_by(load_config(), shared=True) == 7


# -- what Heratio's columns hold -------------------------------------------------------------------


def _heratio_flavour() -> flavour.Flavour:
    from sqlalchemy.dialects import mysql

    from imagear.db.schema import HERATIO_CLIPS

    dialect = mysql.dialect()
    columns = {c.name: flavour._limit(c.name, c.type, dialect) for c in HERATIO_CLIPS.c}
    return flavour.Flavour(flavour.ATOM, "mysql", None, columns)


def test_values_are_fitted_to_heratios_columns() -> None:
    fl = _heratio_flavour()
    limit = fl.clip_limit("mp4_duration_secs")
    assert limit is not None and limit.max_value == 99.99
    assert limit.type_text in ("DECIMAL(4,2)", "NUMERIC(4,2)")
    fitted = fl.fit(
        {"mp4_duration_secs": 4.96000001, "mp4_fps": 7.4, "generation_secs": 12.345, "x": 1}
    )
    assert fitted == {"mp4_duration_secs": 4.96, "mp4_fps": 7, "generation_secs": 12.35, "x": 1}
    with pytest.raises(StorageError, match=r"mp4_duration_secs .*\(4,2\), at most 99\.99"):
        fl.fit({"mp4_duration_secs": 100.0})
    with pytest.raises(StorageError, match="at most 64 characters"):
        fl.fit({"ai_model": "m" * 65})


def test_heratio_times_are_wall_clock_in_the_zone() -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Pacific/Auckland")
    fl = flavour.Flavour(flavour.ATOM, "mysql", zone)
    written = fl.now()
    assert written.tzinfo is None
    assert abs(written - datetime.now(zone).replace(tzinfo=None)) < timedelta(seconds=5)
    assert fl.shown_time(written).utcoffset() == datetime.now(zone).utcoffset()
    own = flavour.Flavour(flavour.IMAGEAR, "sqlite")
    assert own.now().tzinfo is UTC


def test_heratio_times_default_to_utc_not_this_machines_zone(monkeypatch: Any) -> None:
    """Issue 23 item 4: Heratio writes UTC; with no time_zone a host in Johannesburg used to
    write its local time (two hours ahead on Heratio's page)."""
    import time
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("TZ", "Africa/Johannesburg")
    time.tzset()
    try:
        fl = flavour.Flavour(flavour.ATOM, "mysql", None)
        written = fl.now()
        assert abs(written - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)
        assert fl.shown_time(written).utcoffset() == timedelta(0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# -- database errors, one line -------------------------------------------------------------------


class _PyMySQLError(Exception):
    """What PyMySQL raises: (code, message) args."""


class _Wrapped(Exception):
    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig


@pytest.mark.parametrize(
    ("orig", "words"),
    [
        (
            _PyMySQLError(1054, "Unknown column 'information_object.title' in 'field list'"),
            "the column information_object.title does not exist",
        ),
        (
            _PyMySQLError(1146, "Table 'heratio.object_image_ar' doesn't exist"),
            "the table object_image_ar does not exist",
        ),
        (Exception("no such column: information_object.title"), "information_object.title"),
        (
            Exception('column "title" of relation "information_object" does not exist'),
            "the column information_object.title does not exist",
        ),
        (
            _PyMySQLError(1264, "Out of range value for column 'mp4_duration_secs' at row 1"),
            "does not fit its column",
        ),
        (_PyMySQLError(1045, "Access denied for user 'x'@'h'"), "refused access"),
        (_PyMySQLError(2003, "Can't connect to MySQL server on '127.0.0.1'"), "cannot reach"),
        (_PyMySQLError(1049, "Unknown database 'heratio'"), "does not exist"),
        (_PyMySQLError(1205, "Lock wait timeout exceeded"), "held the rows too long"),
        (Exception("attempt to write a readonly database"), "read-only"),
    ],
)
def test_database_errors_are_one_line(orig: BaseException, words: str) -> None:
    atom = flavour.Flavour(flavour.ATOM, "mysql")
    err = diagnose.storage_error("Reading the records failed", _Wrapped(orig), flavour=atom)
    line = err.one_line()
    assert words in line and "\n" not in line and line.startswith("Reading the records failed: ")
    if "does not exist" in words and "column" in words:
        assert "AtoM/Heratio database" in (err.advice or "")


def test_a_missing_column_on_imagears_own_database_says_so() -> None:
    own = flavour.Flavour(flavour.IMAGEAR, "sqlite")
    err = diagnose.storage_error(
        "Reading the records failed",
        _Wrapped(Exception("no such column: information_object.title")),
        flavour=own,
    )
    assert "does not look like an AtoM database" in (err.advice or "")


# -- where a master file is looked for -------------------------------------------------------------


def test_master_places_follow_heratios_lookups(tmp_path: Path) -> None:
    web = "/uploads/r/null/a/b/c/abc/"
    assert master_places(tmp_path, 450, web, "scan.tif") == [
        tmp_path / "uploads/r/null/a/b/c/abc/scan.tif",  # images_root = Heratio's web root
        tmp_path / "r/null/a/b/c/abc/scan.tif",  # images_root = {web root}/uploads
        tmp_path / "null/a/b/c/abc/scan.tif",  # images_root = {web root}/uploads/r
        tmp_path / "450/scan.tif",  # Heratio's fallback {uploads_path}/{record id}/{name}
    ]
    with pytest.raises(UnsafePath):
        master_places(tmp_path, 450, "/uploads/../../etc/", "passwd")


# -- the AtoM kind on SQLite ------------------------------------------------------------------------


def _atom_like(url: str) -> None:
    """AtoM's record tables, as far as imagear reads them (SQLite types)."""
    meta = MetaData()
    Table("object", meta, Column("id", Integer, primary_key=True), Column("class_name", String))
    Table(
        "information_object",
        meta,
        Column("id", Integer, primary_key=True),
        Column("identifier", String(1024)),
        Column("parent_id", Integer),
        Column("source_culture", String(7), nullable=False),
    )
    Table(
        "information_object_i18n",
        meta,
        Column("title", String(1024)),
        Column("id", Integer, primary_key=True),
        Column("culture", String(7), primary_key=True),
    )
    Table(
        "digital_object",
        meta,
        Column("id", Integer, primary_key=True),
        Column("object_id", Integer),
        Column("usage_id", Integer),
        Column("mime_type", String(255)),
        Column("name", String(1024), nullable=False),
        Column("path", String(1024), nullable=False),
        Column("sequence", Integer),
        Column("byte_size", Integer),
        Column("checksum", String(255)),
        Column("checksum_type", String(50)),
        Column("parent_id", Integer),
        Column("language", Text),
    )
    engine = create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO information_object (id, parent_id, source_culture) VALUES (1, NULL, 'en'), "
                "(450, 1, 'en'), (451, 1, 'de')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO information_object_i18n (title, id, culture) VALUES "
                "('Hafen', 450, 'de'), ('', 450, 'en'), ('Mühle', 451, 'de'), ('Mill', 451, 'en')"
            )
        )
    engine.dispose()


def test_atom_kind_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    from imagear.db import records as records_db
    from imagear.settings import seed_rows

    _atom_like(sqlite_url)
    engine = db.init_db(sqlite_url, seed_rows=seed_rows())
    assert flavour.of(engine).is_atom
    rows, total = records_db.page(engine, 10, 0)
    assert total == 2  # not the root description
    # English first (the default culture), an empty English title skipped
    assert {r.id: r.title for r in rows} == {450: "Hafen", 451: "Mill"}
    engine.dispose()
    engine = db.init_db(sqlite_url, seed_rows=seed_rows(), culture="de")
    rows, _ = records_db.page(engine, 10, 0)
    assert {r.id: r.title for r in rows} == {450: "Hafen", 451: "Mühle"}
    with pytest.raises(ReadOnlyRecords, match="AtoM/Heratio database"):
        records_db.refuse_adding(engine)
    names = set(db.make_engine(sqlite_url).dialect.get_table_names(engine.connect()))
    assert {"object_image_ar", "image_ar_settings", "image_ar_job", "imagear_schema"} <= names
    engine.dispose()


def test_batch_claims_need_skip_locked() -> None:
    from types import SimpleNamespace

    from imagear.db.engine import skip_locked_problem

    def server(name: str, version: tuple[int, ...], mariadb: bool) -> Any:
        dialect = SimpleNamespace(name=name, server_version_info=version, is_mariadb=mariadb)
        return SimpleNamespace(dialect=dialect)

    assert skip_locked_problem(server("mysql", (10, 11, 19), True)) is None
    assert skip_locked_problem(server("mysql", (8, 0, 36), False)) is None
    assert skip_locked_problem(server("postgresql", (9, 6), False)) is None
    old = skip_locked_problem(server("mysql", (10, 3, 39), True))
    assert old is not None and "MariaDB 10.6 or later" in old and "10.3.39" in old
    assert "MySQL 8.0 or later" in (skip_locked_problem(server("mysql", (5, 7, 44), False)) or "")


def test_no_tls_handshake_to_a_server_on_this_machine() -> None:
    from imagear.db.engine import _mysql_connect_args

    assert _mysql_connect_args("mysql+pymysql://u@127.0.0.1/h")["ssl_disabled"] is True
    assert _mysql_connect_args("mysql+pymysql://u@localhost/h")["ssl_disabled"] is True
    remote = _mysql_connect_args("mysql+pymysql://u@db.example.org/h")
    assert "ssl_disabled" not in remote and remote["connect_timeout"] == 10
    asked = _mysql_connect_args("mysql+pymysql://u@127.0.0.1/h?ssl_ca=/etc/ca.pem")
    assert "ssl_disabled" not in asked  # TLS options in the URL are the user's choice
