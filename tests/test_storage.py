"""Storage runs on SQLite, the real PostgreSQL and the real MariaDB/MySQL (see conftest.db_url)."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlmodel import Session

import imagear_models as models
from imagear import db, settings
from imagear.errors import StorageError

pytestmark = pytest.mark.all_databases  # storage semantics: every database


def test_first_use_creates_and_seeds(db_url: str) -> None:
    engine = db.init_db(db_url, seed_rows=settings.seed_rows())
    names = set(inspect(engine).get_table_names())
    assert {
        "information_object",
        "digital_object",
        "object_image_ar",
        "image_ar_settings",
        "image_ar_job",
        "imagear_schema",
    } <= names
    values = settings.get_all(engine)
    assert (
        values.ar_model == "svd" and values.ar_request_timeout == 900 and values.ar_enabled is True
    )
    with engine.connect() as conn:
        assert db.current_version(conn) == db.SCHEMA_VERSION
        rows = conn.execute(text("SELECT setting_key, setting_type FROM image_ar_settings")).all()
    assert dict(rows)["ar_fps"] == "integer"
    assert len(rows) == len(settings.SPECS)
    # second boot is a no-op, not a duplicate seed
    db.init_db(db_url, seed_rows=settings.seed_rows())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM image_ar_settings")).scalar() == len(
            settings.SPECS
        )


def test_object_image_ar_is_unique_per_record(db_url: str) -> None:
    engine = db.init_db(db_url, seed_rows=settings.seed_rows())
    from sqlalchemy.exc import IntegrityError

    with Session(engine) as s:
        s.add(
            models.ObjectImageAr(object_id=1, mp4_filename="a.mp4", mp4_path="/uploads/ar/1/a.mp4")
        )
        s.commit()
        s.add(
            models.ObjectImageAr(object_id=1, mp4_filename="b.mp4", mp4_path="/uploads/ar/1/b.mp4")
        )
        with pytest.raises(IntegrityError):
            s.commit()


def test_upgrade_in_place_keeps_rows(db_url: str) -> None:
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=1) == 1  # an "older imagear" database
    with Session(engine) as s:
        s.add(models.InformationObject(id=7, identifier="REF-7", title="Old"))
        s.add(
            models.ObjectImageAr(
                object_id=7, mp4_filename="x.mp4", mp4_path="/uploads/ar/7/x.mp4", ai_seed=42
            )
        )
        s.commit()
    settings.set_value(engine, "ar_fps", "12")
    assert "image_ar_job" not in inspect(engine).get_table_names()
    assert db.upgrade(engine, seed_rows=settings.seed_rows()) == db.SCHEMA_VERSION
    assert "image_ar_job" in inspect(engine).get_table_names()
    with Session(engine) as s:
        assert s.get(models.InformationObject, 7).title == "Old"
        assert s.exec(select(models.ObjectImageAr.ai_seed)).one()[0] == 42
    assert settings.get(engine, "ar_fps") == 12


CONSOLE_TABLES = {"imagear_user", "imagear_session", "imagear_audit", "imagear_trash"}


@pytest.mark.parametrize("start", [3, 4, 5])
def test_upgrade_adds_the_console_tables_and_keeps_rows(db_url: str, start: int) -> None:
    """Steps 4 (users, sessions, audit), 5 (the verdict's clip columns) and 6 (the trash) from
    a version-3, -4 or -5 database keep the rows already there."""
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=start) == start
    names = set(inspect(engine).get_table_names())
    assert "imagear_trash" not in names
    assert ("imagear_user" in names) == (start >= 4)
    review_columns = {c["name"] for c in inspect(engine).get_columns("imagear_review")}
    assert {"clip_path", "clip_sha256"} <= review_columns  # step 3 makes today's table
    with Session(engine) as s:
        s.add(models.InformationObject(id=9, identifier="REF-9", title="Kept"))
        s.commit()
    assert db.upgrade(engine, seed_rows=settings.seed_rows()) == db.SCHEMA_VERSION == 9
    assert CONSOLE_TABLES <= set(inspect(engine).get_table_names())
    with Session(engine) as s:
        assert s.get(models.InformationObject, 9).title == "Kept"


def test_step_7_adds_the_filter_indexes_to_a_version_6_database(db_url: str) -> None:
    """A database made by imagear before step 7 (its job and audit tables without the
    indexes of the console's failed / refused filters) gets them, rows kept."""
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=6) == 6
    new = {"image_ar_job": "ix_image_ar_job_last_error_kind_object_id",
           "imagear_audit": "ix_imagear_audit_action_object_id"}  # fmt: skip
    with engine.begin() as conn:  # as a version-6 database has them: without
        for table, index in new.items():
            on = f" ON {table}" if conn.dialect.name in ("mysql", "mariadb") else ""
            conn.execute(text(f"DROP INDEX {index}{on}"))
        conn.execute(text("INSERT INTO image_ar_job (object_id, status, attempts, updated_at) "
                          "VALUES (5, 'pending', 0, CURRENT_TIMESTAMP)"))  # fmt: skip
    names = {t: {i["name"] for i in inspect(engine).get_indexes(t)} for t in new}
    assert not any(new[t] in names[t] for t in new)
    assert db.upgrade(engine, seed_rows=settings.seed_rows()) == db.SCHEMA_VERSION == 9
    for table, index in new.items():
        assert index in {i["name"] for i in inspect(engine).get_indexes(table)}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT object_id FROM image_ar_job")).scalars().all() == [5]


def test_step_8_adds_the_search_indexes_on_postgresql_only(db_url: str) -> None:
    """A version-7 database gets trigram indexes of the folded title and identifier on
    PostgreSQL (pg_trgm installed by the upgrade), rows kept; elsewhere step 8 adds nothing."""
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=7) == 7
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO information_object (id, identifier, title) "
                          "VALUES (5, 'A-5', 'Église')"))  # fmt: skip
    before = {i["name"] for i in inspect(engine).get_indexes("information_object")}
    assert db.upgrade(engine, seed_rows=settings.seed_rows()) == db.SCHEMA_VERSION == 9
    added = {i["name"] for i in inspect(engine).get_indexes("information_object")} - before
    if engine.dialect.name == "postgresql":
        assert added == {
            "ix_information_object_title_fold",
            "ix_information_object_identifier_fold",
        }
    else:
        assert added == set()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM information_object")).scalars().all() == [
            "Église"
        ]


def _title_column(engine: Any) -> tuple[str, str | None]:
    """(type, collation) of information_object.title as the database reports it."""
    column = next(
        c for c in inspect(engine).get_columns("information_object") if c["name"] == "title"
    )
    kind = column["type"]
    return str(kind.compile(dialect=engine.dialect)).lower(), getattr(kind, "collation", None)


@pytest.mark.parametrize("longest", [1024, 1025])
def test_step_9_makes_the_title_a_varchar_on_mysql_only(db_url: str, longest: int) -> None:
    """A version-8 database (its title a TEXT, as SQLAlchemy made it then) gets AtoM's
    VARCHAR(1024) on MySQL/MariaDB, in the same collation, rows kept whole; where a title is
    longer, the column stays a TEXT. Elsewhere step 9 changes nothing."""
    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=8) == 8
    mysql = engine.dialect.name in ("mysql", "mariadb")
    titles = ["Église", "É" * longest, None]
    with engine.begin() as conn:
        if mysql:  # as a version-8 database has it
            conn.execute(text("ALTER TABLE information_object MODIFY title TEXT NULL"))
        for i, title in enumerate(titles, 1):
            conn.execute(
                text("INSERT INTO information_object (id, identifier, title) VALUES (:i, :r, :t)"),
                {"i": i, "r": f"R-{i}", "t": title},
            )
    before = _title_column(engine)
    assert db.upgrade(engine, seed_rows=settings.seed_rows()) == db.SCHEMA_VERSION == 9
    after = _title_column(engine)
    if mysql and longest <= 1024:
        assert before[0] == "text" and after == ("varchar(1024)", before[1])
    else:
        assert after == before
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT title FROM information_object ORDER BY id")).scalars()
        assert kept.all() == titles


def test_step_9_refused_keeps_the_text_and_the_upgrade_goes_on(db_url: str) -> None:
    """An ALTER the server refuses (a user without the ALTER privilege) leaves the title as it
    was: the upgrade completes (a slower search is all it costs)."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    engine = db.make_engine(db_url)
    assert db.upgrade(engine, target=8) == 8
    mysql = engine.dialect.name in ("mysql", "mariadb")
    with engine.begin() as conn:
        if mysql:
            conn.execute(text("ALTER TABLE information_object MODIFY title TEXT NULL"))
        conn.execute(text("INSERT INTO information_object (id, title) VALUES (1, 'Kept')"))

    def refuse(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("ALTER TABLE information_object"):
            raise OperationalError(statement, {}, Exception("ALTER command denied"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        assert db.upgrade(engine, seed_rows=settings.seed_rows()) == 9
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert _title_column(engine)[0] == "text"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM information_object")).scalar() == "Kept"


def test_a_new_database_has_atoms_title_on_mysql(db_url: str) -> None:
    engine = db.init_db(db_url, seed_rows=settings.seed_rows())
    kind = _title_column(engine)[0]
    assert kind == ("varchar(1024)" if engine.dialect.name in ("mysql", "mariadb") else "text")


def test_newer_database_is_refused(db_url: str) -> None:
    engine = db.init_db(db_url, seed_rows=settings.seed_rows())
    with engine.begin() as conn:
        conn.execute(text("UPDATE imagear_schema SET version = 99"))
    with pytest.raises(StorageError, match="newer than this imagear"):
        db.upgrade(db.make_engine(db_url))


def test_existing_heratio_tables_are_kept(db_url: str) -> None:
    engine = db.make_engine(db_url)
    # Heratio's table, as its own migration made it (auto-increment id).
    pk = {
        "postgresql": "SERIAL PRIMARY KEY",
        "mysql": "INTEGER AUTO_INCREMENT PRIMARY KEY",
        "mariadb": "INTEGER AUTO_INCREMENT PRIMARY KEY",
    }.get(engine.dialect.name, "INTEGER PRIMARY KEY")
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE image_ar_settings (id {pk}, setting_key VARCHAR(100) UNIQUE, "
                "setting_value TEXT, setting_type VARCHAR(20), description TEXT, updated_at TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO image_ar_settings (setting_key, setting_value, setting_type) "
                "VALUES ('ar_model', 'svd-xt', 'string')"
            )
        )
    db.upgrade(engine, seed_rows=settings.seed_rows())
    assert settings.get(engine, "ar_model") == "svd-xt"  # an existing value is never overwritten
    assert settings.get(engine, "ar_fps") == 7  # missing keys are seeded


def _boot(url: str, q: mp.Queue) -> None:
    try:
        engine = db.init_db(url, seed_rows=settings.seed_rows())
        q.put(("ok", settings.get(engine, "ar_model")))
    except Exception as exc:  # pragma: no cover - reported to the parent
        q.put(("error", repr(exc)))


def test_concurrent_first_boot(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_boot, args=(db_url, q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert results == [("ok", "svd")] * 4, results
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM image_ar_settings")).scalar() == len(
            settings.SPECS
        )
        assert conn.execute(text("SELECT count(*) FROM imagear_schema")).scalar() == 1


def test_unreachable_database_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(StorageError, match="Cannot open the database"):
        db.init_db("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
