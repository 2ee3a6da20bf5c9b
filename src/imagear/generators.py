"""The ways a clip is made, behind one protocol (:class:`imagear.generation.protocol.Generator`).

:class:`RemoteGenerator` sends the (prepared, downscaled) image to ``ar_server_url`` through
:class:`~imagear.client.VideoClient`; :class:`LocalGenerator` runs the model's engine in this
process (``descriptor.create_engine``), one generation at a time per engine
(:class:`imagear.pool.PoolGenerator`: a pool of servers). Each prepares a job's image
(``prepare``), writes the clip to a file the caller chose (``generate``) and returns a
:class:`Generated` with what made it. Nothing prints.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagear.engines import runtime
from imagear.engines.base import EngineConfig
from imagear.errors import EngineUnavailable, ImagearError, UnknownModel
from imagear.generation.events import Observer, Transfer, Uploaded
from imagear.generation.protocol import Generated, Generator, Job, Placement, Prepared
from imagear.models import (
    OPTION_NAMES,
    BaseOptions,
    ModelDescriptor,
    Wording,
    get_model,
    list_models,
)
from imagear.wire import ClipResponse, Health

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

    from imagear.client import VideoClient
    from imagear.config import Config
    from imagear.engines.base import Engine
    from imagear.settings import Settings


# Form fields of Heratio's /animate (REFERENCE.md section 1), sent when the model has them.
PROTOCOL_FIELDS = (
    "num_frames",
    "fps",
    "motion_bucket_id",
    "noise_aug_strength",
    "seed",
    "prompt",
    "width",
    "height",
)
Fields = dict[str, object]
"""Form fields sent to a server (values: numbers and text)."""
ClientOptions = Mapping[str, Any]
"""Keyword arguments for :class:`~imagear.client.VideoClient` (``max_retries``, ``sleep``...)."""
ClientProgress = Callable[..., None]
"""The client's byte counter: ``progress("transfer", done=..., total=...)``."""

SERVER_HINT = (
    "Or set ar_server_url to an image-to-video server "
    "({set:ar_server_url http://gpu-host:5052}), or use {flag:model kenburns}, "
    "which runs anywhere."
)


def upload_box(options: BaseOptions, image_size: tuple[int, int]) -> tuple[int, int]:
    """The size to downscale the source to: just enough to cover what the model renders.

    The image keeps its aspect ratio and covers ``width x height`` (times the ``zoom`` of a
    Ken Burns move, which crops into it); it is never upscaled.
    """
    src_w, src_h = image_size
    width = int(options.width or src_w)
    height = int(options.height or src_h)
    zoom = float(getattr(options, "zoom", 1.0) or 1.0)
    scale = max(width * zoom / src_w, height * zoom / src_h)
    if scale >= 1.0:
        return src_w, src_h
    return max(1, math.ceil(src_w * scale)), max(1, math.ceil(src_h * scale))


def _normalise(name: str) -> str:
    try:
        return get_model(name).name
    except UnknownModel:
        return name.strip().lower()


def server_models(health: Health) -> set[str]:
    """Model names the server can serve now: loaded, advertised, and its default (unless the
    server says it is degraded: its default model cannot run there)."""
    names = list(health.loaded_models) + list(health.available_models or [])
    if health.default_model and not health.local and not health.degraded:
        names.append(health.default_model)
    return {_normalise(n) for n in names}


class RemoteGenerator:
    """Generation on an image-to-video server (``ar_server_url``)."""

    whole_bytes: int = 20 * 1024 * 1024
    """The largest master sent as its own file (:func:`sent_whole`; config ``upload_whole_mb``,
    which the router sets here)."""

    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        timeout: float = 900.0,
        transport: httpx.BaseTransport | None = None,
        client_options: ClientOptions | None = None,
    ) -> None:
        from imagear.client import VideoClient  # httpx: only a remote generation loads it

        self.client: VideoClient = VideoClient(
            url, token=token, timeout=timeout, transport=transport, **dict(client_options or {})
        )
        self.url = self.client.shown_url  # for messages and progress: without a password

    def health(self, settings: Settings) -> Health:
        return self.client.health()

    def check_ready(self, descriptor: ModelDescriptor, settings: Settings) -> Health:
        from imagear.errors import ModelNotAvailable

        health = self.client.health()
        if descriptor.name not in server_models(health):
            loaded = ", ".join(health.loaded_models) or "none"
            raise ModelNotAvailable(
                f"Model {descriptor.name} is not available on the image-to-video server at "
                f"{self.url} (loaded: {loaded}; default: {health.default_model or 'none'}).",
                "Load it on the server, or choose another model with {flag:model} or "
                "{set:ar_model NAME}.",
            )
        return health

    @property
    def placement(self) -> Placement:
        return Placement(True, self.url, f"waiting for the server at {self.url}")

    def params(self, job: Job) -> dict[str, object]:
        return dict(self.fields(job))

    @staticmethod
    def fields(job: Job) -> Fields:
        """The form fields sent with the image: the protocol's, plus the ``-o`` keys given."""
        values = job.options.model_dump()
        out: Fields = {"model": job.descriptor.name}
        for key in (*PROTOCOL_FIELDS, *job.extra_keys):
            if values.get(key) is not None:
                out[key] = values[key]
        return out

    def prepare(self, job: Job) -> Prepared:
        """The upload of ``job``: the master's own file where every server reads it as this
        client would (:func:`sent_whole`: nothing decoded here), else its JPEG bytes decoded once,
        just large enough to cover what the model renders, with their width/height/bytes and the
        small grey reference the quality gate compares the clip with. Not resampled: the server
        fits it to its model's size (:data:`imagear.media.UPLOAD_SLACK`)."""
        from imagear.media import open_image

        with open_image(job.source, load=False) as probe:
            size = oriented_size(probe)
            whole = sent_whole(probe, Path(job.source), self.whole_bytes)
        if whole:
            payload = Path(job.source).read_bytes()
            upload = {"width": size[0], "height": size[1], "bytes": len(payload)}
            return Prepared(job, upload, None, payload=payload, whole=True)
        return self._reduced(job, size)

    @staticmethod
    def _reduced(job: Job, size: tuple[int, int]) -> Prepared:
        from imagear.media import UPLOAD_SLACK, encode_upload, prepare_image
        from imagear.media.reference import reference_of

        image = prepare_image(job.source, upload_box(job.options, size), slack=UPLOAD_SLACK)
        try:
            reference = reference_of(image)
            payload = encode_upload(image)
            upload = {"width": image.width, "height": image.height, "bytes": len(payload)}
        finally:
            image.close()
        return Prepared(job, upload, reference, payload=payload)

    def send(
        self,
        payload: bytes,
        sent: Fields,
        dest: Path,
        filename: str,
        progress: ClientProgress,
        whole: bool = False,
    ) -> ClipResponse:
        """POST the upload and stream the clip to ``dest`` (a pool picks a server here);
        ``whole``: the master's own file (the server's reference of it is asked for too)."""
        return self.client.animate(
            payload, sent, dest, filename=filename, progress=progress, extras=True, reference=whole
        )

    def generate(self, prepared: Prepared, dest: Path, observe: Observer) -> Generated:
        import hashlib

        from imagear.errors import UploadTooLarge
        from imagear.media.extras import take

        job = prepared.job
        opts = job.options
        sent = self.fields(job)

        def transfer(_event: str, *, done: int, total: int | None) -> None:
            observe(Transfer(job.object_id, done, total))

        while True:
            up = prepared.upload
            observe(Uploaded(job.object_id, up["width"], up["height"], up.get("bytes", 0)))
            payload, whole = prepared.payload, prepared.whole
            digest = hashlib.sha256(payload).hexdigest() if whole else ""
            prepared.close()
            try:
                clip = self.send(payload, sent, dest, f"{job.source.stem}.jpg", transfer, whole)
                break
            except UploadTooLarge:  # the master as it is is over this server's limit
                if not whole:
                    raise
                del payload
                prepared = self._reduced(job, (up["width"], up["height"]))
        del payload
        extras = take(dest)  # the server's measurements of its frames: no decode here then
        reference = prepared.reference
        if reference is None and extras is not None:
            reference = extras.reference_for(digest)  # None: the gate decodes the master
        motion_bucket = clip.motion_bucket_id
        if motion_bucket is None and isinstance(sent.get("motion_bucket_id"), int):
            motion_bucket = int(str(sent["motion_bucket_id"]))
        return Generated(
            model=clip.model or job.descriptor.name,
            seed=clip.seed or int(opts.seed),
            generation_secs=clip.generation_secs
            if clip.generation_secs is not None
            else clip.elapsed_secs,
            motion_bucket_id=motion_bucket,
            frames=clip.frames,
            fps=clip.fps,
            prompt=opts.prompt if job.descriptor.uses_prompt else None,
            upload=up,
            reference=reference,
            scan=extras.scan if extras is not None else None,
        )

    def close(self) -> None:
        self.client.close()


WHOLE_UPLOAD_PIXELS = 50_000_000


def sent_whole(probe: Image, path: Path, most: int) -> bool:
    """Whether the master at ``path`` (``probe``: its header) is sent to a server as it is: a
    JPEG of RGB or grey pixels, stored upright (no EXIF rotation), of at most ``most`` bytes
    (config ``upload_whole_mb``; 0: none) and :data:`WHOLE_UPLOAD_PIXELS`. Any server decodes such a file
    to the pixels this client would (as Heratio's own client sends it), and an imagear server
    decodes it at its model's size (JPEG's DCT scaling) and sends the gate's reference of it:
    this client decodes nothing, where a 24 MP master cost 60-80 ms to decode even at 1/8
    scale. Anything else is decoded here (a rotation, CMYK, a TIFF or PNG scan)."""
    if probe.format != "JPEG" or probe.mode not in ("RGB", "L"):
        return False
    width, height = probe.size
    if width * height > WHOLE_UPLOAD_PIXELS:
        return False
    try:
        if int(probe.getexif().get(0x0112, 1)) != 1:
            return False
        return path.stat().st_size <= most
    except Exception:  # a broken EXIF block, a file gone: decode it here, as before
        return False


def oriented_size(img: Image) -> tuple[int, int]:
    """(width, height) of an opened PIL image as shown upright (EXIF orientation 5..8 swap)."""
    width, height = img.size
    try:
        orientation = int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: take the pixels as stored
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def local_problem(descriptor: ModelDescriptor, config: Config) -> EngineUnavailable | None:
    """Why ``descriptor`` cannot run in this process, or None when it can (cheap: loads nothing).

    The check is :func:`imagear.engines.runtime.problem`, the server's too; the advice adds the
    ways around it (a server, or kenburns).
    """
    found = runtime.problem(descriptor, config.models_dir)
    if found is None:
        return None
    return EngineUnavailable(found.message, f"{found.advice or ''} {SERVER_HINT}".strip())


def default_model_problem(
    descriptor: ModelDescriptor, config: Config, wording: Wording | None = None
) -> EngineUnavailable | None:
    """Why the default model (``ar_model``) cannot run in this process when no server is set,
    worded for a first run on a fresh install (no server, no weights), or None when it can.
    ``wording``: how the caller's front end chooses a model (``--model kenburns``)."""
    found = runtime.problem(descriptor, config.models_dir)
    if found is None:
        return None
    kenburns = (wording or OPTION_NAMES).model("kenburns")
    return EngineUnavailable(
        f"The default model {descriptor.name} (ar_model) cannot run in this process, and no "
        f"image-to-video server is set (ar_server_url is empty): {found.message.rstrip('.')}.",
        f"For a clip without a GPU use Ken Burns: {kenburns} (or make it the default: "
        "{set:ar_model kenburns}). To use " + descriptor.name + ", set "
        "ar_server_url to an image-to-video server ({set:ar_server_url "
        "http://gpu-host:5052})" + (f", or: {found.advice}" if found.advice else "."),
    )


def cuda_info() -> dict[str, Any]:
    """CUDA facts for the local health report (torch is imported when it is installed)."""
    return dict(runtime.device_info(import_torch=True))


class LocalGenerator:
    """Generation in this process. Engines are built once per model and kept; each has a lock,
    since engines (diffusers pipelines) must not run two generations at once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._engines: dict[str, tuple[Engine, threading.Lock]] = {}
        self._guard = threading.Lock()

    def _engine(self, descriptor: ModelDescriptor) -> tuple[Engine, threading.Lock]:
        if descriptor.requires_gpu:
            self._make_room(keep=descriptor.name)
        with self._guard:
            found = self._engines.get(descriptor.name)
            if found is None:
                problem = local_problem(descriptor, self.config)
                if problem is not None:
                    raise problem
                engine_config = EngineConfig(
                    models_dir=self.config.models_dir, low_vram=self.config.low_vram
                )
                try:
                    engine = descriptor.create_engine(engine_config)
                except ImagearError:
                    raise
                except Exception as exc:  # a plugin's engine failing to build
                    raise EngineUnavailable(
                        f"The engine of model {descriptor.name} could not be built: {exc}.",
                        SERVER_HINT,
                    ) from exc
                found = (engine, threading.Lock())
                self._engines[descriptor.name] = found
            return found

    def _make_room(self, keep: str) -> None:
        """Close every other engine holding accelerator memory (after its running generation):
        one model on a GPU at a time, as in ``imagear serve``."""
        with self._guard:
            names = [
                name
                for name, (engine, _lock) in self._engines.items()
                if name != keep and runtime.holds_accelerator(engine)
            ]
            dropped = [self._engines.pop(name) for name in names]
        for engine, lock in dropped:
            with lock:
                engine.close()
        if dropped:
            runtime.free_accelerator_memory()

    def engines(self) -> list[dict[str, Any]]:
        """Every known model: can it run here, and why not."""
        out = []
        for desc in list_models():
            problem = local_problem(desc, self.config)
            held = self._engines.get(desc.name)
            out.append(
                {
                    "name": desc.name,
                    "available": problem is None,
                    "reason": problem.message if problem else None,
                    "advice": problem.advice if problem else None,
                    "loaded": bool(held and held[0].loaded()),
                    "requires_gpu": desc.requires_gpu,
                }
            )
        return out

    def health(self, settings: Settings) -> Health:
        cuda = cuda_info()
        engines = self.engines()
        return Health(
            status="ok",
            default_model=settings.ar_model or None,
            loaded_models=[e["name"] for e in engines if e["loaded"]],
            cuda=bool(cuda.get("cuda")),
            low_vram_mode=self.config.low_vram,
            device=cuda.get("device"),
            vram_total_gb=cuda.get("vram_total_gb"),
            vram_free_gb=cuda.get("vram_free_gb"),
            local=True,
            engines=engines,
        )

    def check_ready(self, descriptor: ModelDescriptor, settings: Settings) -> Health:
        self._engine(descriptor)
        return self.health(settings)

    @property
    def placement(self) -> Placement:
        return Placement(False, None, "generating in this process")

    def params(self, job: Job) -> dict[str, object]:
        return dict(job.options.model_dump())

    def prepare(self, job: Job) -> Prepared:
        """The engine (built once: EngineUnavailable before any decoding) and the image."""
        from imagear.media import open_image, prepare_image
        from imagear.media.reference import reference_of

        self._engine(job.descriptor)
        with open_image(job.source, load=False) as probe:
            size = oriented_size(probe)
        image = prepare_image(job.source, upload_box(job.options, size))
        try:
            reference = reference_of(image)
        except BaseException:
            image.close()
            raise
        return Prepared(job, {"width": image.width, "height": image.height}, reference, image=image)

    def generate(self, prepared: Prepared, dest: Path, observe: Observer) -> Generated:
        job = prepared.job
        engine, lock = self._engine(job.descriptor)
        if prepared.image is None:
            raise RuntimeError("the job's image was not prepared, or was closed")
        try:
            with lock:
                result = engine.generate(prepared.image, job.options, dest)
        finally:
            prepared.close()
        return Generated(
            model=result.model or job.descriptor.name,
            seed=int(result.seed or job.options.seed),
            generation_secs=round(float(result.generation_secs), 2),
            motion_bucket_id=result.motion_bucket_id,
            frames=result.num_frames,
            fps=float(result.fps),
            motion=result.motion,
            prompt=result.prompt,
            upload=prepared.upload,
            reference=prepared.reference,
            scan=result.scan,
        )

    def close(self) -> None:
        with self._guard:
            engines, self._engines = list(self._engines.values()), {}
        for engine, lock in engines:
            with lock:
                engine.close()


__all__ = [
    "ClientOptions",
    "Fields",
    "Generated",
    "Generator",
    "Job",
    "LocalGenerator",
    "Placement",
    "Prepared",
    "RemoteGenerator",
    "cuda_info",
    "local_problem",
    "oriented_size",
    "server_models",
    "upload_box",
]
