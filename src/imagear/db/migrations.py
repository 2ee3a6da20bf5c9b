"""First-boot creation and in-place upgrades, with the seed data handed in by the caller.

Schema versions are recorded in ``imagear_schema`` (one row). :data:`MIGRATIONS` is an ordered
list of steps; :func:`upgrade` runs the missing ones under the boot lock
(:mod:`imagear.db.locks`), so two processes booting at once are safe. A database written by a
newer imagear is refused rather than guessed at. We keep this small runner instead of Alembic:
the steps are few, must also run against foreign (Heratio) schemas where Alembic's autogenerate
would see dozens of unrelated tables, and must run from a wheel with no script dir.

The seed rows (``image_ar_settings`` defaults) come from the caller
(:func:`imagear.settings.seed_rows`): the data layer stores settings, it does not define them.
Rows whose key is already present are never touched.

On an AtoM/Heratio database (:mod:`imagear.db.flavour`) step 1 never touches AtoM's tables: it
creates Heratio's ``object_image_ar`` / ``image_ar_settings`` in Heratio's own shape only when
they are missing; imagear's own ``image_ar_job``, ``imagear_review`` (the web console's review),
``imagear_user``, ``imagear_session``, ``imagear_audit`` (the console's accounts, sign-ins and
audit trail), ``imagear_trash`` (deleted clips kept for an undo) and ``imagear_schema`` are the
only other tables it adds. No step ever alters a table of AtoM's or Heratio's; step 5 adds two
columns to imagear's own ``imagear_review``; step 7 adds indexes to imagear's own
``image_ar_job`` and ``imagear_audit``; step 8, on PostgreSQL, trigram indexes of the folded
title and identifier to imagear's own ``information_object`` (the console's search), where the
``pg_trgm`` extension is installed or can be installed by this user; step 9, on MySQL/MariaDB,
makes the title of imagear's own ``information_object`` a VARCHAR(1024) (AtoM's type).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo

from sqlalchemy import Connection, Engine, Table, literal_column, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from imagear.db import diagnose, flavour, locks
from imagear.db.accounts import SESSION, USER
from imagear.db.auditlog import AUDIT
from imagear.db.constants import SCHEMA_VERSION
from imagear.db.engine import MYSQL, family, make_engine
from imagear.db.fold import TRIGRAM_INDEXES, folded
from imagear.db.review import REVIEW, add_clip_columns
from imagear.db.schema import (
    CLIPS,
    FILES,
    HERATIO_COLLATION,
    HERATIO_MYSQL_DDL,
    HERATIO_TABLES,
    JOB,
    RECORDS,
    SCHEMA_TABLE,
    SETTINGS,
    TITLE_LENGTH,
    utcnow,
)
from imagear.db.trash import TRASH
from imagear.errors import StorageError
from imagear.urls import redact_url


def _create(*tables: Table) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return step


_OWN_TABLES = _create(RECORDS, FILES, CLIPS, SETTINGS)


def _heratio_tables(conn: Connection) -> None:
    """imagear's own database: its four tables. An AtoM/Heratio database: only Heratio's two
    tables, in Heratio's shape, and only when missing (AtoM's are AtoM's to make)."""
    if flavour.detect(conn) == flavour.ATOM:
        if family(conn.dialect.name) == "mysql":  # Heratio's own statements, its collation
            charset, collation = conn.execute(
                text("SELECT @@character_set_database, @@collation_database")
            ).one()
            own = charset == "utf8mb4" and re.fullmatch(r"utf8mb4_\w+", str(collation))
            collate = str(collation) if own else HERATIO_COLLATION
            for table in HERATIO_TABLES:
                if not conn.dialect.has_table(conn, table.name):
                    conn.execute(text(HERATIO_MYSQL_DDL[table.name].format(collate=collate)))
            return
        for table in HERATIO_TABLES:
            table.create(conn, checkfirst=True)
    else:
        _OWN_TABLES(conn)


def _indexes(*tables: Table) -> Callable[[Connection], None]:
    """A step that adds the indexes of ``tables`` missing from the database (a table made by
    an earlier step of today's code has them already)."""

    def step(conn: Connection) -> None:
        for table in tables:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                index.create(conn, checkfirst=True)

    return step


TRIGRAM_EXTENSION = "pg_trgm"


def _search_indexes(conn: Connection) -> None:
    """PostgreSQL, imagear's own records: GIN trigram indexes of the folded title and identifier
    (:data:`imagear.db.fold.TRIGRAM_INDEXES`), so that the console's search is answered by an
    index (at a million records: a late match 3.1 s -> 64 ms, no match 1.2 s -> 13 ms).
    They need ``pg_trgm``: used where installed, else installed here when this user may (a
    trusted extension since PostgreSQL 13: a database owner may); where it cannot be had the
    search reads every title, as before. Other databases and AtoM's tables: nothing."""
    if conn.dialect.name != "postgresql" or flavour.detect(conn) == flavour.ATOM:
        return
    schema = _trigram_schema(conn)
    if schema is None:
        return
    ops = '"' + schema.replace('"', '""') + '".gin_trgm_ops'
    for name, column in TRIGRAM_INDEXES.items():
        expr = folded("postgresql", literal_column(column)).compile(dialect=conn.dialect)
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {name} ON information_object USING gin (({expr}) {ops})"
            )
        )


def _trigram_schema(conn: Connection) -> str | None:
    """The schema of the ``pg_trgm`` extension, installed now if it can be (None: it cannot)."""
    where = text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = :name"
    )
    found = conn.execute(where, {"name": TRIGRAM_EXTENSION}).scalar()
    if found is None:
        try:
            with conn.begin_nested():  # a refusal must not abort the upgrade's transaction
                conn.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{TRIGRAM_EXTENSION}"'))
        except SQLAlchemyError:  # not installed on the server, or not this user's to create
            return None
        found = conn.execute(where, {"name": TRIGRAM_EXTENSION}).scalar()
    return None if found is None else str(found)


def _title_varchar(conn: Connection) -> None:
    """MySQL/MariaDB, imagear's own records: the title a VARCHAR(1024), as AtoM's is, where it
    was a TEXT (what SQLAlchemy made of it before). MariaDB copies every TEXT value out of its
    row as it reads it: the console's search over a million titles read 0.35 s, as a VARCHAR
    0.26 s. Where a title is longer than that (a database written by an imagear that did not
    limit it), the column stays as it is. Other databases and AtoM's tables: nothing."""
    if family(conn.dialect.name) != MYSQL or flavour.detect(conn) == flavour.ATOM:
        return
    column = conn.execute(
        text(
            "SELECT DATA_TYPE, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'information_object' "
            "AND COLUMN_NAME = 'title'"
        )
    ).first()
    if column is None or str(column[0]).lower() != "text":
        return
    longest = conn.execute(text("SELECT MAX(CHAR_LENGTH(title)) FROM information_object")).scalar()
    if longest is not None and int(longest) > TITLE_LENGTH:
        return
    mode = conn.execute(text("SELECT @@SESSION.sql_mode")).scalar()
    conn.execute(text("SET SESSION sql_mode = 'STRICT_ALL_TABLES'"))  # refused, never cut short
    try:
        conn.execute(
            text(
                f"ALTER TABLE information_object MODIFY title VARCHAR({TITLE_LENGTH}) "
                f"CHARACTER SET {_word(column[1])} COLLATE {_word(column[2])} NULL"
            )
        )
    except SQLAlchemyError:  # no ALTER privilege, a longer title written meanwhile: a failed
        pass  # ALTER changes nothing, and the title stays a TEXT (a slower search, nothing else)
    finally:
        conn.execute(text("SET SESSION sql_mode = :mode"), {"mode": mode})


def _word(name: object) -> str:
    """A character set's or collation's name as the server gave it (letters, digits, _)."""
    word = str(name)
    if not re.fullmatch(r"\w+", word):
        raise StorageError(f"Unexpected character set or collation {word!r} of the title.")
    return word


# (version, what it does, step). Append only; never edit a released step.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "Heratio tables", _heratio_tables),
    (2, "batch job table", _create(JOB)),
    (3, "web console review table", _create(REVIEW)),
    (4, "web console users, sessions and audit", _create(USER, SESSION, AUDIT)),
    (5, "a verdict names the clip it judged", add_clip_columns),
    (6, "web console trash table (deleted clips kept for an undo)", _create(TRASH)),
    (7, "indexes for the console's failed and refused filters", _indexes(JOB, AUDIT)),
    (8, "trigram indexes for the console's search (PostgreSQL)", _search_indexes),
    (9, "the records' title a VARCHAR(1024) as AtoM's (MySQL/MariaDB)", _title_varchar),
]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "imagear_schema"):
        return 0
    row = conn.execute(select(SCHEMA_TABLE.c.version).where(SCHEMA_TABLE.c.id == 1)).first()
    return int(row[0]) if row else 0


def _check_not_newer(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"The database is at schema version {version}, newer than this imagear ({SCHEMA_VERSION}).",
            "Upgrade imagear (pip install -U imagear) before using this database.",
        )
    return version


def seed(
    conn: Connection,
    rows: Sequence[Mapping[str, object]],
    now: datetime | None = None,
    table: Table = SETTINGS,
) -> None:
    """Insert the settings rows whose ``setting_key`` is missing (existing values are kept);
    ``now``, when given, is their ``updated_at``; ``table``: image_ar_settings as this kind of
    database types it."""
    present = {row[0] for row in conn.execute(select(SETTINGS.c.setting_key))}
    missing = [
        {**r, **({"updated_at": now} if now is not None else {})}
        for r in rows
        if r["setting_key"] not in present
    ]
    if missing:
        conn.execute(table.insert(), missing)


def upgrade(
    engine: Engine,
    target: int = SCHEMA_VERSION,
    seed_rows: Sequence[Mapping[str, object]] = (),
    on_create: Callable[[str], None] | None = None,
) -> int:
    """Run the missing migrations up to ``target`` and add missing ``seed_rows``; return the
    version now in the database. ``on_create(where)`` is called once the tables were created
    in a database that had none of imagear's (``where``: its URL without the password)."""
    fresh = False
    try:
        with engine.connect() as conn:
            version = _check_not_newer(current_version(conn))
            if version >= target:
                return version
        with locks.boot_lock(engine), engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # released by the commit
                locks.lock_key(conn, locks.BOOT_KEY)
            SCHEMA_TABLE.create(conn, checkfirst=True)
            version = _check_not_newer(current_version(conn))
            fresh = version == 0
            for number, _what, step in MIGRATIONS:
                if version < number <= target:
                    step(conn)
                    version = number
            if version >= 1 and seed_rows:
                kind = flavour.detect(conn)
                fl = flavour.Flavour(kind, "", flavour.zone_of(engine))
                seed(conn, seed_rows, fl.now() if fl.is_atom else None, fl.settings)
            now = utcnow()
            if conn.execute(select(SCHEMA_TABLE.c.id)).first() is None:
                conn.execute(SCHEMA_TABLE.insert().values(id=1, version=version, upgraded_at=now))
            else:
                conn.execute(SCHEMA_TABLE.update().values(version=version, upgraded_at=now))
        if fresh and on_create is not None:  # committed: say so once
            on_create(redact_url(engine.url.render_as_string(hide_password=False)))
        return version
    except OperationalError as exc:
        where = redact_url(engine.url.render_as_string(hide_password=False))
        cause = diagnose.classify(exc).kind
        if cause in ("unreachable", "access", "unknown_database", "other"):
            raise diagnose.storage_error(
                f"Cannot open the database at {where}",
                exc,
                "Check database_url (`imagear config show`) and that the server is running.",
            ) from exc
        raise flavour.failed(engine, "Creating or upgrading the database failed", exc) from exc
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, "Creating or upgrading the database failed", exc) from exc
    finally:
        flavour.forget(engine)  # tables may have changed: detect again on next use


def init_db(
    url: str,
    seed_rows: Sequence[Mapping[str, object]] = (),
    time_zone: tzinfo | None = None,
    on_create: Callable[[str], None] | None = None,
    culture: str = "en",
) -> Engine:
    """Open the database at ``url``, creating it and adding ``seed_rows`` on first use.
    ``time_zone``: the wall-clock zone of the timestamps written into Heratio's tables on an
    AtoM/Heratio database (None: UTC). ``on_create``: see :func:`upgrade`. ``culture``: the
    AtoM culture of the titles shown first there (then English)."""
    engine = make_engine(url)
    flavour.set_time_zone(engine, time_zone)
    flavour.set_culture(engine, culture)
    upgrade(engine, seed_rows=seed_rows, on_create=on_create)
    return engine


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "init_db", "seed", "upgrade"]
