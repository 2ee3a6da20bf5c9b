"""The provenance service: a stored clip's (or any file's) Content Credentials validated, for
``imagear verify`` and ``imagear check``; services never print.

A clip without credentials is ``missing``, or ``unsigned`` when this install turned provenance
off (``ar_provenance`` 0: "unsigned by choice").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imagear import store
from imagear.errors import AnimationNotFound, NotFound, RecordNotFound, UsageError
from imagear.provenance.read import Credentials, read_credentials

if TYPE_CHECKING:
    from imagear.app import App


def _unsigned_by_choice(app: App, found: Credentials) -> Credentials:
    from imagear import settings as settings_svc

    if found.state == "missing" and not settings_svc.get_all(app.engine).ar_provenance:
        found.state = "unsigned"
    return found


def clip_file(app: App, object_id: int) -> Path:
    """The file of a record's clip (RecordNotFound, AnimationNotFound, NotFound)."""
    from imagear.db import clips as clips_db

    found = clips_db.lookup(app.engine, object_id)
    if not found.record_exists:
        raise RecordNotFound(f"Record {object_id} does not exist.", params={"object_id": object_id})
    if found.clip is None:
        raise AnimationNotFound(
            f"Record {object_id} has no animation.", params={"object_id": object_id}
        )
    path = store.file_of(app.config, found.clip)
    if path is None or not path.is_file():
        raise NotFound(
            f"The clip of record {object_id} ({found.clip.mp4_path}) is not on disk.",
            "{see:records}",
        )
    return path


def verify(app: App, object_id: int | None = None, file: Path | None = None) -> Credentials:
    """Validate the credentials of record ``object_id``'s clip, or of ``file``."""
    if (object_id is None) == (file is None):
        raise UsageError("Name one clip: a record id or a file, not both and not neither.")
    if file is not None:
        if not file.is_file():
            raise NotFound(f"{file} is not a file.")
        return _unsigned_by_choice(app, read_credentials(file))
    assert object_id is not None
    found = read_credentials(clip_file(app, object_id))
    found.object_id = object_id
    return _unsigned_by_choice(app, found)


def audit_problem(path: Path) -> tuple[str | None, str | None]:
    """For ``imagear check``: (a problem: the clip's bytes no longer match its credentials,
    or None; why the check was skipped, or None)."""
    from imagear.errors import EngineUnavailable

    try:
        found = read_credentials(path)
    except EngineUnavailable as err:
        return None, err.message
    if found.state == "missing":
        return None, "the clip carries no Content Credentials"
    if found.state == "invalid":
        return "its Content Credentials do not validate: " + "; ".join(found.problems), None
    return None, None


__all__ = ["audit_problem", "clip_file", "verify"]
