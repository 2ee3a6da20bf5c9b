"""The tables imagear reads and writes, with the AtoM/Heratio names and columns (REFERENCE.md
section 2), plus imagear's own ``image_ar_job`` (batch bookkeeping) and ``imagear_schema``
(version). Creation is ``checkfirst`` per table (:mod:`imagear.db.migrations`), so a database
that already has Heratio's tables keeps them as they are.

Two kinds of database (:mod:`imagear.db.flavour`):

- imagear's own: the Core tables below (:data:`OWN_METADATA`), created on first use
  (``information_object`` carries a ``title``);
- an AtoM/Heratio database: AtoM's tables as AtoM defines them (:data:`ATOM_RECORDS`,
  :data:`ATOM_TITLES`: titles live in ``information_object_i18n``) and Heratio's
  ``object_image_ar`` / ``image_ar_settings``. imagear never creates, alters or writes AtoM's
  tables there; when Heratio's two tables are missing it creates them in Heratio's own shape
  (:data:`HERATIO_TABLES`), and its own ``image_ar_job`` and ``imagear_schema`` beside them.

The statements use the Core handles (:data:`RECORDS`, :data:`FILES`, :data:`CLIPS`, ...), and
only the columns both kinds share; what differs (the title) comes from the flavour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    Interval,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

USAGE_MASTER, USAGE_REFERENCE, USAGE_THUMBNAIL, USAGE_EXTERNAL = 140, 141, 142, 166


def utcnow() -> datetime:
    """Aware UTC, whole seconds (as Heratio's TIMESTAMP columns hold them)."""
    return datetime.now(UTC).replace(microsecond=0)


# MySQL's FLOAT is single precision and its DATETIME drops fractions of a second: imagear's
# own tables use DOUBLE and DATETIME(6) there (the same Python types on every database).
DOUBLE = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
AWARE = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware time stored in UTC and read back aware in UTC (a naive value is refused); the
    type imagear's own tables have always had (SQLModel's, before they became Core tables)."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        if isinstance(value, timedelta):
            return Interval()
        return self

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("Datetime values must have timezone information.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:  # databases without zones store UTC without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


TITLE_LENGTH = 1024
"""Characters a record's title holds (AtoM's and Heratio's ``information_object_i18n.title`` is
a VARCHAR(1024); so is imagear's own on MySQL/MariaDB since schema step 9)."""

OWN_METADATA = MetaData()
"""imagear's own tables (Core: no ORM, no SQLModel, so that a database command starts fast)."""

# A catalogue record (enough of AtoM's information_object to run standalone).
RECORDS = Table(
    "information_object",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("identifier", String(1024)),
    # as AtoM's (information_object_i18n.title); on MySQL/MariaDB a VARCHAR, which a scan reads
    # from the row itself (a TEXT value is copied out of it: a search read twice as long)
    Column("title", Text().with_variant(String(TITLE_LENGTH), "mysql", "mariadb")),
    # MySQL cannot index all of a VARCHAR(1024) in utf8mb4: a 255-character prefix there
    Index("ix_information_object_identifier", "identifier", mysql_length=255),
)
FILES = Table(
    "digital_object",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, index=True),
    Column("usage_id", Integer),
    Column("mime_type", String(255)),
    Column("name", String(1024)),
    Column("path", String(1024)),
    Column("byte_size", BigInteger),
    Column("checksum", String(255)),
    Column("checksum_type", String(50)),
    Column("parent_id", Integer, index=True),
    Column("sequence", Integer),
)
# One animation per record (UNIQUE object_id), as Heratio's ahg-image-ar writes it. A replaced
# clip is a new row (as Heratio replaces): sqlite_autoincrement, or SQLite reuses the deleted id.
CLIPS = Table(
    "object_image_ar",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, nullable=False, unique=True),
    Column("digital_object_id", Integer),
    Column("mp4_filename", String(255), nullable=False),
    Column("mp4_path", String(1024), nullable=False),
    Column("mp4_size", BigInteger),
    Column("mp4_duration_secs", DOUBLE),
    Column("mp4_width", Integer),
    Column("mp4_height", Integer),
    Column("mp4_fps", DOUBLE),
    Column("mp4_motion", String(64)),
    Column("ai_model", String(64)),
    Column("ai_prompt", Text),
    Column("ai_seed", BigInteger),
    Column("ai_motion_bucket_id", Integer),
    Column("generation_secs", DOUBLE),
    Column("created_by", String(255)),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    sqlite_autoincrement=True,
)
SETTINGS = Table(
    "image_ar_settings",
    OWN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("setting_key", String(100), nullable=False, unique=True),
    Column("setting_value", Text),
    Column("setting_type", String(20), nullable=False, default="string"),
    Column("description", Text),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
)

JOB_INDEX = "ix_image_ar_job_status_object_id"
JOB_ERROR_INDEX = "ix_image_ar_job_last_error_kind_object_id"

# Batch bookkeeping per record: who holds it, how often it failed, when to retry (v2).
# status: pending | running (claimed_by holds it until claim_expires_at) | done | failed
# (retry at next_attempt_at) | given_up. Times are timezone-aware (TIMESTAMPTZ on PostgreSQL,
# where imagear.db.claims compares them with the server's own clock). See docs/batch.md.
JOB = Table(
    "image_ar_job",
    OWN_METADATA,
    Column("object_id", Integer, primary_key=True, autoincrement=False),
    Column("status", String(20), nullable=False, default="pending"),
    Column("claimed_by", String(255)),
    Column("claim_expires_at", AWARE),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_kind", String(64)),
    Column("next_attempt_at", AWARE),
    Column("finished_at", AWARE),
    Column("updated_at", AWARE, nullable=False, default=utcnow),
    # claims walk (status, object_id) in order and stop after a few rows
    Index(JOB_INDEX, "status", "object_id"),
    # the console's failed / refused filters start from the few rows with an error (v7);
    # last_error and last_error_kind are always written together
    Index(JOB_ERROR_INDEX, "last_error_kind", "object_id"),
)
SCHEMA_TABLE = Table(
    "imagear_schema",
    OWN_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False, default=1),
    Column("version", Integer, nullable=False, default=0),
    Column("upgraded_at", UTCDateTime(), nullable=False, default=utcnow),
)
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


# -- Heratio's tables in Heratio's shape (database/install.sql; REFERENCE.md section 2) --------
# Created only on an AtoM database that lacks them, so that Heratio finds them as its own
# install would have made them.

HERATIO_METADATA = MetaData()
HERATIO_CLIPS = Table(
    "object_image_ar",
    HERATIO_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("object_id", Integer, nullable=False),
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
    Column("mind_compile_secs", Numeric(6, 2)),
    Column("created_by", Integer),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    UniqueConstraint("object_id", name="uq_object_image_ar_object"),
    Index("idx_digital_object_id", "digital_object_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
HERATIO_SETTINGS = Table(
    "image_ar_settings",
    HERATIO_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("setting_key", String(100), nullable=False),
    Column("setting_value", Text),
    Column("setting_type", String(32), server_default="string"),
    Column("description", String(500)),
    Column("updated_at", DateTime().with_variant(mysql.TIMESTAMP(), "mysql", "mariadb")),
    UniqueConstraint("setting_key", name="uq_image_ar_settings_key"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
HERATIO_TABLES = (HERATIO_CLIPS, HERATIO_SETTINGS)

# On MySQL/MariaDB the two are created with the statements of Heratio's database/install.sql,
# word for word (key names, DECIMAL(6,2), the settings' 'string' default and self-updating
# timestamp), in the database's own utf8mb4 collation ({collate}): SHOW CREATE TABLE then reads
# the same as on a Heratio install (tests/test_heratio_dropin.py compares them).
HERATIO_MYSQL_DDL = {
    "object_image_ar": """CREATE TABLE IF NOT EXISTS `object_image_ar` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `object_id` INT NOT NULL,
  `digital_object_id` INT NULL,
  `mp4_filename` VARCHAR(255) NULL,
  `mp4_path` VARCHAR(500) NULL,
  `mp4_size` BIGINT NULL,
  `mp4_duration_secs` DECIMAL(4,2) NULL,
  `mp4_width` INT NULL,
  `mp4_height` INT NULL,
  `mp4_fps` INT NULL,
  `mp4_motion` VARCHAR(64) NULL,
  `ai_model` VARCHAR(64) NULL,
  `ai_prompt` TEXT NULL,
  `ai_seed` BIGINT NULL,
  `ai_motion_bucket_id` INT NULL,
  `generation_secs` DECIMAL(7,2) NULL,
  `mind_filename` VARCHAR(255) NULL,
  `mind_path` VARCHAR(500) NULL,
  `mind_size` BIGINT NULL,
  `mind_compile_secs` DECIMAL(6,2) NULL,
  `created_by` INT NULL,
  `created_at` DATETIME NULL,
  `updated_at` DATETIME NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_object_image_ar_object` (`object_id`),
  KEY `idx_digital_object_id` (`digital_object_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collate}""",
    "image_ar_settings": """CREATE TABLE IF NOT EXISTS `image_ar_settings` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `setting_key` VARCHAR(100) NOT NULL,
  `setting_value` TEXT NULL,
  `setting_type` VARCHAR(32) NULL DEFAULT 'string',
  `description` VARCHAR(500) NULL,
  `updated_at` TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_image_ar_settings_key` (`setting_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collate}""",
}
HERATIO_COLLATION = "utf8mb4_unicode_ci"  # when the database's own charset is not utf8mb4
