"""The tables imagear reads and writes, with the AtoM/Heratio names and columns (REFERENCE.md
section 2), plus imagear's own ``image_ar_job`` (batch bookkeeping) and ``imagear_schema``
(version). Creation is ``checkfirst`` per table (:mod:`imagear.db.migrations`), so a database
that already has Heratio's tables keeps them as they are.

Two kinds of database (:mod:`imagear.db.flavour`):

- imagear's own: the SQLModel tables below, created on first use (``information_object``
  carries a ``title``);
- an AtoM/Heratio database: AtoM's tables as AtoM defines them (:data:`ATOM_RECORDS`,
  :data:`ATOM_TITLES`: titles live in ``information_object_i18n``) and Heratio's
  ``object_image_ar`` / ``image_ar_settings``. imagear never creates, alters or writes AtoM's
  tables there; when Heratio's two tables are missing it creates them in Heratio's own shape
  (:data:`HERATIO_TABLES`), and its own ``image_ar_job`` and ``imagear_schema`` beside them.

The statements use the Core handles (:data:`RECORDS`, :data:`FILES`, :data:`CLIPS`, ...), and
only the columns both kinds share; what differs (the title) comes from the flavour.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlmodel import Field, SQLModel

USAGE_MASTER, USAGE_REFERENCE, USAGE_THUMBNAIL, USAGE_EXTERNAL = 140, 141, 142, 166


def utcnow() -> datetime:
    """Aware UTC, whole seconds (as Heratio's TIMESTAMP columns hold them)."""
    return datetime.now(UTC).replace(microsecond=0)


# MySQL's FLOAT is single precision and its DATETIME drops fractions of a second: imagear's
# own tables use DOUBLE and DATETIME(6) there (the same Python types on every database).
DOUBLE = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
AWARE = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class InformationObject(SQLModel, table=True):
    """A catalogue record (enough of AtoM's information_object to run standalone)."""

    __tablename__ = "information_object"
    # MySQL cannot index all of a VARCHAR(1024) in utf8mb4: a 255-character prefix there
    __table_args__ = (Index("ix_information_object_identifier", "identifier", mysql_length=255),)
    id: int | None = Field(default=None, primary_key=True)
    identifier: str | None = Field(default=None, max_length=1024)
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
    mp4_duration_secs: float | None = Field(default=None, sa_type=DOUBLE)
    mp4_width: int | None = None
    mp4_height: int | None = None
    mp4_fps: float | None = Field(default=None, sa_type=DOUBLE)
    mp4_motion: str | None = Field(default=None, max_length=64)
    ai_model: str | None = Field(default=None, max_length=64)
    ai_prompt: str | None = Field(default=None, sa_column=Column(Text))
    ai_seed: int | None = Field(default=None, sa_column=Column(BigInteger))
    ai_motion_bucket_id: int | None = None
    generation_secs: float | None = Field(default=None, sa_type=DOUBLE)
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


JOB_INDEX = "ix_image_ar_job_status_object_id"


class ImageArJob(SQLModel, table=True):
    """Batch bookkeeping per record: who holds it, how often it failed, when to retry (v2).

    status: pending | running (claimed_by holds it until claim_expires_at) | done | failed
    (retry at next_attempt_at) | given_up. Times are timezone-aware (TIMESTAMPTZ on PostgreSQL,
    where imagear.db.claims compares them with the server's own clock). See docs/batch.md.
    """

    __tablename__ = "image_ar_job"
    # claims walk (status, object_id) in order and stop after a few rows
    __table_args__ = (Index(JOB_INDEX, "status", "object_id"),)
    object_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    status: str = Field(default="pending", max_length=20)
    claimed_by: str | None = Field(default=None, max_length=255)
    claim_expires_at: datetime | None = Field(default=None, sa_type=AWARE)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_kind: str | None = Field(default=None, max_length=64)
    next_attempt_at: datetime | None = Field(default=None, sa_type=AWARE)
    finished_at: datetime | None = Field(default=None, sa_type=AWARE)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AWARE)


class ImagearSchema(SQLModel, table=True):
    __tablename__ = "imagear_schema"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = 0
    upgraded_at: datetime = Field(default_factory=utcnow)


SCHEMA_TABLE: Table = ImagearSchema.__table__  # type: ignore[attr-defined]


# Core handles on the tables, for the statements of the data layer.
RECORDS: Table = InformationObject.__table__  # type: ignore[attr-defined]
FILES: Table = DigitalObject.__table__  # type: ignore[attr-defined]
CLIPS: Table = ObjectImageAr.__table__  # type: ignore[attr-defined]
SETTINGS: Table = ImageArSetting.__table__  # type: ignore[attr-defined]
JOB: Table = ImageArJob.__table__  # type: ignore[attr-defined]
CLIP_COLUMNS = tuple(c.name for c in CLIPS.c)  # what imagear reads and writes of a clip row


# -- AtoM's tables (read only; artefactual/atom data/sql/lib.model.schema.sql, AtoM 2.x) ------

ATOM_METADATA = MetaData()
# the columns imagear reads of AtoM's information_object (it has no title)
ATOM_RECORDS = Table(
    "information_object",
    ATOM_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("identifier", String(1024)),
    Column("parent_id", Integer),
    Column("source_culture", String(7), nullable=False),
)
ATOM_TITLES = Table(
    "information_object_i18n",
    ATOM_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("culture", String(7), primary_key=True),
    Column("title", String(1024)),
)
# AtoM's status of an object: the publication status of a description is the row with type_id
# STATUS_TYPE_PUBLICATION (158) and status_id PUBLISHED (160) or DRAFT (159)
ATOM_STATUS = Table(
    "status",
    ATOM_METADATA,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, nullable=False),
    Column("type_id", Integer),
    Column("status_id", Integer),
)
STATUS_TYPE_PUBLICATION, STATUS_DRAFT, STATUS_PUBLISHED = 158, 159, 160
# a record's dates: AtoM's events (creation, accumulation...) on the record, with the display
# date a cataloguer wrote (event_i18n.date) and the normalised start and end dates
ATOM_EVENTS = Table(
    "event",
    ATOM_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("object_id", Integer),
    Column("source_culture", String(16)),
)
ATOM_EVENT_I18N = Table(
    "event_i18n",
    ATOM_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("culture", String(16), primary_key=True),
    Column("date", String(1024)),
)
ATOM_MARKERS = ("object", "information_object_i18n")  # both present: an AtoM database


# -- Heratio's tables in Heratio's shape (database/install.sql; REFERENCE.md section 2) --------
# Created only on an AtoM database that lacks them, so that Heratio finds them as its own
# install would have made them.

HERATIO_METADATA = MetaData()
HERATIO_CLIPS = Table(
    "object_image_ar",
    HERATIO_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("object_id", Integer, nullable=False, unique=True),
    Column("digital_object_id", Integer),
    Column("mp4_filename", String(255)),
    Column("mp4_path", String(500)),
    Column("mp4_size", BigInteger),
    Column("mp4_duration_secs", Numeric(4, 2)),
    Column("mp4_width", Integer),
    Column("mp4_height", Integer),
    Column("mp4_fps", Integer),
    Column("mp4_motion", String(64)),
    Column("ai_model", String(64)),
    Column("ai_prompt", Text),
    Column("ai_seed", BigInteger),
    Column("ai_motion_bucket_id", Integer),
    Column("generation_secs", Numeric(7, 2)),
    Column("mind_filename", String(255)),
    Column("mind_path", String(500)),
    Column("mind_size", BigInteger),
    Column("mind_compile_secs", Numeric(7, 2)),
    Column("created_by", Integer),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
HERATIO_SETTINGS = Table(
    "image_ar_settings",
    HERATIO_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("setting_key", String(100), nullable=False, unique=True),
    Column("setting_value", Text),
    Column("setting_type", String(32)),
    Column("description", String(500)),
    Column("updated_at", DateTime().with_variant(mysql.TIMESTAMP(), "mysql", "mariadb")),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
HERATIO_TABLES = (HERATIO_CLIPS, HERATIO_SETTINGS)
