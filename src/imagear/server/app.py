"""The ASGI app behind `imagear serve`: Heratio's image-to-video wire protocol, plus /models.

``GET /health`` and ``POST /animate`` follow REFERENCE.md section 1 exactly, so Heratio can use
this server unchanged; ``GET /models`` lists the model descriptors. How a request goes:

1. :class:`_Gate` (pure ASGI, outermost): bearer token (when one is set, every request needs
   it), one log line per request, a JSON 500 for anything unexpected, temp-file cleanup, and
   reading out an unread request body before answering early (so clients that send the whole
   upload first, like PHP's curl, see the 401/413/503 rather than a reset connection).
2. The multipart body is streamed to a temp file, with the size limit enforced while reading
   and a deadline for the whole upload (408, connection closed); when no queue slot is free at
   all the request is refused (503 + Retry-After) before its upload is read.
3. Only then is a slot of the worker's bounded queue taken (503 when none is left), so a slow,
   stalled or vanished client never holds one.
4. In a thread: model lookup and availability (400), image sniffing and pixel limit (415/413),
   parameters validated by the model registry (422), the decode priced from the header (413).
5. The single worker thread decodes and prepares the image when the job's turn comes (a queued
   request holds its upload on disk, not its pixels), then generates (507 out of GPU memory, 500
   anything else); the MP4 is streamed back with the X- headers and deleted afterwards.

This module holds the gate, the routes and :class:`ServerState`; the upload is read by
:mod:`imagear.server.upload`, jobs run in :mod:`imagear.server.worker`, and what this host can run
comes from :mod:`imagear.engines.runtime`. The temp folder for uploads and clips in flight is made
when the app starts (its lifespan) and removed when it stops: building the app makes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from imagear import __version__
from imagear.engines import runtime
from imagear.engines.base import EngineConfig, GenerationResult
from imagear.errors import PLAIN, EngineUnavailable, ImagearError, render_advice
from imagear.httperrors import http_error
from imagear.metrics import Metrics, route_of
from imagear.models import get_model, list_models, random_seed, resolve_generation
from imagear.server import ServerSettings, probes
from imagear.server.budget import DecodeBudget, deferred
from imagear.server.openapi import ANIMATE_DOC, public_reason
from imagear.server.tmpdir import TempFolder
from imagear.server.upload import (
    FORM,
    FORM_OVERHEAD,
    ApiError,
    ClientGone,
    Upload,
    check_image,
    decode_slack,
    read_upload,
    split_fields,
    working_box,
)
from imagear.server.worker import Job, Worker

if TYPE_CHECKING:
    from imagear.media import Mp4Info

log = logging.getLogger("imagear.server")

LogFields = dict[str, object]  # what the request's log line says (model, frames, client...)
Done = tuple[GenerationResult, "Mp4Info"]  # what the worker hands back


DRAIN_SECS = 30.0  # at most this long reading out an unread body before answering early


class ServerPlaces:
    """How the server words advice's places: its endpoints and form fields, else plain words."""

    def place(self, kind: str, arg: str) -> str:
        if kind == "see" and (arg in ("health", "models") or arg.startswith("model ")):
            return f"GET /{'health' if arg == 'health' else 'models'}"
        if kind == "flag":
            name, _, value = arg.partition(" ")
            return f"the {name} form field" + (f" ({value})" if value else "")
        return PLAIN.place(kind, arg)


PLACES = ServerPlaces()


def api_error(err: ImagearError) -> ApiError:
    """The HTTP answer of an imagear error: status and wire type from the shared table
    (:mod:`imagear.httperrors`, REFERENCE.md section 1), message and advice in the server's
    words (an error without advice gets none: the CLI's and the console's are not its own)."""
    answer = http_error(err)
    advice = render_advice(err.advice, PLACES)
    message = f"{err.message} {advice}" if advice else err.message
    return ApiError(answer.status, message, answer.type, answer.headers or None)


# -- the gate: auth, draining, logging, last-resort errors ---------------------------------------


class _Gate:
    """Pure ASGI middleware around the whole app (see the module docstring, step 1)."""

    def __init__(
        self, app: FastAPI, token: str, drain_bytes: int, drain_secs: float = DRAIN_SECS
    ) -> None:
        self.app = app
        self.api = app  # the FastAPI app inside (its .state.imagear is the ServerState)
        self.token = token.encode()
        self.drain_bytes = drain_bytes
        self.drain_secs = drain_secs

    def _refusal(self, scope: Scope) -> str | None:
        """None when the request may pass, else why not (for the 401 body)."""
        if not self.token or scope.get("path") in probes.OPEN:
            return None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and given.strip():
                    if hmac.compare_digest(given.strip(), self.token):
                        return None
                    return (
                        "This server refused the bearer token that was sent: it is not this "
                        "server's token."
                    )
        return (
            "This server requires a bearer token and none was sent: send "
            "Authorization: Bearer <token>."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        fields: LogFields = {}
        cleanup: list[Path] = []
        state["log_fields"], state["cleanup"] = fields, cleanup
        body = {"done": False, "read": 0}
        status = {"code": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body["read"] += len(message.get("body", b""))
                body["done"] = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                body["done"] = True
            return message

        async def draining_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if not body["done"] and not _closes(message):  # 408: a slow client is cut off
                    await self._drain(counting_receive, body)
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is None:
                await self.app(scope, counting_receive, draining_send)
            else:
                error = ApiError(
                    401,
                    refusal,
                    "AuthenticationFailed",
                    {"WWW-Authenticate": "Bearer"},
                )
                await error.response()(scope, counting_receive, draining_send)
        except ClientDisconnect:  # the client went away: nothing to answer, nothing wrong here
            fields["client"] = "gone"
        except Exception as exc:
            # Starlette has already answered (with the handler below) when it re-raises here.
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not status["code"]:
                await _internal_error(exc).response()(scope, counting_receive, draining_send)
        finally:
            for path in cleanup:
                path.unlink(missing_ok=True)
            self.api.state.imagear.metrics.request(route_of(scope), status["code"] or 500)
            if "request_id" not in state:  # not behind imagear.logs.RequestLog (which logs it)
                _log_request(scope, status["code"], time.perf_counter() - started, fields)

    async def _drain(self, receive: Receive, body: dict[str, int]) -> None:
        """Read out (and drop) the rest of the request body, up to a size and time budget."""
        with anyio.move_on_after(self.drain_secs):
            while not body["done"] and body["read"] <= self.drain_bytes:
                await receive()


def _closes(message: Message) -> bool:
    """True when a response start says ``Connection: close``."""
    return any(
        name.lower() == b"connection" and value.lower() == b"close"
        for name, value in message.get("headers", ())
    )


def _internal_error(exc: BaseException) -> ApiError:
    return ApiError(500, f"Internal server error: {exc}", "InternalError")


def _log_request(scope: Scope, status: int, secs: float, fields: LogFields) -> None:
    client = scope.get("client") or ("-", 0)
    extra = " ".join(f"{key}={value}" for key, value in fields.items())
    log.info(
        "%s %s %s %s %.2fs%s",
        client[0],
        scope.get("method"),
        scope.get("path"),
        status or "-",
        secs,
        f" {extra}" if extra else "",
    )


# -- the app -------------------------------------------------------------------------------------


class ServerState:
    """What the routes share: settings, the worker, the temp folder.

    Building one starts nothing and makes nothing on disk: :meth:`start` (the app's lifespan)
    makes the temp folder and starts the worker, :meth:`stop` undoes both.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.engine_config = EngineConfig(
            models_dir=settings.models_dir, low_vram=settings.low_vram, device=settings.device
        )
        self.worker = Worker.of(self.engine_config, settings)
        self.decode_budget = DecodeBudget(settings.decode_budget_bytes)
        self._tmp = TempFolder(settings.tmp_dir)
        self.metrics = self.worker.metrics = Metrics.of_server(self.worker)
        self.started = time.monotonic()  # uptime_secs counts from here

    @property
    def tmp_dir(self) -> Path:
        """Where uploads and clips in flight go (only while the server runs)."""
        if self._tmp.path is None:
            raise RuntimeError("The server has not started: its temp folder is made at startup.")
        return self._tmp.path

    def start(self) -> None:
        """Make the temp folder (settings.tmp_dir, else a fresh one) and start the worker."""
        self._tmp.open()  # and remove what servers killed before (kill -9) left behind
        try:
            self.metrics.listen(self.settings.metrics_listen)  # --metrics-port: no auth there
            self.worker.start()
            if self.settings.preload:
                self.worker.preload(get_model(self.settings.default_model))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the worker (the running job finishes), then remove a temp folder of our own."""
        self.metrics.close()
        self.worker.stop()
        self._tmp.close()

    def max_pixels(self) -> int:
        from imagear import media

        return self.settings.max_pixels or media.MAX_IMAGE_PIXELS

    def available(self) -> dict[str, str | None]:
        """Every model -> None when this host can run it, else why not."""
        models_dir = self.settings.models_dir
        return {d.name: runtime.unavailable_reason(d, models_dir) for d in list_models()}

    def health(self) -> dict[str, object]:
        available = [name for name, why in self.available().items() if why is None]
        torch_models = any(runtime.uses_diffusers(get_model(name)) for name in available)
        gpu = runtime.device_info(import_torch=torch_models)
        return {
            **probes.status(self.settings, self.worker),  # "degraded" and why, or "ok"
            "default_model": self.settings.default_model,
            "loaded_models": self.worker.loaded_models(),
            "cuda": gpu.pop("cuda"),
            "low_vram_mode": self.settings.low_vram,
            **gpu,
            "available_models": available,
            "queue_length": self.worker.queue_length,
            "queue_size": self.worker.queue_size,
            "busy": self.worker.busy,
            "version": __version__,
            **probes.ops(self.worker, self.started),
        }

    def models(self) -> dict[str, object]:
        reasons = self.available()
        return {
            "default_model": self.settings.default_model,
            "models": [
                {
                    **d.info(),
                    "available": reasons.get(d.name) is None,
                    "unavailable_reason": public_reason(reasons.get(d.name)),
                    "loaded": self.worker.is_loaded(d),
                    "options": d.option_specs(),
                }
                for d in list_models()
            ],
        }

    def prepare(self, upload: Upload, out_path: Path) -> tuple[Job, list[str]]:
        """Model, image and parameters of one request -> a job (runs in a thread)."""
        assert upload.path is not None
        name = upload.fields.get("model", "").strip() or self.settings.default_model
        desc = get_model(name)
        if not self.worker.is_loaded(desc):
            why = runtime.unavailable_reason(desc, self.settings.models_dir)
            if why is not None:  # the whole reason (local paths) goes to the log only
                log.warning("model %s is not available: %s", desc.name, why)
                raise EngineUnavailable(
                    f"Model {desc.name!r} is not available on this server: {public_reason(why)}"
                )
        label = f"The upload {upload.filename!r}" if upload.filename else "The upload"
        size = check_image(upload.path, self.max_pixels(), label)
        overrides, extra, dropped = split_fields(desc, upload.fields)
        resolved = resolve_generation(desc.name, {}, overrides, extra, size, wording=FORM)
        options = resolved.options
        if not options.seed:  # 0 = random: draw it here so the clip can be reproduced
            options = options.model_copy(update={"seed": random_seed()})
        assert options.width is not None and options.height is not None  # resolved: set
        out_size = (int(options.width), int(options.height))
        box, slack = working_box(size, out_size, options), decode_slack(options)
        load = deferred(self.decode_budget, upload.path, box, label, slack)  # decoded in its turn
        notices = list(resolved.notices)
        if dropped:
            notices.append(f"{desc.name} ignores {', '.join(dropped)}")
        job = Job(desc, options, None, out_path, upload.master(), load=load)
        job.extras, job.reference = upload.extras, upload.extras and upload.reference
        return job, notices


class _ClientGone(Exception):
    def __init__(self, future: Future[Done], running: bool) -> None:
        super().__init__("the client went away")
        self.future = future
        self.running = running  # the job is being generated and will finish anyway


async def _wait(future: Future[Done], request: Request) -> Done:
    """Await the worker; if the client hangs up, cancel its job unless it is already running."""
    wrapped = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({wrapped}, timeout=1.0)
        if done:
            return wrapped.result()
        if await request.is_disconnected():
            raise _ClientGone(future, running=not future.cancel())


def _noop() -> None:
    pass


def _drop(paths: list[Path], release: Callable[[], None], _future: object = None) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
    release()


def _header(text: str) -> str:
    """A header-safe (ASCII, one line) version of ``text``."""
    return text.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")


def result_headers(result: GenerationResult, info: Mp4Info, notices: list[str]) -> dict[str, str]:
    headers = {
        "X-Generation-Secs": f"{result.generation_secs:.2f}",
        "X-Model": result.model,
        "X-Frames": str(info.frames or result.num_frames),
        "X-Fps": str(result.fps),
        "X-Seed": str(result.seed),
        "X-Width": str(info.width),
        "X-Height": str(info.height),
    }
    # Only for models with a motion bucket (SVD): a model without one (kenburns) sends no
    # header, and clients fall back to what they sent (imagear's client records null).
    if result.motion_bucket_id is not None:
        headers["X-Motion-Bucket"] = str(result.motion_bucket_id)
    if notices:
        headers["X-Notices"] = _header("; ".join(notices))
    return headers


def create_app(settings: ServerSettings | None = None) -> _Gate:
    """The ASGI app of `imagear serve` (FastAPI inside the auth/log gate)."""
    settings = settings or ServerSettings()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)

    api = FastAPI(
        title="imagear", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    api.state.imagear = state

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @api.exception_handler(ImagearError)
    async def _imagear_error(_request: Request, exc: ImagearError) -> JSONResponse:
        return api_error(exc).response()

    @api.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(exc).response()  # logged by the gate, which sees it re-raised

    @api.get("/health")
    def health() -> dict[str, object]:
        """Heratio's fields ("degraded" + reason: the default model cannot run), plus ops ones."""
        return state.health()

    # /metrics: behind the token like every route (else on --metrics-port)
    api.add_api_route("/metrics", state.metrics.response, include_in_schema=False)
    api.include_router(probes.router(settings, state.worker))  # /livez, /readyz: no token

    @api.get("/models")
    def models() -> dict[str, object]:
        """Every model's descriptor and options, and whether this host can run it."""
        return state.models()

    @api.post("/animate", response_class=Response, **ANIMATE_DOC)
    async def animate(request: Request) -> Response:
        """One image in, one MP4 out (multipart form as Heratio sends it)."""
        fields, cleanup = request.state.log_fields, request.state.cleanup
        if state.worker.full():  # no slot is free: refused before reading the upload
            raise state.worker.busy_error()
        # The whole upload is read (size limit, read deadline) before a slot is taken, so a
        # slow or stalled client holds only its own connection, never a slot.
        try:
            upload = await read_upload(
                request, state.tmp_dir, settings.max_upload_bytes, settings.upload_timeout
            )
        except ClientGone:
            fields["client"] = "gone"
            return Response(status_code=499)
        cleanup.extend(p for p in (upload.path,) if p is not None)
        if not state.worker.admit():
            upload.cleanup()
            raise state.worker.busy_error()
        release = state.worker.release
        try:
            return await _animate(request, upload, fields, cleanup)
        except _ClientGone as gone:
            fields["client"] = "gone"
            if gone.running:  # the slot and the clip are freed when the worker is done
                late = list(cleanup)
                cleanup.clear()
                # bound now: a lambda would read `release` after it was set to _noop below
                gone.future.add_done_callback(functools.partial(_drop, late, release))
                release = _noop
            return Response(status_code=499)
        finally:
            release()

    async def _animate(
        request: Request, upload: Upload, fields: LogFields, cleanup: list[Path]
    ) -> Response:
        out_path = state.tmp_dir / f"clip-{uuid.uuid4().hex}.mp4"
        cleanup.append(out_path)
        fields["model"] = upload.fields.get("model") or settings.default_model
        # the upload stays on disk until the worker has decoded it (removed with the request)
        job, notices = await run_in_threadpool(state.prepare, upload, out_path)
        fields.update(model=job.descriptor.name, frames=job.options.num_frames)
        result, info = await _wait(state.worker.submit(job), request)
        fields.update(frames=info.frames, fps=result.fps, gen=f"{result.generation_secs:.2f}s")
        return FileResponse(
            out_path, media_type="video/mp4", headers=result_headers(result, info, notices)
        )

    # An early answer waits for the rest of the body no longer than a whole upload may take.
    drain_secs = min(DRAIN_SECS, settings.upload_timeout or DRAIN_SECS)
    return _Gate(api, settings.token, settings.max_upload_bytes + FORM_OVERHEAD, drain_secs)
