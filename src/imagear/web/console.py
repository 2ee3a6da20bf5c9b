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
        self.throttle = Throttle(
            self.options.clock, self.options.sign_in_failures, self.options.sign_in_window
        )
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        from imagear.provenance import disclosure  # AI clips are said to be AI (issue 22)

        self.templates.env.globals["disclosure"] = disclosure

    def who(self, request: Request) -> Who:
        return self.auth.who(request.headers, request.cookies)

    def page(self, request: Request, name: str, code: int = 200, **context: object) -> Response:
        who = self.who(request)
        context.setdefault("who", who)
        context.setdefault("csrf", who.csrf or "")
        return self.templates.TemplateResponse(request, name, context, status_code=code)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    console: Console, request: Request, status: int, message: str, **extra: object
) -> Response:
    request.state.log_reason = message  # the request's log line says why (imagear.logs)
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
    """A record's page (also re-shown with the animate form's errors by field)."""
    from imagear.models import list_models

    app = console.app
    record = get_record(app, object_id)
    anim = record.animation
    clip = store.file_of(app.config, anim) if anim else None
    job = console.worker.status(object_id)
    return console.page(
        request,
        "record.html",
        status,
        record=record,
        anim=json_object(anim) if anim else None,  # times as ISO 8601, as the page's script
        version=anim.mp4_filename or "" if anim else "",
        has_file=bool(clip and clip.is_file()),
        review=review.state(app, object_id),
        job=json_object(job) if job else None,
        models=sorted(d.name for d in list_models()),
        errors=errors or {},
        error=error,
        values=values or {},
    )


__all__ = ["HERE", "Console", "error_response", "record_view", "wants_json"]
