"""The tables imagear reads and writes, with the AtoM/Heratio names and columns (REFERENCE.md
section 2), plus imagear's own ``image_ar_job`` (batch bookkeeping) and ``imagear_schema``
(version). Creation is ``checkfirst`` per table (:mod:`imagear.db.migrations`), so a database
that already has Heratio's tables keeps them as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Table, Text
from sqlmodel import Field, SQLModel

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
    where imagear.db.claims compares them with the server's own clock). See docs/batch.md.
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


# Core handles on the tables, for the statements of the data layer.
RECORDS: Table = InformationObject.__table__  # type: ignore[attr-defined]
FILES: Table = DigitalObject.__table__  # type: ignore[attr-defined]
CLIPS: Table = ObjectImageAr.__table__  # type: ignore[attr-defined]
SETTINGS: Table = ImageArSetting.__table__  # type: ignore[attr-defined]
JOB: Table = ImageArJob.__table__  # type: ignore[attr-defined]
