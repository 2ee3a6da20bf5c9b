"""Animate one record: check, resolve, validate, generate, store atomically, log.

The service behind ``imagear animate`` (and the root mirror ``imagear --object-id N``), used by
:mod:`imagear.batch` from a thread pool. :class:`Animator` is thread-safe: settings are read per
call, the HTTP client is shared, and each in-process engine runs one generation at a time.

Flow of :meth:`Animator.animate`: both toggles on (else FeatureDisabled) -> an existing clip is
skipped unless ``force`` -> the master image (RecordNotFound / NoMasterImage / ImageMissing /
UnsafePath) -> settings merged with the per-call values and validated by the model
(``resolve_generation``: InvalidOption, notices) -> seed 0 becomes a drawn random seed -> the
generator writes a ``.part`` file next to the destination -> probed as a real MP4 ->
:func:`imagear.clips.commit_clip` swaps it in atomically and logs the generation.

Services never print. Pass ``progress`` to hear what happens; it is called as
``progress(event, object_id=..., **data)`` with these events:

- ``notice``   message: a warning about the request (e.g. "svd ignores --prompt"), once each
- ``start``    model, remote (bool), url, params (dict of what is sent)
- ``phase``    phase ("prepare" | "generate" | "probe" | "store"), message
- ``upload``   width, height, bytes: the prepared image (remote only)
- ``transfer`` done, total: bytes of the clip received so far (remote only)
- ``done``     status ("created" | "replaced" | "skipped")
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagear import clips, store
from imagear import settings as settings_svc
from imagear.app import App
from imagear.client import Health
from imagear.db import clips as clips_db
from imagear.errors import BadResponse, MediaError, RecordNotFound
from imagear.generators import Generator, Job, LocalGenerator, RemoteGenerator, oriented_size
from imagear.models import get_model, random_seed, resolve_generation
from imagear.records import master_image

if TYPE_CHECKING:
    import httpx


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class AnimateRequest:
    """One record to animate, with per-call overrides.

    ``overrides``: num_frames, fps, motion_bucket_id, seed, prompt, width, height (None = not
    given). ``extra``: model options as ``-o KEY=VALUE`` gives them. ``in_process`` runs the
    model in this process even when ``ar_server_url`` is set (``imagear demo``).
    """

    object_id: int
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    in_process: bool = False


@dataclass
class AnimateOutcome:
    """What :meth:`Animator.animate` did. ``animation`` is the object_image_ar row."""

    object_id: int
    status: str  # "created" | "replaced" | "skipped"
    animation: dict[str, Any] | None
    notices: list[str]
    file: Path | None
    mp4: dict[str, Any] | None = None  # probed: duration_secs, frames, width, height, fps, ...
    message: str | None = None  # why it was skipped
    removed: list[Path] = field(default_factory=list)  # previous clip files deleted
    upload: dict[str, Any] = field(default_factory=dict)  # the image as sent to the model

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO 8601 text, paths as text)."""
        return _jsonable(asdict(self))  # type: ignore[no-any-return]


class Animator:
    """Animate records. Thread-safe for concurrent :meth:`animate` calls; close it when done.

    ``transport`` replaces the network of the HTTP client (tests); ``request_timeout``
    overrides ``ar_request_timeout`` (seconds, total per request); ``client_options`` are passed
    to :class:`~imagear.client.VideoClient` (e.g. ``max_retries``, ``sleep``).
    """

    def __init__(
        self,
        app: App,
        *,
        transport: httpx.BaseTransport | None = None,
        progress: Callable[..., None] | None = None,
        request_timeout: float | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        _ = app.engine  # open (create, upgrade) the database once, before any thread
        self._transport = transport
        self._progress = progress
        self._request_timeout = request_timeout
        self._client_options = client_options or {}
        self._lock = threading.Lock()
        self._remotes: dict[tuple[str, str, float], RemoteGenerator] = {}
        self._local = LocalGenerator(app.config)

    # -- plumbing ----------------------------------------------------------------------------

    def __enter__(self) -> Animator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP clients and release in-process engines."""
        with self._lock:
            remotes, self._remotes = list(self._remotes.values()), {}
        for remote in remotes:
            remote.close()
        self._local.close()

    def settings(self) -> settings_svc.Settings:
        """The image_ar_settings values, typed."""
        return settings_svc.get_all(self.app.engine)

    def _generator(self, settings: settings_svc.Settings, in_process: bool = False) -> Generator:
        url = settings.ar_server_url
        if in_process or not url:
            return self._local
        timeout = self._request_timeout or max(60.0, float(settings.ar_request_timeout))
        key = (url, self.app.config.server_token, timeout)
        with self._lock:
            remote = self._remotes.get(key)
            if remote is None:
                remote = RemoteGenerator(
                    url,
                    token=self.app.config.server_token,
                    timeout=timeout,
                    transport=self._transport,
                    client_options=self._client_options,
                )
                self._remotes[key] = remote
            return remote

    def _emit(self, event: str, object_id: int | None = None, **data: Any) -> None:
        if self._progress is not None:
            self._progress(event, object_id=object_id, **data)

    # -- health ------------------------------------------------------------------------------

    def health(self) -> Health:
        """The server's /health, or (empty ``ar_server_url``) what runs in this process."""
        settings = self.settings()
        return self._generator(settings).health(settings)

    def check_ready(self, model: str | None = None) -> Health:
        """Fail fast before work: ServerUnreachable, ModelNotAvailable or EngineUnavailable."""
        settings = self.settings()
        desc = get_model(model or settings.ar_model)
        return self._generator(settings).check_ready(desc, settings)

    # -- animate -----------------------------------------------------------------------------

    def animate(self, req: AnimateRequest) -> AnimateOutcome:
        """Generate, store and log one record's clip (see the module docstring for the flow)."""
        oid = int(req.object_id)
        emit = functools.partial(self._emit, object_id=oid)
        settings = self.settings()
        settings.require_generation()
        config = self.app.config
        directory = store.record_dir(config, oid)
        store.sweep_parts(directory)  # .part files of runs that died (killed, power loss)
        found = clips_db.lookup(self.app.engine, oid)
        if not found.record_exists:
            raise RecordNotFound(f"Record {oid} does not exist.")
        if found.clip is not None and not req.force:
            existing = found.clip
            emit("done", status="skipped")
            return AnimateOutcome(
                oid,
                "skipped",
                existing,
                [],
                store.file_of(config, existing),
                message=f"Record {oid} already has an animation ({existing['mp4_path']}); "
                "pass --force to replace it.",
            )
        master = master_image(self.app, oid, found.master)

        from imagear.media import open_image

        with open_image(master.file, load=False) as img:
            image_size = oriented_size(img)
        resolved = resolve_generation(
            req.model or settings.ar_model,
            settings.model_dump(),
            req.overrides,
            req.extra,
            image_size,
        )
        desc, options = resolved.descriptor, resolved.options
        if not options.seed:
            options = options.model_copy(update={"seed": random_seed()})
        for notice in resolved.notices:
            emit("notice", message=notice)
        generator = self._generator(settings, req.in_process)
        job = Job(
            oid,
            desc,
            options,
            master.file,
            tuple(k.strip().lower().replace("-", "_") for k in req.extra),
        )
        params = (
            generator.fields(job)
            if isinstance(generator, RemoteGenerator)
            else options.model_dump()
        )
        emit(
            "start",
            model=desc.name,
            remote=generator.remote,
            url=getattr(generator, "url", None),
            params={k: v for k, v in params.items() if v is not None and k != "model"},
        )

        with store.part_file(directory, desc.name) as part:
            emit("phase", phase="generate", message=_waiting(desc.name, generator))
            generated = generator.generate(job, part.path, emit)
            emit("phase", phase="probe", message="checking the clip")
            info = self._probe(part.path, generator)
            emit("phase", phase="store", message="storing the clip")
            motion = generated.motion
            if not motion:
                kb_motion = getattr(options, "motion", None)
                motion = str(kb_motion) if desc.family == "kenburns" and kb_motion else None
            values = {
                "digital_object_id": master.digital_object_id,
                "mp4_size": info.size_bytes,
                "mp4_duration_secs": info.duration_secs,
                "mp4_width": info.width,
                "mp4_height": info.height,
                "mp4_fps": info.fps,
                "mp4_motion": motion or f"ai-{generated.model}",
                "ai_model": generated.model,
                "ai_prompt": generated.prompt,
                "ai_seed": generated.seed,
                "ai_motion_bucket_id": generated.motion_bucket_id,
                "generation_secs": generated.generation_secs,
                "created_by": config.user,
            }
            stored = clips.commit_clip(
                self.app,
                oid,
                part,
                model=generated.model,
                source_name=master.name,
                values=values,
                force=req.force,
            )
        notices = list(resolved.notices)
        message = None
        if stored.status == "skipped":
            message = (
                f"Record {oid} got an animation from another run meanwhile; it was kept and "
                "this clip discarded (pass --force to replace it)."
            )
        emit("done", status=stored.status)
        return AnimateOutcome(
            oid,
            stored.status,
            stored.animation,
            notices,
            stored.file,
            mp4=asdict(info) if stored.status != "skipped" else None,
            message=message,
            removed=stored.removed,
            upload=generated.upload,
        )

    @staticmethod
    def _probe(path: Path, generator: Generator) -> Any:
        from imagear.media import probe_mp4

        try:
            return probe_mp4(path)
        except MediaError as err:
            if generator.remote:
                raise BadResponse(
                    f"The image-to-video server sent a clip that is not a playable MP4: "
                    f"{err.message}",
                    "The clip was not saved; check the server's log.",
                ) from err
            raise

    # -- delete / recent ---------------------------------------------------------------------

    def delete(self, object_id: int) -> dict[str, Any]:
        """Remove the record's animation row, then its MP4. AnimationNotFound when none."""
        return _jsonable(clips.delete_clip(self.app, int(object_id)))  # type: ignore[no-any-return]

    def recent(self, n: int = 5) -> tuple[list[dict[str, Any]], int]:
        """The last ``n`` clips (newest first) and how many there are in all."""
        rows, total = clips.recent_clips(self.app, n)
        return [_jsonable(r) for r in rows], total


def _waiting(model: str, generator: Generator) -> str:
    if generator.remote:
        return f"waiting for the server at {getattr(generator, 'url', '?')}"
    return "generating in this process"


__all__ = ["AnimateOutcome", "AnimateRequest", "Animator", "random_seed"]
