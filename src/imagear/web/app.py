"""The web console's app: error handlers (statuses from :mod:`imagear.httperrors`, the table
`imagear serve` uses), the grid of records and the record page (:data:`grid_router`). Every
group of routes is an APIRouter whose routes take what they need as dependencies
(:mod:`imagear.web.deps`: the console, the admin token and CSRF check): the changes in
:mod:`imagear.web.actions`, the admin page in :mod:`imagear.web.admin`, the batch page in
:mod:`imagear.web.batchpage`, the files in :mod:`imagear.web.media`."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagear import review, store
from imagear.animate import Animator
from imagear.app import App
from imagear.domain import GridRow
from imagear.errors import ImagearError
from imagear.httperrors import status_of
from imagear.metrics import Metrics, RequestCounter
from imagear.web import (
    actions,
    admin,
    batchpage,
    i18n,
    iiif,
    media,
    probes,
    reviewpage,
    signin,
    userspage,
)
from imagear.web.auth import Auth
from imagear.web.console import HERE, Console, error_response, record_view
from imagear.web.deps import ConsoleDep, Refused, VisibleId, client_of, refused, throttled
from imagear.web.security import BodyTooLarge, Guard, WebOptions
from imagear.web.wording import error_body
from imagear.web.worker import Worker

PAGE_SIZE = 24
FILTER_LABELS = {
    "all": "All",
    "animated": "Animated",
    "missing": "Not yet",
    "failed": "Failed",
    "refused": "Refused by the gate",
    "rejected": "Rejected",
}


def create_app(
    app: App,
    token: str,
    *,
    animator: Callable[..., Animator] = Animator,
    options: WebOptions | None = None,
) -> FastAPI:
    """The console for ``app``, with ``token`` the admin token (users sign in with their name
    and password: :mod:`imagear.web.signin`); ``animator`` makes the worker's
    Animator (tests hand in one with a fake transport); ``options`` the Host names, sessions,
    body cap and throttle (:class:`~imagear.web.security.WebOptions`)."""

    options = options or WebOptions()
    worker = Worker(app, animator)
    metrics = Metrics(worker.waiting, lambda: int(worker.busy()))
    worker.metrics = metrics
    auth = Auth(app, token, ttl=options.session_hours * 3600, clock=options.clock)
    console = Console(app, auth, worker, options)

    @contextlib.asynccontextmanager
    async def lifespan(_web: FastAPI) -> AsyncIterator[None]:
        metrics.listen(options.metrics_listen)
        try:
            yield
        finally:
            metrics.close()
            worker.stop()

    web = FastAPI(
        title="imagear web", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    web.state.console = console
    web.state.metrics = metrics
    web.add_middleware(Guard, options=options)  # Host check, security headers, body cap
    web.add_middleware(RequestCounter, metrics=metrics)  # outermost: counts every answer
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @web.exception_handler(ImagearError)
    async def _imagear_error(request: Request, err: ImagearError) -> Response:
        status = status_of(err)  # the table shared with `imagear serve`
        body = error_body(err)
        response = error_response(console, request, status, str(body["error"]))
        if isinstance(response, JSONResponse) and console.who(request).signed_in:
            return JSONResponse(body, status_code=status)  # code, message, advice, fields...
        return response

    @web.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> Response:
        message = str(err.detail) if err.detail else "Error."
        if err.status_code == 404 and message == "Not Found":
            message = "There is nothing at this address."
        response = error_response(console, request, err.status_code, message)
        for name, value in (err.headers or {}).items():
            response.headers[name] = value
        return response

    @web.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, _err: BodyTooLarge) -> Response:
        return refused(console, request, Refused(413, "The form is too large."))

    @web.exception_handler(Refused)
    async def _refused(request: Request, err: Refused) -> Response:
        return refused(console, request, err)

    @web.get("/metrics", include_in_schema=False)
    def metrics_page(request: Request) -> Response:
        """Prometheus metrics, for an admin (Bearer token or a signed-in admin's session)."""
        throttled(request, console)  # a wrong Bearer token counts as a failed sign-in
        if not console.who(request).admin:
            if request.headers.get("authorization"):
                console.throttle.failed(client_of(request))
            raise Refused(401, "Metrics need the admin token: send it as a Bearer header.")
        return metrics.response()

    @web.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    routers = (
        grid_router,
        actions.router,
        signin.router,
        admin.router,
        batchpage.router,
        reviewpage.router,
        userspage.router,
        media.router,
    )
    for router in (*routers, iiif.router, probes.router):
        web.include_router(router)
    return web


grid_router = APIRouter()


@grid_router.get("/", response_class=HTMLResponse)
def grid(
    request: Request,
    console: ConsoleDep,
    q: str = "",
    show: str = "all",
    page: int = 1,
    after: int | None = None,
    before: int | None = None,
) -> Response:
    """The grid. ``?page=N`` alone is OFFSET paging (the first pages, old links); the pager's
    links are by key (``?after=ID`` / ``?before=ID``, with ``page`` for the number shown), so a
    deep page costs what the first one does."""
    app = console.app
    show = show if show in review.FILTERS else "all"
    page = max(1, min(page, 10**7))
    guest = not console.who(request).signed_in  # a guest sees published records only
    after, before = _record_key(after), _record_key(before)
    if after is not None or before is not None:
        rows, total = review.browse(app, q, show, PAGE_SIZE, 0, after, before, guest=guest)
    else:
        offset = (page - 1) * PAGE_SIZE
        rows, total = review.browse(app, q, show, PAGE_SIZE, offset, guest=guest)
    if guest:  # a failure's text can name a server or a path: not for guests
        rows = [dataclasses.replace(row, job_error=None) for row in rows]
    capped = total > review.COUNT_CAP
    pages = max(1, math.ceil(total / PAGE_SIZE))
    previews = [_preview_url(app, row) for row in rows]

    def link(**changes: object) -> str:
        params = {"q": q, "show": show, "page": page, **changes}
        if params.get("page") == 1:  # the first page needs no key
            params.pop("after", None)
            params.pop("before", None)
        return "/?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    more = bool(rows) and (page < pages or (capped and len(rows) == PAGE_SIZE))
    next_link = link(page=page + 1, after=rows[-1].id) if more else None
    prev_link = link(page=page - 1, before=rows[0].id) if page > 1 and rows else None
    if page > 1 and not rows:
        prev_link = link(page=1)
    return console.page(
        request,
        "grid.html",
        rows=rows,
        previews=previews,
        total=total,
        capped=capped,
        count_cap=review.COUNT_CAP,
        q=q,
        show=show,
        page=page,
        pages=pages,
        link=link,
        next_link=next_link,
        prev_link=prev_link,
        filters=FILTER_LABELS,
    )


def _record_key(value: int | None) -> int | None:
    """A paging key (a record id) kept within AtoM's ids; None when not given."""
    return None if value is None else max(0, min(int(value), 2**31))


@grid_router.get("/lang/{code}")
def choose_language(code: str, next: str = "/") -> Response:
    """The page's language switch: the choice kept in a cookie (a year), back to the page."""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


@grid_router.get("/records/{object_id}", response_class=HTMLResponse)
def record_page(request: Request, object_id: VisibleId, console: ConsoleDep) -> Response:
    return record_view(console, request, object_id)


def _preview_url(app: App, row: GridRow) -> tuple[str, str] | None:
    """The tile's preview: its URL and kind (``video``: a muted MP4; ``image``: an older
    clip's animated WebP), or None."""
    clip = store.file_of(app.config, row.animation) if row.animation else None
    if clip is None:
        return None
    preview = store.preview_of(clip)
    if preview is None:
        return None
    kind = "video" if preview.name.endswith(store.PREVIEW_SUFFIX) else "image"
    return f"/image-ar/{row.id}/preview", kind


__all__ = ["PAGE_SIZE", "WebOptions", "create_app"]
