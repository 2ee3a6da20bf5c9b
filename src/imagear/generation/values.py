"""The values that enter and leave the generation pipeline.

:class:`AnimateRequest` (one record, per-call overrides), :class:`AnimateOutcome` (what was
done) and :class:`NewClip`: the typed description of a clip to store, handed to
:func:`imagear.clips.commit_clip`, which turns it into the object_image_ar columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagear.domain import Clip
    from imagear.models import Wording


@dataclass
class AnimateRequest:
    """One record to animate, with per-call overrides.

    ``overrides``: num_frames, fps, motion_bucket_id, seed, prompt, width, height (None = not
    given). ``extra``: model options by name. ``in_process`` runs the model in this process
    even when ``ar_server_url`` is set (``imagear demo``). ``wording``: how the caller's front
    end names options in messages and notices (default: by their option names).
    """

    object_id: int
    model: str | None = None
    overrides: Mapping[str, object] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)
    force: bool = False
    in_process: bool = False
    wording: Wording | None = None
    # who asked, for object_image_ar.created_by (a web user: a Heratio user id on a Heratio
    # database, a name on imagear's own); None: the configured one (heratio.created_by)
    created_by: int | str | None = None
    # which front end asked (``animate``, ``web``, ``batch``): a gate refusal is audited as its
    via: str = "animate"


@dataclass
class AnimateOutcome:
    """What the pipeline did. ``animation`` is the record's clip (its object_image_ar row)."""

    object_id: int
    status: str  # "created" | "replaced" | "skipped"
    animation: Clip | None
    notices: list[str]
    file: Path | None
    mp4: dict[str, object] | None = None  # probed: duration_secs, frames, width, height, fps...
    message: str | None = None  # why it was skipped
    removed: list[Path] = field(default_factory=list)  # previous clip files deleted
    upload: dict[str, int] = field(default_factory=dict)  # the image as sent to the model
    poster: Path | None = None  # the first frame, JPEG, beside the clip (same stem)
    preview: Path | None = None  # the animated WebP preview, beside the clip (same stem)
    quality: dict[str, object] = field(default_factory=dict)  # the gate's measurements


@dataclass(frozen=True)
class NewClip:
    """A clip to store, as the pipeline knows it: the probed file, what made it, who made it.

    ``source_name`` (the master's file name) and ``model`` name the clip's file; the clips
    service (:func:`imagear.clips.commit_clip`) turns the rest into the object_image_ar row.
    """

    digital_object_id: int | None
    source_name: str
    size_bytes: int
    duration_secs: float
    width: int
    height: int
    fps: float
    motion: str  # the camera move, or ai-<model> for a generative model
    model: str
    prompt: str | None
    seed: int
    motion_bucket_id: int | None
    generation_secs: float
    created_by: int | str | None


__all__ = ["AnimateOutcome", "AnimateRequest", "NewClip"]
