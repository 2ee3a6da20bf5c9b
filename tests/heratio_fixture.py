"""A Heratio install's database on the real MariaDB/MySQL, for tests/test_heratio.py.

:func:`atom_db` loads AtoM's tables as AtoM defines them (tests/heratio/atom_schema.sql, trimmed
from artefactual/atom's data/sql/lib.model.schema.sql) and Heratio's ``object_image_ar`` and
``image_ar_settings`` as Heratio's install makes them (tests/heratio/heratio_install.sql) into a
database of the test's own. :meth:`AtomDatabase.add_record` makes a record the way AtoM makes
one: an ``object`` row, the ``information_object`` with the same id under the root description
(nested set kept), its ``information_object_i18n`` rows and ``slug``, and a master
``digital_object`` (with its own ``object`` row) plus reference and thumbnail derivatives, the
master file stored under the web root at AtoM's ``/uploads/r/...`` path.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SQL_DIR = Path(__file__).parent / "heratio"
# MariaDB as close to MySQL 8 as it goes (issue 23 item 18): MySQL 8.0's default sql_mode, and
# explicit_defaults_for_timestamp on (MySQL 8's default), set for every session of the test's
# database: the fixture's own and imagear's (init_command in the URL). A module may add
# ANSI_QUOTES (tests/test_heratio_dropin.py does; tests/test_heratio.py runs without it).
MYSQL8_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
ANSI_MODE = MYSQL8_MODE + ",ANSI_QUOTES"


def session_setup(sql_mode: str) -> str:
    """The statement every session of a Heratio test database starts with."""
    return f"SET SESSION sql_mode = '{sql_mode}', SESSION explicit_defaults_for_timestamp = ON"


ZONE = "Pacific/Auckland"  # far from UTC, so a time written in the wrong zone shows
USER_ID = 7  # the Heratio user imagear records clips as


def sql_statements(path: Path) -> list[str]:
    """The statements of an SQL file (``#`` comment lines dropped, split on ``;`` line ends)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    text = "\n".join(lines)
    chunks = (s.strip().rstrip(";").strip() for s in text.split(";\n"))
    return [s for s in chunks if s]


class AtomDatabase:
    """An AtoM/Heratio database of one test, and the web root its files live under."""

    def __init__(self, database: str, web_root: Path, sql_mode: str = MYSQL8_MODE) -> None:
        from sqlalchemy.engine import make_url

        from conftest import MYSQL_URL

        self.name = database
        self.web_root = web_root
        self.sql_mode = sql_mode
        url = make_url(MYSQL_URL).set(database=database)
        url = url.update_query_dict({"init_command": session_setup(sql_mode)})
        self.url = url.render_as_string(hide_password=False)

    def connect(self) -> Any:
        import pymysql

        from conftest import _mysql_connect

        conn = _mysql_connect(self.name)
        conn.cursorclass = pymysql.cursors.DictCursor  # type: ignore[attr-defined]
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(session_setup(self.sql_mode))
        return conn

    def execute(self, sql: str, args: Any = None) -> int:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return int(cur.lastrowid or 0)
        finally:
            conn.close()

    def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def load(self, filename: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for statement in sql_statements(SQL_DIR / filename):
                    cur.execute(statement)
        finally:
            conn.close()

    def tables(self) -> set[str]:
        return {next(iter(r.values())) for r in self.rows("SHOW TABLES")}

    def show_create(self, table: str) -> str:
        return str(self.rows(f"SHOW CREATE TABLE `{table}`")[0]["Create Table"])

    def add_record(
        self,
        titles: dict[str, str | None],
        *,
        source_culture: str = "en",
        identifier: str | None = None,
        image: Path | None = None,
        derivatives: bool = True,
        published: bool | None = True,
    ) -> tuple[int, int | None]:
        """Make a record as AtoM does; returns (record id, master digital_object id or None).
        ``published``: its publication status row (AtoM writes one for every description: 160
        published, 159 draft); None writes none."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                conn.begin()
                cur.execute(
                    "INSERT INTO object (class_name, created_at, updated_at, serial_number) "
                    "VALUES ('QubitInformationObject', NOW(), NOW(), 0)"
                )
                rid = int(cur.lastrowid)
                # a last child of the root description: the nested set makes room at its right
                cur.execute("SELECT rgt FROM information_object WHERE id = 1 FOR UPDATE")
                lft = int(cur.fetchone()["rgt"])
                cur.execute("UPDATE information_object SET rgt = rgt + 2 WHERE rgt >= %s", (lft,))
                cur.execute("UPDATE information_object SET lft = lft + 2 WHERE lft > %s", (lft,))
                cur.execute(
                    "INSERT INTO information_object (id, identifier, parent_id, lft, rgt, "
                    "source_culture) VALUES (%s, %s, 1, %s, %s, %s)",
                    (rid, identifier, lft, lft + 1, source_culture),
                )
                for culture, title in titles.items():
                    cur.execute(
                        "INSERT INTO information_object_i18n (title, id, culture) VALUES (%s, %s, %s)",
                        (title, rid, culture),
                    )
                cur.execute(
                    "INSERT INTO slug (object_id, slug, serial_number) VALUES (%s, %s, 0)",
                    (rid, f"record-{rid}-{uuid.uuid4().hex[:6]}"),
                )
                if published is not None:
                    cur.execute(
                        "INSERT INTO status (object_id, type_id, status_id, serial_number) "
                        "VALUES (%s, 158, %s, 0)",
                        (rid, 160 if published else 159),
                    )
                master = self._files(cur, rid, image, derivatives) if image is not None else None
                conn.commit()
            return rid, master
        finally:
            conn.close()

    def set_published(self, rid: int, published: bool) -> None:
        """Publish or unpublish a record as AtoM's edit form does (its status row's status_id)."""
        self.execute(
            "UPDATE status SET status_id = %s WHERE object_id = %s AND type_id = 158",
            (160 if published else 159, rid),
        )

    def _files(self, cur: Any, rid: int, image: Path, derivatives: bool) -> int:
        data = image.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        web_path = f"/uploads/r/null/{digest[0]}/{digest[1]}/{digest[2]}/{digest}/"
        folder = self.web_root / web_path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / image.name).write_bytes(data)
        mime = "image/png" if image.suffix.lower() == ".png" else "image/jpeg"

        def digital_object(usage: int, name: str, size: int, parent: int | None) -> int:
            cur.execute(
                "INSERT INTO object (class_name, created_at, updated_at, serial_number) "
                "VALUES ('QubitDigitalObject', NOW(), NOW(), 0)"
            )
            did = int(cur.lastrowid)
            cur.execute(
                "INSERT INTO digital_object (id, object_id, usage_id, language, mime_type, "
                "media_type_id, name, path, sequence, byte_size, checksum, checksum_type, "
                "parent_id) VALUES (%s, %s, %s, NULL, %s, 136, %s, %s, NULL, %s, %s, 'sha256', %s)",
                (
                    did,
                    rid if parent is None else None,
                    usage,
                    mime,
                    name,
                    web_path,
                    size,
                    digest,
                    parent,
                ),
            )
            return did

        master = digital_object(140, image.name, len(data), None)
        if derivatives:  # AtoM's derivatives hang off the master (parent_id), not the record
            for usage in (141, 142):
                name = f"{image.stem}_{usage}.jpg"
                (folder / name).write_bytes(data)
                digital_object(usage, name, len(data), master)
        return master


@pytest.fixture(name="heratio_sql_mode")
def heratio_sql_mode_fixture() -> str:
    """The sql_mode of the Heratio tests' sessions (a module overrides it to add ANSI_QUOTES)."""
    return MYSQL8_MODE


@pytest.fixture(name="atom_db")
def atom_db_fixture(
    mysql_database: str, tmp_path: Path, heratio_sql_mode: str
) -> Iterator[AtomDatabase]:
    """AtoM's and Heratio's tables, as their installers make them, in this test's database,
    every session in MySQL 8's strict mode (:data:`MYSQL8_MODE`)."""
    db = AtomDatabase(mysql_database, tmp_path / "heratio-web", heratio_sql_mode)
    db.web_root.mkdir()
    db.load("atom_schema.sql")
    db.load("heratio_install.sql")
    yield db


@pytest.fixture(name="heratio_env")
def heratio_env_fixture(
    atom_db: AtomDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    """IMAGEAR_* pointing at the Heratio install: its database, web root and storage path; the
    models in this process; clips recorded as Heratio user USER_ID; Heratio's zone ZONE."""
    from conftest import _KEEP_ENV

    for key in list(os.environ):
        if key.startswith("IMAGEAR_") and key not in _KEEP_ENV:
            monkeypatch.delenv(key)
    storage = tmp_path / "heratio-storage"
    storage.mkdir()
    env = {
        "IMAGEAR_DATABASE_URL": atom_db.url,
        "IMAGEAR_STORAGE_ROOT": str(storage),
        "IMAGEAR_IMAGES_ROOT": str(atom_db.web_root),
        "IMAGEAR_MODELS_DIR": str(tmp_path / "models"),
        "IMAGEAR_SERVER_URL": "in-process",
        "IMAGEAR_HERATIO_USER_ID": str(USER_ID),
        "IMAGEAR_TIME_ZONE": ZONE,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    return env


__all__ = [
    "ANSI_MODE",
    "MYSQL8_MODE",
    "USER_ID",
    "ZONE",
    "AtomDatabase",
    "atom_db_fixture",
    "heratio_env_fixture",
    "heratio_sql_mode_fixture",
    "session_setup",
    "sql_statements",
]
