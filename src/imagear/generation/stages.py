"""The stages of the generation pipeline, each a small function with typed input and output.

- :func:`resolve`: both toggles on, the record exists, an existing clip is kept unless
  ``force`` (:func:`validate` still fails a typo), the master image, the settings merged with
  the per-call values and validated by the model, a clip the database cannot record refused,
  seed 0 drawn -> :class:`Resolved` (or the skipped :class:`AnimateOutcome`);
- :func:`route`: the generator (:class:`~imagear.generation.router.Router`), and for the
  default model with no server, why it cannot run here -> :class:`Routed`;
- :func:`generate`: the generator prepares the image, the permit is taken, the clip is written
  to ``dest``, the permit given back -> :class:`Generated`;
- :func:`verify`: the clip's boxes checked (headers only), then the quality gate's one decode
  (none for an in-process engine: the frames it measured as it encoded them), whose pass also
  gives the probe's facts (a refused clip is quarantined: QualityRejected) -> :class:`Verified`;
- :func:`commit`: poster and preview written from the gate's decode, and
  :func:`imagear.clips.commit_clip` swaps the three in atomically -> :class:`AnimateOutcome`.

:mod:`imagear.generation.pipeline` strings them together; each runs alone in the unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagear import clips, heratio, store
from imagear.db import clips as clips_db
from imagear.errors import (
    BadResponse,
    ImagearError,
    InvalidOption,
    MediaError,
    NotFound,
    RecordNotFound,
)
from imagear.generation.events import Observer, Phase
from imagear.generation.permit import GenerationPermit, StoppedWaiting
from imagear.generation.protocol import Generated, Generator, Job
from imagear.generation.values import AnimateOutcome, AnimateRequest, NewClip
from imagear.generators import default_model_problem, oriented_size
from imagear.models import OPTION_NAMES, get_model, random_seed, resolve_generation
from imagear.records import master_image

if TYPE_CHECKING:
    from imagear.app import App
    from imagear.media import Mp4Info
    from imagear.models import BaseOptions, ModelDescriptor
    from imagear.quality import Verdict
    from imagear.records import MasterImage
    from imagear.settings import Settings


@dataclass(frozen=True)
class Resolved:
    """A record ready to generate: its master image and the validated options (seed drawn)."""

    object_id: int
    master: MasterImage
    descriptor: ModelDescriptor
    options: BaseOptions
    notices: tuple[str, ...]
    replacing: bool  # the record has a clip, which this one replaces when it is stored


@dataclass(frozen=True)
class Routed:
    """The generator chosen for a record, and the job it gets."""

    generator: Generator
    job: Job


@dataclass(frozen=True)
class Verified:
    """A clip that is a playable MP4 and passed the quality gate (``verdict.scan``: its
    decoded poster and preview frames)."""

    info: Mp4Info
    verdict: Verdict


# -- resolve -----------------------------------------------------------------------------------


def validate(app: App, req: AnimateRequest, settings: Settings) -> None:
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
    heratio.check_duration(app.engine, o.num_frames, o.fps, resolved.descriptor.name)


def resolve(app: App, req: AnimateRequest, settings: Settings) -> Resolved | AnimateOutcome:
    """The record, its master image and the options of its generation; the skipped outcome
    when it has a clip and ``force`` is false."""
    oid = int(req.object_id)
    settings.require_generation(button=False)  # ar_user_button is the record pages' button
    config = app.config
    store.sweep_parts(store.record_dir(config, oid))  # .part files of runs that died
    found = clips_db.lookup(app.engine, oid)
    if not found.record_exists:
        raise RecordNotFound(f"Record {oid} does not exist.")
    if found.clip is not None and found.clip.has_video and not req.force:
        validate(app, req, settings)  # a typo fails whatever the record's state
        existing = found.clip
        force = (req.wording or OPTION_NAMES).label("force", "option")
        return AnimateOutcome(
            oid,
            "skipped",
            existing,
            [],
            store.file_of(config, existing),
            message=f"Record {oid} already has an animation ({existing.mp4_path}); "
            f"pass {force} to replace it.",
        )
    master = master_image(app, oid, found.master)

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
    heratio.check_duration(app.engine, options.num_frames, options.fps, desc.name)
    if not options.seed:
        options = options.model_copy(update={"seed": random_seed()})
    notices = tuple(resolved.notices)
    return Resolved(oid, master, desc, options, notices, found.clip is not None)


# -- route -------------------------------------------------------------------------------------


def route(app: App, generator: Generator, resolved: Resolved, req: AnimateRequest) -> Routed:
    """The job for ``generator``; EngineUnavailable, worded for a first run, when the default
    model (none was asked for) cannot run in this process."""
    desc = resolved.descriptor
    if not generator.placement.remote and req.model is None:
        problem = default_model_problem(desc, app.config, req.wording or OPTION_NAMES)
        if problem is not None:
            raise problem
    keys = tuple(k.strip().lower().replace("-", "_") for k in req.extra)
    job = Job(resolved.object_id, desc, resolved.options, resolved.master.file, keys)
    return Routed(generator, job)


# -- generate ----------------------------------------------------------------------------------


def generate(routed: Routed, dest: Path, permit: GenerationPermit, observe: Observer) -> Generated:
    """Prepare the upload, take the permit (StoppedWaiting when it is refused: nothing was
    sent), generate into ``dest``, give the permit back as soon as the clip is there."""
    generator, job = routed.generator, routed.job
    observe(Phase(job.object_id, "generate", generator.placement.waiting))
    prepared = generator.prepare(job)
    if not permit.acquire():
        prepared.close()
        raise StoppedWaiting
    try:
        return generator.generate(prepared, dest, observe)
    finally:
        permit.release()


# -- verify ------------------------------------------------------------------------------------


def _unplayable(err: MediaError) -> BadResponse:
    return BadResponse(
        f"The image-to-video server sent a clip that is not a playable MP4: {err.message}",
        "The clip was not saved; check the server's log.",
    )


def probe(path: Path, generator: Generator) -> int:
    """The clip's size in bytes once its boxes are whole (a server's truncated or garbage clip is
    BadResponse, a bad answer); the frames are read by the gate's one decode."""
    from imagear.media import check_boxes

    try:
        return check_boxes(path)
    except MediaError as err:
        if generator.placement.remote:
            raise _unplayable(err) from err
        raise


def info_of(verdict: Verdict, size_bytes: int) -> Mp4Info:
    """What the probe used to read, from the gate's one pass over the clip."""
    from imagear.media import Mp4Info
    from imagear.media.scan import ClipScan

    scan = verdict.scan
    assert isinstance(scan, ClipScan)
    frames = scan.declared_frames or scan.frames
    duration = scan.duration_secs
    if duration <= 0.0 and scan.fps > 0.0:
        duration = frames / scan.fps
    return Mp4Info(
        duration_secs=round(duration, 3),
        frames=frames,
        width=scan.width,
        height=scan.height,
        fps=round(scan.fps, 3),
        codec=scan.codec,
        size_bytes=size_bytes,
    )


def check(
    app: App, settings: Settings, routed: Routed, path: Path, generated: Generated
) -> Verdict:
    """The quality gate on the new clip (keeping poster and preview frames): its Verdict,
    or QualityRejected raised after the clip was quarantined. The frames an in-process engine
    measured as it encoded them are judged as they are (no decode); any other clip is decoded
    once."""
    from imagear import quality, quarantine
    from imagear.media.reference import load_reference
    from imagear.media.scan import ClipScan, PreviewSpec

    job = routed.job
    desc = job.descriptor
    thresholds = quality.Thresholds.from_settings(settings)
    reference = generated.reference  # None: a master sent whole to a server that sent none back
    if reference is None and desc.takes_image and thresholds.enabled:
        reference = load_reference(job.source)
    judged = {
        "expected": quality.Expected.from_options(job.options),
        "reference": reference,
        "takes_image": desc.takes_image,
        "thresholds": thresholds,
    }
    try:
        if isinstance(generated.scan, ClipScan):
            verdict = quality.judge(generated.scan, **judged)  # type: ignore[arg-type]
        else:
            verdict = quality.inspect(path, preview=PreviewSpec(), **judged)  # type: ignore[arg-type]
    except MediaError as err:
        if routed.generator.placement.remote:
            raise _unplayable(err) from err
        raise
    if verdict.ok:
        return verdict
    raise quarantine.refuse(
        app.config,
        job.object_id,
        path,
        verdict,
        limit=settings.ar_quality_quarantine_keep,
        model=generated.model,
        seed=generated.seed,
    )


def verify(
    app: App,
    settings: Settings,
    routed: Routed,
    path: Path,
    generated: Generated,
    observe: Observer,
) -> Verified:
    """Check the clip's boxes, then the quality gate (one decode at most)."""
    oid = routed.job.object_id
    observe(Phase(oid, "probe", "checking the clip"))
    size_bytes = probe(path, routed.generator)
    observe(Phase(oid, "check", "checking the clip's frames"))
    verdict = check(app, settings, routed, path, generated)
    return Verified(info_of(verdict, size_bytes), verdict)


# -- commit ------------------------------------------------------------------------------------


def named_motion(options: BaseOptions) -> str | None:
    """The camera move the options name (a model with a ``motion`` option), or None."""
    value = options.model_dump().get("motion")
    return str(value) if value else None


def new_clip(
    app: App,
    resolved: Resolved,
    info: Mp4Info,
    generated: Generated,
    by: int | str | None = None,
) -> NewClip:
    """What is stored of the clip: the probe, what made it, who made it (``by``: the user who
    asked, when the front end knows one; else the configured one)."""
    motion = generated.motion or named_motion(resolved.options)
    return NewClip(
        digital_object_id=resolved.master.digital_object_id,
        source_name=resolved.master.name,
        size_bytes=info.size_bytes,
        duration_secs=info.duration_secs,
        width=info.width,
        height=info.height,
        fps=info.fps,
        motion=motion or f"ai-{generated.model}",
        model=generated.model,
        prompt=generated.prompt,
        seed=generated.seed,
        motion_bucket_id=generated.motion_bucket_id,
        generation_secs=generated.generation_secs,
        created_by=by if by is not None else heratio.created_by(app.config, heratio.is_shared(app)),
    )


def commit(
    app: App,
    req: AnimateRequest,
    resolved: Resolved,
    part: store.PartFile,
    verified: Verified,
    generated: Generated,
    sign: Callable[[Path, str], None] | None = None,
) -> AnimateOutcome:
    """Write the poster and preview (``sign``: their Content Credentials), swap the three in
    and log the generation."""
    from imagear.media.preview import write_poster, write_preview

    oid = resolved.object_id
    directory = part.path.parent
    clip = new_clip(app, resolved, verified.info, generated, req.created_by)
    name = resolved.descriptor.name
    with (
        store.part_file(directory, name, store.POSTER_SUFFIX) as poster,
        store.part_file(directory, name, store.PREVIEW_SUFFIX) as preview,
    ):
        write_poster(verified.verdict.scan, poster.path)
        write_preview(verified.verdict.scan, preview.path)
        if sign is not None:
            sign(poster.path, "poster")
            sign(preview.path, "preview")
        stored = clips.commit_clip(
            app,
            oid,
            part,
            clip,
            force=req.force,
            companions={store.POSTER_SUFFIX: poster, store.PREVIEW_SUFFIX: preview},
        )
    message = None
    if stored.status == "skipped":
        force = (req.wording or OPTION_NAMES).label("force", "option")
        message = (
            f"Record {oid} got an animation from another run meanwhile; it was kept and "
            f"this clip discarded (pass {force} to replace it)."
        )
    measured = verified.verdict.as_dict()
    animation = stored.animation
    return AnimateOutcome(
        oid,
        stored.status,
        animation,
        [*resolved.notices, *(f"{n[:1].upper()}{n[1:]}." for n in verified.verdict.notes)],
        stored.file,
        mp4=asdict(verified.info) if stored.status != "skipped" else None,
        message=message,
        removed=stored.removed,
        upload=generated.upload,
        poster=stored.companions.get(store.POSTER_SUFFIX),
        preview=stored.companions.get(store.PREVIEW_SUFFIX),
        quality={k: v for k, v in measured.items() if k in ("measured", "skipped", "notes")},
    )


__all__ = [
    "Resolved",
    "Routed",
    "Verified",
    "check",
    "commit",
    "generate",
    "info_of",
    "named_motion",
    "new_clip",
    "probe",
    "resolve",
    "route",
    "validate",
    "verify",
]
