"""What the console's routes share: :class:`Console` (the App, the token check, the worker,
the templates), error responses, and the record page (also re-shown with a form's errors)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from imagear import review, store
from imagear.app import App
from imagear.domain import json_object
from imagear.errors import ImagearError
from imagear.records import get_record
from imagear.roles import GENERATE
from imagear.web import i18n
from imagear.web.auth import Auth, Who
from imagear.web.security import Throttle, WebOptions
from imagear.web.wording import one_line, without_paths
from imagear.web.worker import Job, Worker

HERE = Path(__file__).parent
AUDIT_SHOWN = 20  # the latest actions on a record shown on its page
MODELS_TTL = 30.0  # seconds the models the form offers are kept (one health call per TTL)


class Console:
    """What the routes share: the App, the token check, the worker, the templates, the
    options (:class:`~imagear.web.security.WebOptions`) and the sign-in throttle."""

    def __init__(
        self, app: App, auth: Auth, worker: Worker, options: WebOptions | None = None
    ) -> None:
        self.app = app
        self.auth = auth
        self.worker = worker
        self.options = options or WebOptions()
        self.throttle = Throttle(  # failed sign-ins per address
            self.options.clock, self.options.sign_in_failures, self.options.sign_in_window
        )
        self.name_throttle = Throttle(  # and per user name
            self.options.clock, self.options.sign_in_failures, self.options.sign_in_window
        )
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        from imagear.provenance import disclosure  # AI clips are said to be AI (issue 22)

        self.templates.env.globals["disclosure"] = disclosure
        self._offered: tuple[float, list[str], str | None] | None = None

    def offered_models(self) -> tuple[list[str], str | None]:
        """The models the animate form offers: those that can run here (no ``ar_server_url``)
        or on the configured server, by its health (kept :data:`MODELS_TTL` seconds); all
        known ones when the server does not list its models; none, with the reason, when it
        cannot be asked."""
        from imagear.models import list_models

        now = time.monotonic()
        if self._offered is not None and now - self._offered[0] < MODELS_TTL:
            return self._offered[1], self._offered[2]
        names = sorted(d.name for d in list_models())
        note: str | None = None
        try:
            available = self.worker.animator.health().available_models
        except ImagearError as err:
            names, note = [], without_paths(one_line(err))
        else:
            if available is not None:
                names = [n for n in names if n in available]
        self._offered = (now, names, note)
        return names, note

    def who(self, request: Request) -> Who:
        """Who sent ``request`` (read once, then kept on the request)."""
        cached = getattr(request.state, "who", None)
        if isinstance(cached, Who):
            return cached
        who = self.auth.who(request.headers, request.cookies)
        request.state.who = who
        return who

    def page(self, request: Request, name: str, code: int = 200, **context: object) -> Response:
        who = self.who(request)
        lang = language(request)
        context.setdefault("who", who)
        context.setdefault("csrf", who.csrf or "")
        context.update(_=i18n.catalog(lang), lang=lang, langs=i18n.LANGS)
        context["num"] = lambda value, digits=None: i18n.number(value, lang, digits)
        response = self.templates.TemplateResponse(request, name, context, status_code=code)
        response.headers["Content-Language"] = lang
        response.headers["Vary"] = "Accept-Language, Cookie"
        return response


def language(request: Request) -> str:
    """The request's language (:func:`imagear.web.i18n.negotiate`)."""
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))


def gettext(request: Request) -> Callable[[str], str]:
    """The request's ``gettext`` (for messages the routes word)."""
    return i18n.catalog(language(request))


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


GUEST_WORDS = {404: "There is nothing at this address.", 500: "Something went wrong."}
GUEST_SAID = frozenset({400, 401, 403, 405, 413, 429})  # about the request: said to anyone


def error_response(
    console: Console, request: Request, status: int, message: str, **extra: object
) -> Response:
    request.state.log_reason = message  # the request's log line says why (imagear.logs)
    if status not in GUEST_SAID and not console.who(request).signed_in:
        # a guest never reads an error's text: it may name a server, a path, a quarantine
        message = GUEST_WORDS.get(status, GUEST_WORDS[500])
        extra = {}
    if wants_json(request) or request.url.path.startswith("/image-ar/") and status != 404:
        return JSONResponse({"error": message, **extra}, status_code=status)
    return console.page(request, "error.html", status, status=status, message=message)


def shown_job(job: Job | None, clip_time: float | None) -> Job | None:
    """The job whose message the record page shows: one in progress, or one finished after
    the clip now stored was made (a message disappears with the clip it was about)."""
    if job is None or job.active:
        return job
    # a job the worker has just marked done has no finished_at for a moment: it is this clip's
    if clip_time is not None and job.finished_at is not None and job.finished_at < clip_time:
        return None
    return job


def job_body(job: Job | None) -> dict[str, object] | None:
    """A job as the page reads it: its messages without the server's paths."""
    if job is None:
        return None
    body = job.as_dict()
    for key in ("message", "error"):
        if isinstance(body[key], str):
            body[key] = without_paths(str(body[key]))
    return body


def record_view(
    console: Console,
    request: Request,
    object_id: int,
    status: int = 200,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """A record's page (also re-shown with the animate form's errors by field). A guest sees
    the record and its clip, never a job's messages, the review or the audit trail; the
    neighbours and the hierarchy a guest is shown are published records only."""
    from imagear import auditlog
    from imagear.models.kenburns import MOTIONS

    app = console.app
    who = console.who(request)
    record = get_record(app, object_id)
    anim = record.animation
    clip = store.file_of(app.config, anim) if anim else None
    made = anim.updated_at.timestamp() if anim and anim.updated_at else None
    job = shown_job(console.worker.status(object_id), made) if who.signed_in else None
    models, models_note = console.offered_models() if who.may(GENERATE) else ([], None)
    return console.page(
        request,
        "record.html",
        status,
        record=record,
        ctx=review.record_context(app, object_id, guest=not who.signed_in),
        anim=json_object(anim) if anim else None,  # times as ISO 8601, as the page's script
        version=anim.mp4_filename or "" if anim else "",
        has_file=bool(clip and clip.is_file()),
        review=review.state(app, object_id) if who.signed_in else None,
        audit=auditlog.entries(app, object_id, AUDIT_SHOWN) if who.signed_in else [],
        job=job_body(job),
        models=models,
        models_note=models_note,
        motions=MOTIONS,
        errors={k: without_paths(v) for k, v in (errors or {}).items()},
        error=without_paths(error) if error and who.signed_in else None,
        values=values or {},
    )


__all__ = [
    "HERE",
    "Console",
    "error_response",
    "gettext",
    "language",
    "job_body",
    "record_view",
    "shown_job",
    "wants_json",
]
