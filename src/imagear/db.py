"""Tables, engine, first-boot creation and in-place upgrades.

The tables carry the AtoM/Heratio names and columns (REFERENCE.md section 2), so imagear can be
pointed at a database that already has them: creation is ``checkfirst`` per table and never
touches an existing one.

Schema versions are recorded in ``imagear_schema`` (one row). ``MIGRATIONS`` is an ordered list of
steps; ``init_db`` runs the missing ones under a lock, so two processes booting at once are safe:
PostgreSQL takes a transaction-level advisory lock; SQLite takes an exclusive ``flock`` on a
sidecar file (SQLite DDL is transactional, the lock serialises the check-then-create). A database
written by a newer imagear is refused rather than guessed at. We keep this small runner instead of
Alembic: the steps are few, must also run against foreign (Heratio) schemas where Alembic's
autogenerate would see dozens of unrelated tables, and must run from a wheel with no script dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Table,
    Text,
    event,
    select,
    text,
)
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Field, SQLModel, create_engine

from imagear.errors import ConfigError, StorageError

SCHEMA_VERSION = 2
USAGE_MASTER, USAGE_REFERENCE, USAGE_THUMBNAIL, USAGE_EXTERNAL = 140, 141, 142, 166


def utcnow() -> datetime:
    """Aware UTC, whole seconds (as Heratio's TIMESTAMP columns hold them)."""
    return datetime.now(UTC).replace(microsecond=0)


class InformationObject(SQLModel, table=True):
    """A catalogue record (enough of AtoM's information_object to run standalone)."""

    __tablename__ = "information_object"
    id: int | None = Field(default=None, primary_key=True)
    identifier: str | None = Field(default=None, max_length=1024, index=True)
    title: str | None = Field(default=None, sa_column=Column(Text))


class DigitalObject(SQLModel, table=True):
    __tablename__ = "digital_object"
    id: int | None = Field(default=None, primary_key=True)
    object_id: int | None = Field(default=None, index=True)
    usage_id: int | None = None
    mime_type: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=1024)
    path: str | None = Field(default=None, max_length=1024)
    byte_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    checksum: str | None = Field(default=None, max_length=255)
    checksum_type: str | None = Field(default=None, max_length=50)
    parent_id: int | None = Field(default=None, index=True)
    sequence: int | None = None


class ObjectImageAr(SQLModel, table=True):
    """One animation per record (UNIQUE object_id), as Heratio's ahg-image-ar writes it."""

    __tablename__ = "object_image_ar"
    id: int | None = Field(default=None, primary_key=True)
    object_id: int = Field(unique=True)
    digital_object_id: int | None = None
    mp4_filename: str = Field(max_length=255)
    mp4_path: str = Field(max_length=1024)
    mp4_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    mp4_duration_secs: float | None = None
    mp4_width: int | None = None
    mp4_height: int | None = None
    mp4_fps: float | None = None
    mp4_motion: str | None = Field(default=None, max_length=64)
    ai_model: str | None = Field(default=None, max_length=64)
    ai_prompt: str | None = Field(default=None, sa_column=Column(Text))
    ai_seed: int | None = Field(default=None, sa_column=Column(BigInteger))
    ai_motion_bucket_id: int | None = None
    generation_secs: float | None = None
    created_by: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ImageArSetting(SQLModel, table=True):
    __tablename__ = "image_ar_settings"
    id: int | None = Field(default=None, primary_key=True)
    setting_key: str = Field(max_length=100, unique=True)
    setting_value: str | None = Field(default=None, sa_column=Column(Text))
    setting_type: str = Field(default="string", max_length=20)
    description: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(default_factory=utcnow)


class ImageArJob(SQLModel, table=True):
    """Batch bookkeeping per record: who holds it, how often it failed, when to retry (v2).

    status: pending | running (claimed_by holds it until claim_expires_at) | done | failed
    (retry at next_attempt_at) | given_up. Times are timezone-aware (TIMESTAMPTZ on PostgreSQL,
    where imagear.claims compares them with the server's own clock). See docs/batch.md.
    """

    __tablename__ = "image_ar_job"
    # claims walk (status, object_id) in order and stop after a few rows
    __table_args__ = (Index("ix_image_ar_job_status_object_id", "status", "object_id"),)
    object_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    status: str = Field(default="pending", max_length=20)
    claimed_by: str | None = Field(default=None, max_length=255)
    claim_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_kind: str | None = Field(default=None, max_length=64)
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ImagearSchema(SQLModel, table=True):
    __tablename__ = "imagear_schema"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = 0
    upgraded_at: datetime = Field(default_factory=utcnow)


SCHEMA_TABLE: Table = ImagearSchema.__table__  # type: ignore[attr-defined]


def _create(*models: type[SQLModel]) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for model in models:
            model.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]

    return step


# (version, what it does, step). Append only; never edit a released step.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "Heratio tables", _create(InformationObject, DigitalObject, ObjectImageAr, ImageArSetting)),
    (2, "batch job table", _create(ImageArJob)),
]


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine with the pragmas imagear relies on (SQLite: WAL, busy timeout)."""
    url = normalize_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        scheme = url.split(":", 1)[0]
        if scheme.startswith("postgres"):
            advice = "Install it with `pip install 'imagear[postgres]'`."
        elif "mysql" in scheme or "mariadb" in scheme:
            advice = (
                "Install a driver (`pip install pymysql`) and use mysql+pymysql://user@host/db."
            )
        else:
            advice = (
                "Install the SQLAlchemy driver this URL names, or use sqlite:/// or postgresql://."
            )
        raise ConfigError(
            f"The database driver for {scheme} is not installed ({exc.name}).", advice
        ) from exc
    except ArgumentError as exc:
        raise ConfigError(f"database_url {url!r} is not a valid SQLAlchemy URL.") from exc
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise first boots on one SQLite file. Held across the whole transaction (commit
    included), or a second process could read the old version before the first one commits."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        yield
        return
    fd = os.open(f"{db}.boot-lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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


def upgrade(engine: Engine, target: int = SCHEMA_VERSION) -> int:
    """Run the missing migrations up to ``target``; return the version now in the database."""
    from imagear.settings import seed_settings  # settings imports db; avoid the cycle

    try:
        with engine.connect() as conn:
            version = _check_not_newer(current_version(conn))
            if version >= target:
                return version
        with _sqlite_file_lock(engine), engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # released by the commit
                conn.execute(text("SELECT pg_advisory_xact_lock(7243100)"))
            SCHEMA_TABLE.create(conn, checkfirst=True)
            version = _check_not_newer(current_version(conn))
            for number, _what, step in MIGRATIONS:
                if version < number <= target:
                    step(conn)
                    version = number
            if version >= 1:
                seed_settings(conn)
            now = utcnow()
            if conn.execute(select(SCHEMA_TABLE.c.id)).first() is None:
                conn.execute(SCHEMA_TABLE.insert().values(id=1, version=version, upgraded_at=now))  # type: ignore[attr-defined]
            else:
                conn.execute(SCHEMA_TABLE.update().values(version=version, upgraded_at=now))
            return version
    except OperationalError as exc:
        raise StorageError(
            f"Cannot open the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}.",
            "Check database_url (`imagear config show`) and that the server is running.",
        ) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"Creating or upgrading the database failed: {exc}.") from exc


def init_db(url: str) -> Engine:
    """Open the database at ``url``, creating and seeding it on first use."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
