"""What the console's routes share: :class:`Console` (the App, the token check, the worker,
the templates), error responses, and the record page (also re-shown with a form's errors)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from imagear import review, store
from imagear.app import App
from imagear.domain import json_object
from imagear.records import get_record
from imagear.web.auth import Auth, Who
from imagear.web.security import Throttle, WebOptions
from imagear.web.worker import Worker

HERE = Path(__file__).parent
AUDIT_SHOWN = 20  # the latest actions on a record shown on its page


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
        context.setdefault("who", who)
        context.setdefault("csrf", who.csrf or "")
        return self.templates.TemplateResponse(request, name, context, status_code=code)


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
    the record and its clip, never a job's messages, the review or the audit trail."""
    from imagear import auditlog
    from imagear.models import list_models

    app = console.app
    who = console.who(request)
    record = get_record(app, object_id)
    anim = record.animation
    clip = store.file_of(app.config, anim) if anim else None
    job = console.worker.status(object_id) if who.signed_in else None
    return console.page(
        request,
        "record.html",
        status,
        record=record,
        anim=json_object(anim) if anim else None,  # times as ISO 8601, as the page's script
        version=anim.mp4_filename or "" if anim else "",
        has_file=bool(clip and clip.is_file()),
        review=review.state(app, object_id) if who.signed_in else None,
        audit=auditlog.entries(app, object_id, AUDIT_SHOWN) if who.signed_in else [],
        job=json_object(job) if job else None,
        models=sorted(d.name for d in list_models()),
        errors=errors or {},
        error=error,
        values=values or {},
    )


__all__ = ["HERE", "Console", "error_response", "record_view", "wants_json"]
