"""Refused clips, kept for a look: ``{storage_root}/quarantine/{object_id}/``.

When the quality gate (:mod:`imagear.quality`) refuses a new clip, the clip is moved here rather
than deleted, so a curator can see what the model made, next to a JSON file that says why it
was refused (the checks, measured values, model, seed, time). The folder is outside
``uploads/``, so the web server never serves these files. Each record keeps at most
``ar_quality_quarantine_keep`` refused clips (the oldest go first); 0 keeps none.

Files are named ``{UTC time}_{model}_{failed checks}.mp4`` (+ ``.json``), so a listing sorts
oldest first. Filesystem only: no database.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from imagear.config import Config
from imagear.domain import to_json
from imagear.errors import QualityRejected, StorageError
from imagear.quality import Verdict, rejection

__all__ = ["keep", "listing", "prune", "quarantine_dir", "refuse"]


def quarantine_dir(config: Config, object_id: int) -> Path:
    """``{storage_root}/quarantine/{object_id}``."""
    return Path(config.storage_root) / "quarantine" / str(int(object_id))


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "clip"


def keep(
    config: Config,
    object_id: int,
    clip: Path,
    *,
    limit: int,
    model: str,
    checks: list[str],
    info: Mapping[str, object],
) -> Path | None:
    """Move the refused ``clip`` into the record's quarantine folder with a JSON note (``info``
    plus the time), then drop the oldest beyond ``limit``. Returns where it went, or None
    (``limit`` 0: the clip is deleted)."""
    if limit <= 0:
        clip.unlink(missing_ok=True)
        return None
    directory = quarantine_dir(config, object_id)
    now = datetime.now(UTC)
    stem = (
        f"{now:%Y%m%dT%H%M%S%f}_{_clean(model)}_{_clean('-'.join(checks))}_{secrets.token_hex(2)}"
    )
    target = directory / f"{stem}.mp4"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(clip, target)
        except OSError:  # another filesystem: copy, then remove
            shutil.copyfile(clip, target)
            clip.unlink(missing_ok=True)
        note = to_json({**info, "object_id": int(object_id), "refused_at": now})
        target.with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        for path in (clip, target, target.with_suffix(".json")):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        raise StorageError(
            f"Could not keep the refused clip in {directory}: {exc.strerror or exc}.",
            "Check free space and permissions under storage_root.",
        ) from exc
    prune(directory, limit)
    return target


def listing(directory: Path) -> list[Path]:
    """The quarantined clips of one folder, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.mp4"), key=lambda p: p.name)


def prune(directory: Path, limit: int) -> list[Path]:
    """Remove the oldest quarantined clips (and their notes) beyond ``limit``; the removed."""
    clips = listing(directory)
    removed = []
    for old in clips[: max(0, len(clips) - max(0, limit))]:
        for path in (old, old.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def refuse(
    config: Config,
    object_id: int,
    clip: Path,
    verdict: Verdict,
    *,
    limit: int,
    model: str,
    seed: int | None = None,
) -> QualityRejected:
    """Quarantine the refused ``clip`` (see :func:`keep`) and return the error to raise."""
    checks = [f.check for f in verdict.findings]
    info = {
        "model": model,
        "seed": seed,
        "refused": verdict.summary(),
        **verdict.as_dict(),
    }
    what = f"The new clip of record {int(object_id)}"
    try:
        kept = keep(config, object_id, clip, limit=limit, model=model, checks=checks, info=info)
    except StorageError as err:  # the refusal matters more than the copy kept for a look
        error = rejection(verdict, what)
        error.advice = f"The refused clip could not be kept: {err.message} {error.advice or ''}"
        return error
    return rejection(verdict, what, kept)
