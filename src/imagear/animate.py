"""Animate one record: the service behind ``imagear animate`` (and the root mirror
``imagear --object-id N``), the web console's worker and :mod:`imagear.batch`.

:class:`Animator` drives the generation pipeline (:mod:`imagear.generation.pipeline`):
resolve -> route -> generate -> verify (the quality gate) -> commit. It is thread-safe:
settings are read per call, the generators (HTTP clients, in-process engines) are shared
through one :class:`~imagear.generation.router.Router`, and each in-process engine runs one
generation at a time.

Services never print. Pass ``observer`` to hear what happens: it is called with the typed
events of :mod:`imagear.generation.events` (Notice, Started, Phase, Uploaded, Transfer, Done),
which observe only. ``progress`` is the older form, called as
``progress(event, object_id=..., **data)`` (:func:`imagear.generation.events.keywords`).
A caller that bounds the generations in flight (the batch) hands :meth:`Animator.animate` a
:class:`~imagear.generation.permit.GenerationPermit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagear import auditlog, clips
from imagear import settings as settings_svc
from imagear.app import App
from imagear.domain import JSONObject, json_object
from imagear.errors import QualityRejected
from imagear.generation import stages
from imagear.generation.events import KeywordCallback, Observer, ignore, keywords
from imagear.generation.permit import UNLIMITED, GenerationPermit
from imagear.generation.pipeline import Pipeline, Run
from imagear.generation.protocol import Generator
from imagear.generation.router import ClientOptions, Router
from imagear.generation.values import AnimateOutcome, AnimateRequest
from imagear.generators import default_model_problem
from imagear.models import Wording, get_model, random_seed
from imagear.wire import Health

if TYPE_CHECKING:
    import httpx

    from imagear import heratio


class Animator:
    """Animate records. Thread-safe for concurrent :meth:`animate` calls; close it when done.

    ``transport`` replaces the network of the HTTP client (tests); ``request_timeout``
    overrides ``ar_request_timeout`` (seconds, total per request); ``client_options`` are passed
    to :class:`~imagear.client.VideoClient` (e.g. ``max_retries``, ``sleep``); ``pipeline``
    replaces the stages run for each record.
    """

    def __init__(
        self,
        app: App,
        *,
        transport: httpx.BaseTransport | None = None,
        progress: KeywordCallback | None = None,
        observer: Observer | None = None,
        request_timeout: float | None = None,
        client_options: ClientOptions | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.app = app
        _ = app.engine  # open (create, upgrade) the database once, before any thread
        self.observe: Observer = observer or (keywords(progress) if progress else ignore)
        self.router = Router(
            app,
            transport=transport,
            request_timeout=request_timeout,
            client_options=client_options,
        )
        self.pipeline = pipeline or Pipeline()

    # -- plumbing ----------------------------------------------------------------------------

    def __enter__(self) -> Animator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP clients and release in-process engines."""
        self.router.close()

    def settings(self) -> settings_svc.Settings:
        """The image_ar_settings values, typed."""
        return settings_svc.get_all(self.app.engine)

    def route(
        self, settings: settings_svc.Settings | None = None, in_process: bool = False
    ) -> heratio.Route:
        """Where generation requests go, and why (:meth:`Router.route`)."""
        return self.router.route(settings or self.settings(), in_process)

    def _generator(self, settings: settings_svc.Settings, in_process: bool = False) -> Generator:
        return self.router.generator(settings, in_process)

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
        if not generator.placement.remote and model is None:
            problem = default_model_problem(desc, self.app.config, wording)
            if problem is not None:
                raise problem
        return generator.check_ready(desc, settings)

    # -- animate -----------------------------------------------------------------------------

    def animate(self, req: AnimateRequest, permit: GenerationPermit = UNLIMITED) -> AnimateOutcome:
        """Generate, store and log one record's clip through the pipeline. ``permit`` is
        taken before the generate stage sends anything (StoppedWaiting when it is refused)."""
        run = Run(self.app, self.router, req, self.settings(), self.observe, permit)
        try:
            outcome = self.pipeline.run(run)
        except QualityRejected as err:  # kept for the grid's "refused" filter (any front end)
            auditlog.gate_refused(self.app, req.object_id, self._asker(req), req.via, err.message)
            raise
        if outcome.status != "skipped":
            auditlog.gate_cleared(self.app, req.object_id, self._asker(req), req.via)
        return outcome

    def _asker(self, req: AnimateRequest) -> str:
        return str(req.created_by) if req.created_by is not None else self.app.config.user

    def validate(self, req: AnimateRequest, settings: settings_svc.Settings) -> None:
        """What a typo in the request fails, without the master image
        (:func:`imagear.generation.stages.validate`)."""
        stages.validate(self.app, req, settings)

    # -- delete / recent ---------------------------------------------------------------------

    def delete(self, object_id: int) -> JSONObject:
        """Remove the record's animation row, then its MP4. AnimationNotFound when none."""
        return json_object(clips.delete_clip(self.app, int(object_id)))

    def recent(self, n: int = 5) -> tuple[list[JSONObject], int]:
        """The last ``n`` clips (newest first) and how many there are in all."""
        rows, total = clips.recent_clips(self.app, n)
        return [json_object(r) for r in rows], total


__all__ = ["AnimateOutcome", "AnimateRequest", "Animator", "random_seed"]
