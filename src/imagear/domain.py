"""Typed domain objects: what :mod:`imagear.db` makes, the services pass on and each front end
(the CLI, the web console and its script, the server) renders, and :func:`to_json`, the one way
they become JSON.

Light on purpose (dataclasses only: no pydantic, no SQLAlchemy), so any layer may import it.

One JSON convention (docs/json.md): times are aware datetimes here and ISO 8601 with their zone
in JSON (``2026-12-04T12:00:00+00:00``); paths are text; a dataclass is an object with its
fields in declaration order (a field marked :data:`FLAT` adds its own fields in its place; one
marked :data:`HIDDEN` is left out). The field names are the JSON keys, so the shapes of
docs/json.md are the field lists below.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import TypeAlias

JSON: TypeAlias = "None | bool | int | float | str | list[JSON] | dict[str, JSON]"
JSONObject: TypeAlias = "dict[str, JSON]"

FLAT = {"json": "flat"}  # field(metadata=FLAT): its fields go in its place in the parent object
HIDDEN = {"json": "hidden"}  # field(metadata=HIDDEN): not in the JSON


def to_json(obj: object) -> JSON:
    """``obj`` as JSON data (see the module's docstring for the convention)."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return to_json(obj.value)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: JSONObject = {}
        for f in dataclasses.fields(obj):
            how = f.metadata.get("json")
            if how == "hidden":
                continue
            value = to_json(getattr(obj, f.name))
            if how == "flat":
                if isinstance(value, dict):
                    out.update(value)
                continue
            out[f.name] = value
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_json(v) for v in obj]
    return str(obj)


def json_object(obj: object) -> JSONObject:
    """:func:`to_json` of an object that is one (a dataclass, a mapping)."""
    data = to_json(obj)
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__} is not a JSON object")
    return data


# -- clips -------------------------------------------------------------------------------------


@dataclass
class Clip:
    """A record's clip: its ``object_image_ar`` row, as imagear and Heratio share it.

    The field names are the table's column names, in its order (Heratio's ``ahg-image-ar``
    reads them, and docs/json.md promises them as the JSON keys). Times are aware: on an
    AtoM/Heratio database, in the configured zone; on imagear's own, UTC.
    """

    id: int | None
    object_id: int
    digital_object_id: int | None = None
    mp4_filename: str | None = None
    mp4_path: str | None = None
    mp4_size: int | None = None
    mp4_duration_secs: float | None = None
    mp4_width: int | None = None
    mp4_height: int | None = None
    mp4_fps: float | None = None
    mp4_motion: str | None = None
    ai_model: str | None = None
    ai_prompt: str | None = None
    ai_seed: int | None = None
    ai_motion_bucket_id: int | None = None
    generation_secs: float | None = None
    created_by: str | int | None = None  # Heratio's column is an INT (a user id)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def has_video(self) -> bool:
        """Whether the row names a video: Heratio treats a row without ``mp4_path`` (a
        generation it logged and never finished) as no video, and so does imagear."""
        return bool(self.mp4_path and self.mp4_path.strip())

    @property
    def dimensions(self) -> str | None:
        """``WxH``, or None when the row does not say (Heratio writes rows without them)."""
        if not self.mp4_width or not self.mp4_height:
            return None
        return f"{self.mp4_width}x{self.mp4_height}"


CLIP_FIELDS = tuple(f.name for f in dataclasses.fields(Clip))


@dataclass
class RecentClip:
    """One of ``imagear recent``'s clips: the clip, its record's identifier and title, and
    its poster and preview files (None: it has none)."""

    clip: Clip = field(metadata=FLAT)
    identifier: str | None = None
    poster: str | None = None
    preview: str | None = None
    title: str | None = None


@dataclass
class DeletedClip:
    """What deleting a record's clip did: the row that was deleted, the MP4 (None: its stored
    path would leave storage_root, so no file was touched), whether that file was removed,
    and every file removed (the MP4, its poster and preview)."""

    clip: Clip = field(metadata=FLAT)
    file: str | None = None
    file_removed: bool = False
    removed: list[str] = field(default_factory=list)


# -- records -----------------------------------------------------------------------------------


@dataclass
class MasterImage:
    """A record's master image (its ``digital_object`` row), located on disk."""

    digital_object_id: int
    usage_id: int | None
    mime_type: str | None
    name: str
    path: str
    byte_size: int | None
    checksum: str | None
    file: Path  # where it is on disk (checked to be inside images_root)


@dataclass
class RecordSummary:
    """A record as ``records list`` shows it."""

    id: int
    identifier: str | None
    title: str | None
    has_master: bool = False
    has_animation: bool = False


@dataclass
class Record:
    """The record view (``records show``, the web record page): a record, its master image
    and its clip."""

    id: int
    identifier: str | None
    title: str | None
    master: MasterImage | None = None
    animation: Clip | None = None
    has_master: bool = False
    has_animation: bool = False


@dataclass
class ImportFailure:
    """A CSV row ``records import`` could not import."""

    line: int
    error: str


@dataclass
class ImportSkip:
    """A CSV row ``records import`` skipped (its identifier exists)."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What ``records import`` did: the records added, the rows in error and those skipped."""

    added: list[Record] = field(default_factory=list)
    errors: list[ImportFailure] = field(default_factory=list)
    skipped: list[ImportSkip] = field(default_factory=list)


@dataclass
class GridRow:
    """A record on one page of the web console's grid: whether it has a master image, its
    clip, its curator's verdict and its batch job's state."""

    id: int
    identifier: str | None
    title: str | None
    has_master: bool = False
    animation: Clip | None = None
    review: str | None = None  # approved | rejected | None
    job_status: str | None = None
    job_error: str | None = None
    job_error_kind: str | None = None


@dataclass
class Review:
    """A curator's verdict on a record's clip."""

    object_id: int
    state: str  # approved | rejected
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None


@dataclass
class ClipAudit:
    """One record's clip, audited (``imagear check``). ``problems``: each with ``check`` (row,
    file, decode, or a gate check: black, blank, frozen, resemblance, frames, size, fps) and
    ``message`` (a gate check adds ``measured`` and ``limit``); none when the clip passes."""

    object_id: int
    ok: bool = True  # no problem (kept by :meth:`problem`)
    file: Path | None = None
    poster: Path | None = None  # None: the clip has no poster frame beside it
    preview: Path | None = None  # None: the clip has no preview beside it
    problems: list[dict[str, object]] = field(default_factory=list)
    measured: dict[str, object] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def problem(self, check: str, message: str, **extra: object) -> None:
        self.problems.append({"check": check, "message": message, **extra})
        self.ok = False


# -- the batch ---------------------------------------------------------------------------------


@dataclass
class RunningClaim:
    """A record a batch runner holds now (``batch status``)."""

    object_id: int
    runner: str | None
    attempts: int
    since: datetime | None
    expires_at: datetime | None
    expired: bool = False


@dataclass
class Finished:
    """A record the batch finished."""

    object_id: int
    finished_at: datetime | None


@dataclass
class JobCounts:
    """The ``image_ar_job`` rows per status."""

    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    given_up: int = 0


@dataclass
class BatchProgress:
    """How the batch is getting on (``batch status``, the web's ``/batch``): the rows per
    status, the claims held now, the recent rate and, from it, the time left. Read from
    ``image_ar_job`` alone, at ``now`` (the database's clock, aware UTC)."""

    now: datetime
    counts: JobCounts
    total: int = 0
    to_do: int = 0  # pending, running and failed (retried later)
    active: bool = False  # some runner holds a claim that has not expired
    running: list[RunningClaim] = field(default_factory=list)
    done_last_10_min: int = 0
    done_last_hour: int = 0
    per_minute: float = 0.0  # over the run's window: first to last finish (to now if active)
    eta_secs: float | None = None  # None: no run going, no rate, or nothing pending/running
    last_done: list[Finished] = field(default_factory=list)
    next_retry_at: datetime | None = None


@dataclass
class JobFailure:
    """A record whose last batch attempt failed (``batch failures``)."""

    object_id: int
    identifier: str | None
    status: str  # failed | given_up | pending (with an error)
    attempts: int
    error_kind: str | None
    error: str | None
    next_attempt_at: datetime | None
    claimed_by: str | None
    updated_at: datetime | None


@dataclass
class PlannedRecord:
    """A record a batch run would take now (``batch --dry-run``)."""

    object_id: int
    identifier: str | None
    title: str | None
    status: str  # new | pending | failed | expired claim | ...
    attempts: int
    last_error_kind: str | None


@dataclass
class ItemReport:
    """One record's outcome in a batch run, as ``batch --json`` lists a failure."""

    object_id: int
    outcome: str  # created | replaced | skipped | failed | given_up | released
    secs: float  # in all, waits included
    generation_secs: float | None
    wait_secs: float  # waiting for a generation slot
    attempts: int
    error_kind: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class NamedReport:
    """A record named with ``--object-id`` that a batch run does not take, and why."""

    object_id: int
    reason: str  # missing | no_master | has_clip | waiting | given_up | running | done_since
    not_found: bool
    message: str
    advice: str | None = None  # what to do (a front end's words), when it is not found


@dataclass
class StopReport:
    """What stopped a batch run early."""

    kind: str
    error: str


@dataclass
class BatchReport:
    """A batch run (``batch --json``)."""

    runner: str
    mode: str
    planned: int
    done: int
    created: int
    replaced: int
    skipped: int
    failed: int
    given_up: int
    released: int
    given_back: list[int]  # the ids of the ``released`` records
    reopened: list[int]
    failures: list[ItemReport]
    given_up_total: int
    given_up_earlier: int
    named: list[NamedReport]
    waiting: int
    next_retry_at: datetime | None
    interrupted: bool
    stopped: StopReport | None
    elapsed_secs: float
    exit_code: int


@dataclass
class DryRunReport:
    """What a batch run would take now (``batch --dry-run --json``)."""

    dry_run: bool  # always True: tells the document from a run's
    count: int
    total: int
    limit: int | None
    records: list[PlannedRecord]
    named: list[NamedReport]
    exit_code: int


__all__ = [
    "CLIP_FIELDS",
    "FLAT",
    "HIDDEN",
    "JSON",
    "BatchProgress",
    "BatchReport",
    "DryRunReport",
    "ItemReport",
    "NamedReport",
    "StopReport",
    "RunningClaim",
    "Clip",
    "ClipAudit",
    "DeletedClip",
    "Finished",
    "GridRow",
    "ImportFailure",
    "ImportReport",
    "ImportSkip",
    "JSONObject",
    "JobCounts",
    "JobFailure",
    "MasterImage",
    "PlannedRecord",
    "RecentClip",
    "Record",
    "RecordSummary",
    "Review",
    "json_object",
    "to_json",
]
