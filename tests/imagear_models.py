"""imagear's own tables as SQLModel classes, for tests that read and write rows through an ORM
session (``sqlmodel.Session``: ``s.add(ObjectImageAr(...))``, ``s.exec(select(...))``).

imagear itself defines these tables with SQLAlchemy Core (:mod:`imagear.db.schema`,
:mod:`imagear.db.review`: no ORM and no SQLModel at start-up, issue 27); these are the same
tables, column for column, and ``tests/test_schema_core.py`` checks that both produce the same
``CREATE TABLE`` and indexes on SQLite, PostgreSQL and MySQL. They live in SQLModel's own
metadata and are never used to create a table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, String, Text
from sqlmodel import Field, SQLModel

from imagear.db.schema import AWARE, DOUBLE, JOB_ERROR_INDEX, JOB_INDEX, utcnow


class InformationObject(SQLModel, table=True):
    """A catalogue record (enough of AtoM's information_object to run standalone)."""

    __tablename__ = "information_object"
    # MySQL cannot index all of a VARCHAR(1024) in utf8mb4: a 255-character prefix there
    __table_args__ = (Index("ix_information_object_identifier", "identifier", mysql_length=255),)
    id: int | None = Field(default=None, primary_key=True)
    identifier: str | None = Field(default=None, max_length=1024)
    title: str | None = Field(
        default=None, sa_column=Column(Text().with_variant(String(1024), "mysql", "mariadb"))
    )


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
    __table_args__ = {"sqlite_autoincrement": True}
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


class ImageArJob(SQLModel, table=True):
    """Batch bookkeeping per record: who holds it, how often it failed, when to retry (v2).

    status: pending | running (claimed_by holds it until claim_expires_at) | done | failed
    (retry at next_attempt_at) | given_up. Times are timezone-aware (TIMESTAMPTZ on PostgreSQL,
    where imagear.db.claims compares them with the server's own clock). See docs/batch.md.
    """

    __tablename__ = "image_ar_job"
    # claims walk (status, object_id) in order and stop after a few rows
    __table_args__ = (
        Index(JOB_INDEX, "status", "object_id"),
        Index(JOB_ERROR_INDEX, "last_error_kind", "object_id"),
    )
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


class ImagearReview(SQLModel, table=True):
    """A curator's verdict on a record's clip (schema v3)."""

    __tablename__ = "imagear_review"
    object_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    state: str = Field(max_length=20)
    reviewed_by: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, max_length=1000)
    reviewed_at: datetime = Field(default_factory=utcnow, sa_type=AWARE)
    clip_path: str | None = Field(default=None, max_length=500)  # the mp4_path judged (v5)
    clip_sha256: str | None = Field(default=None, max_length=64)  # its file's checksum (v5)


ALL = (
    InformationObject,
    DigitalObject,
    ObjectImageAr,
    ImageArSetting,
    ImageArJob,
    ImagearSchema,
    ImagearReview,
)
