"""Animate one record: check, resolve, validate, generate, store atomically, log.

The service behind ``imagear animate`` (and the root mirror ``imagear --object-id N``), used by
:mod:`imagear.batch` from a thread pool. :class:`Animator` is thread-safe: settings are read per
call, the HTTP client is shared, and each in-process engine runs one generation at a time.

Flow of :meth:`Animator.animate`: both toggles on (else FeatureDisabled) -> the record exists
(RecordNotFound) -> an existing clip is skipped unless ``force``, once the model and the per-call
values were checked (:meth:`Animator.validate`: a typo fails whatever the record's state) -> the
master image (RecordNotFound / NoMasterImage / ImageMissing /
UnsafePath) -> settings merged with the per-call values and validated by the model
(``resolve_generation``: InvalidOption, notices) -> a clip longer than the database can
record is refused (:func:`imagear.heratio.check_duration`: InvalidOption, nothing generated) ->
seed 0 becomes a drawn random seed -> the
generator writes a ``.part`` file next to the destination -> probed as a real MP4 -> the quality
gate (:mod:`imagear.quality`) decodes every frame: a refused clip goes to the record's quarantine
folder and QualityRejected is raised (nothing replaced) -> its poster and preview are written
from the same decode -> :func:`imagear.clips.commit_clip` swaps the three in atomically and logs
the generation.

Services never print. Pass ``progress`` to hear what happens; it is called as
``progress(event, object_id=..., **data)`` with these events:

- ``notice``   message: a warning about the request (e.g. "svd ignores --prompt"), once each
- ``start``    model, remote (bool), url, params (dict of what is sent), replacing (bool: the
  record has a clip, which this one replaces when it is stored)
- ``phase``    phase ("prepare" | "generate" | "probe" | "check" | "store"), message
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

from imagear import clips, heratio, store
from imagear import settings as settings_svc
from imagear.app import App
from imagear.client import Health
from imagear.db import clips as clips_db
from imagear.domain import Clip, json_object
from imagear.errors import (
    BadResponse,
    ImagearError,
    InvalidOption,
    MediaError,
    NotFound,
    RecordNotFound,
)
from imagear.generators import (
    Generator,
    Job,
    LocalGenerator,
    RemoteGenerator,
    default_model_problem,
    oriented_size,
)
from imagear.models import OPTION_NAMES, Wording, get_model, random_seed, resolve_generation
from imagear.pool import PoolGenerator, pool_urls
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
    given). ``extra``: model options by name. ``in_process`` runs the model in this process
    even when ``ar_server_url`` is set (``imagear demo``). ``wording``: how the caller's front
    end names options in messages and notices (default: by their option names).
    """

    object_id: int
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    in_process: bool = False
    wording: Wording | None = None


@dataclass
class AnimateOutcome:
    """What :meth:`Animator.animate` did. ``animation`` is the object_image_ar row."""

    object_id: int
    status: str  # "created" | "replaced" | "skipped"
    animation: Clip | None
    notices: list[str]
    file: Path | None
    mp4: dict[str, Any] | None = None  # probed: duration_secs, frames, width, height, fps, ...
    message: str | None = None  # why it was skipped
    removed: list[Path] = field(default_factory=list)  # previous clip files deleted
    upload: dict[str, Any] = field(default_factory=dict)  # the image as sent to the model
    poster: Path | None = None  # the first frame, JPEG, beside the clip (same stem)
    preview: Path | None = None  # the animated WebP preview, beside the clip (same stem)
    quality: dict[str, Any] = field(default_factory=dict)  # the gate's measurements

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
        self._remotes: dict[tuple[tuple[str, ...], str, float], RemoteGenerator] = {}
        self._local = LocalGenerator(app.config)
        self._route_warned = False  # the route warning is given once per Animator

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

    def route(
        self, settings: settings_svc.Settings | None = None, in_process: bool = False
    ) -> heratio.Route:
        """Where generation requests go (``server_url`` in imagear.toml, else the database's
        ``ar_server_url``), why, and a warning when Heratio would read the row differently."""
        settings = settings if settings is not None else self.settings()
        shared = heratio.is_shared(self.app)
        return heratio.route(self.app.config, settings, shared, in_process)

    def _generator(self, settings: settings_svc.Settings, in_process: bool = False) -> Generator:
        route = self.route(settings, in_process)
        url = route.url
        if url is None:
            return self._local
        # advice names the setting that chose the server (imagear.toml's, or the database's)
        setting = "server_url" if route.source.startswith("server_url") else "ar_server_url"
        timeout = self._request_timeout or max(60.0, float(settings.ar_request_timeout))
        # ar_server_pool adds servers to the one the route names (imagear.pool)
        urls = tuple(pool_urls(url, settings.ar_server_pool))
        key = (urls, self.app.config.server_token, timeout)
        with self._lock:
            remote = self._remotes.get(key)
            if remote is None:
                cap = int(self.app.config.max_clip_mb * 1024 * 1024)  # refused while streaming
                options: dict[str, Any] = {
                    "token": self.app.config.server_token,
                    "timeout": timeout,
                    "transport": self._transport,
                    "client_options": {
                        "max_clip_bytes": cap,
                        "setting": setting,
                        **self._client_options,
                    },
                }
                if len(urls) > 1:
                    remote = PoolGenerator(urls, **options)
                else:
                    remote = RemoteGenerator(url, **options)
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

    def check_ready(self, model: str | None = None, wording: Wording | None = None) -> Health:
        """Fail fast before work: ServerUnreachable, ModelNotAvailable or EngineUnavailable
        (for the default model with no server set, worded for a first run, as animate says
        it; ``wording``: how the front end chooses a model)."""
        settings = self.settings()
        desc = get_model(model or settings.ar_model)
        generator = self._generator(settings)
        if not generator.remote and model is None:
            problem = default_model_problem(desc, self.app.config, wording)
            if problem is not None:
                raise problem
        return generator.check_ready(desc, settings)

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
        wording = req.wording or OPTION_NAMES
        if found.clip is not None and not req.force:
            self.validate(req, settings)  # a typo fails whatever the record's state
            existing = found.clip
            emit("done", status="skipped")
            return AnimateOutcome(
                oid,
                "skipped",
                existing,
                [],
                store.file_of(config, existing),
                message=f"Record {oid} already has an animation ({existing.mp4_path}); "
                f"pass {wording.label('force', 'option')} to replace it.",
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
            wording=req.wording,
        )
        desc, options = resolved.descriptor, resolved.options
        # a clip the database cannot record is refused before anything is generated
        heratio.check_duration(self.app.engine, options.num_frames, options.fps, desc.name)
        if not options.seed:
            options = options.model_copy(update={"seed": random_seed()})
        for notice in resolved.notices:
            emit("notice", message=notice)
        route = self.route(settings, req.in_process)
        if route.warning and not self._route_warned:
            self._route_warned = True
            emit("notice", message=route.warning)
        generator = self._generator(settings, req.in_process)
        if not generator.remote and req.model is None:  # the default model, no server set
            problem = default_model_problem(desc, self.app.config, wording)
            if problem is not None:
                raise problem
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
            replacing=found.clip is not None,
        )

        with store.part_file(directory, desc.name) as part:
            emit("phase", phase="generate", message=_waiting(desc.name, generator))
            generated = generator.generate(job, part.path, emit)
            emit("phase", phase="probe", message="checking the clip")
            info = self._probe(part.path, generator)
            emit("phase", phase="check", message="checking the clip's frames")
            verdict = self._check(oid, part.path, settings, job, generated, generator)
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
                "created_by": heratio.created_by(config, heratio.is_shared(self.app)),
            }
            from imagear.media.preview import write_poster, write_preview

            with (
                store.part_file(directory, desc.name, store.POSTER_SUFFIX) as poster,
                store.part_file(directory, desc.name, store.PREVIEW_SUFFIX) as preview,
            ):
                write_poster(verdict.scan, poster.path)
                write_preview(verdict.scan, preview.path)
                stored = clips.commit_clip(
                    self.app,
                    oid,
                    part,
                    model=generated.model,
                    source_name=master.name,
                    values=values,
                    force=req.force,
                    companions={store.POSTER_SUFFIX: poster, store.PREVIEW_SUFFIX: preview},
                )
        notices = list(resolved.notices)
        message = None
        if stored.status == "skipped":
            message = (
                f"Record {oid} got an animation from another run meanwhile; it was kept and "
                f"this clip discarded (pass {wording.label('force', 'option')} to replace it)."
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
            poster=stored.companions.get(store.POSTER_SUFFIX),
            preview=stored.companions.get(store.PREVIEW_SUFFIX),
            quality={k: v for k, v in verdict.as_dict().items() if k in ("measured", "skipped")},
        )

    def validate(self, req: AnimateRequest, settings: settings_svc.Settings) -> None:
        """What a typo in the request fails, without the master image: the model is known
        (UnknownModel), the per-call values are valid for it (InvalidOption) and the clip fits
        the database (InvalidOption). Values that depend on the image's size are checked when
        the record is generated."""
        name = req.model or settings.ar_model
        get_model(name)
        try:
            resolved = resolve_generation(
                name, settings.model_dump(), req.overrides, req.extra, None, wording=req.wording
            )
        except (InvalidOption, NotFound):
            raise
        except ImagearError:
            return  # about the image rather than the request: said when it is generated
        o = resolved.options
        heratio.check_duration(self.app.engine, o.num_frames, o.fps, resolved.descriptor.name)

    def _check(
        self,
        oid: int,
        path: Path,
        settings: settings_svc.Settings,
        job: Job,
        generated: Any,
        generator: Generator,
    ) -> Any:
        """The quality gate on the new clip (keeping poster and preview frames): its Verdict,
        or QualityRejected raised after the clip was quarantined."""
        from imagear import quality, quarantine
        from imagear.media.scan import PreviewSpec, load_reference

        desc = job.descriptor
        reference = generated.reference
        if reference is None and desc.takes_image:
            reference = load_reference(job.source)
        try:
            verdict = quality.inspect(
                path,
                expected=quality.Expected.from_options(job.options),
                reference=reference,
                takes_image=desc.takes_image,
                thresholds=quality.Thresholds.from_settings(settings),
                preview=PreviewSpec(),
            )
        except MediaError as err:
            if generator.remote:
                raise _unplayable(err) from err
            raise
        if verdict.ok:
            return verdict
        raise quarantine.refuse(
            self.app.config,
            oid,
            path,
            verdict,
            limit=settings.ar_quality_quarantine_keep,
            model=generated.model,
            seed=generated.seed,
        )

    @staticmethod
    def _probe(path: Path, generator: Generator) -> Any:
        from imagear.media import probe_mp4

        try:
            return probe_mp4(path)
        except MediaError as err:
            if generator.remote:
                raise _unplayable(err) from err
            raise

    # -- delete / recent ---------------------------------------------------------------------

    def delete(self, object_id: int) -> dict[str, Any]:
        """Remove the record's animation row, then its MP4. AnimationNotFound when none."""
        return json_object(clips.delete_clip(self.app, int(object_id)))

    def recent(self, n: int = 5) -> tuple[list[dict[str, Any]], int]:
        """The last ``n`` clips (newest first) and how many there are in all."""
        rows, total = clips.recent_clips(self.app, n)
        return [json_object(r) for r in rows], total


def _unplayable(err: MediaError) -> BadResponse:
    return BadResponse(
        f"The image-to-video server sent a clip that is not a playable MP4: {err.message}",
        "The clip was not saved; check the server's log.",
    )


def _waiting(model: str, generator: Generator) -> str:
    if generator.remote:
        return f"waiting for the server at {getattr(generator, 'url', '?')}"
    return "generating in this process"


__all__ = ["AnimateOutcome", "AnimateRequest", "Animator", "random_seed"]
