"""What the console's routes depend on, as FastAPI dependencies: the :class:`Console` (the
App, the token check, the worker, the templates; kept in the app's state); the record a
request may see (:data:`VisibleId`: a guest sees published records only, anything else is a
404); the sign-in, role and CSRF check of every change (:func:`change`, :func:`needs`: a
:class:`Refused` becomes 401 / 403 through the app's handler, :func:`refused`)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from imagear.app import App
from imagear.limits import MAX_ID
from imagear.publication import guest_may_see
from imagear.web.auth import CSRF_FIELD, Who
from imagear.web.console import Console, error_response, gettext


def console_of(request: Request) -> Console:
    """The console of the app that got ``request`` (set by :func:`imagear.web.app.create_app`)."""
    return cast(Console, request.app.state.console)


ConsoleDep = Annotated[Console, Depends(console_of)]


def app_of(console: ConsoleDep) -> App:
    return console.app


AppDep = Annotated[App, Depends(app_of)]


def record_id(object_id: str) -> int:
    """The record id of a path; 404 for anything that can name no record (not a number, 0,
    above :data:`~imagear.limits.MAX_ID`), before the database sees it."""
    if not re.fullmatch(r"[0-9]{1,10}", object_id) or not 0 < int(object_id) <= MAX_ID:
        raise HTTPException(404, "There is no record with that id.")
    return int(object_id)


RecordId = Annotated[int, Depends(record_id)]


def clip_id(clip_id: str) -> int:
    """A clip row id of a path (``object_image_ar.id``, Heratio's delete route): 404 for
    anything that can name no row, as :func:`record_id`."""
    if not re.fullmatch(r"[0-9]{1,10}", clip_id) or not 0 < int(clip_id) <= MAX_ID:
        raise HTTPException(404, "There is no clip with that id.")
    return int(clip_id)


ClipId = Annotated[int, Depends(clip_id)]

NOT_THERE = "There is no record with that id."


def visible_id(request: Request, object_id: RecordId, console: ConsoleDep) -> int:
    """The record id of a path that this request may see: a guest only a published record
    (:func:`imagear.publication.guest_may_see`); anything else is the same 404 as a record
    that does not exist, so a guest cannot tell a draft from nothing."""
    who = console.who(request)
    request.state.who = who
    if not who.signed_in and not guest_may_see(console.app, object_id):
        raise HTTPException(404, NOT_THERE)
    return object_id


VisibleId = Annotated[int, Depends(visible_id)]


def who_of(request: Request, console: ConsoleDep) -> Who:
    """Who sent the request (read once per request)."""
    cached = getattr(request.state, "who", None)
    if isinstance(cached, Who):
        return cached
    who = console.who(request)
    request.state.who = who
    return who


WhoDep = Annotated[Who, Depends(who_of)]


class Refused(Exception):
    """A change by nobody signed in (401), without the session's CSRF token or by a role that
    may not (403), with a body too large (413), or from an address or name with too many
    failed sign-ins (429)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def throttled(request: Request, console: Console) -> None:
    """Refused (429) while the client's address has too many failed sign-ins."""
    wait = console.throttle.retry_after(client_of(request))
    if wait is not None:
        raise Refused(429, f"Too many failed sign-ins from this address; retry in {wait} s.", wait)


async def form_of(request: Request, console: Console) -> dict[str, str]:
    """The form of a request, text fields only; Refused (413) for a body above the cap (files
    are refused: the console's forms have none)."""
    length = request.headers.get("content-length") or "0"
    if not length.isdigit() or int(length) > console.options.max_form_bytes:
        raise Refused(413, "The form is too large.")
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@dataclass(frozen=True)
class Change:
    """Who sent a change, and the form's fields."""

    who: Who
    form: dict[str, str]


async def change(request: Request, console: ConsoleDep) -> Change:
    """Who sent a change and its form; Refused (401 when nobody signed in, 403 without the
    CSRF token of a session)."""
    throttled(request, console)
    who = console.who(request)  # before the body is read: a guest's upload is never read
    request.state.who = who
    if not who.signed_in:
        if request.headers.get("authorization"):
            console.throttle.failed(client_of(request))
        raise Refused(
            401,
            "This needs the admin token or a signed-in user: sign in, or send the token as a "
            "Bearer header.",
        )
    form = await form_of(request, console)
    if not console.auth.csrf_ok(who, form.get(CSRF_FIELD)):
        raise Refused(403, "The form's CSRF token is missing or wrong; reload the page and retry.")
    return Change(who, form)


ChangeDep = Annotated[Change, Depends(change)]

ROLE_WORDS = {
    "generate": "generate clips",
    "approve": "approve clips",
    "reject": "reject clips",
    "delete": "delete clips",
    "restore": "restore deleted clips",
    "retry": "retry a batch's failures",
    "settings": "change the settings",
    "users": "manage users",
}


ROLE_REFUSED = "Your role (%s) cannot %s; ask an admin."


def role_refused(request: Request, who: Who, action: str) -> Refused:
    """The 403 for ``who``, whose role may not take ``action``, in the page's language."""
    _ = gettext(request)
    return Refused(403, _(ROLE_REFUSED) % (_(who.role), _(ROLE_WORDS.get(action, action))))


def needs(action: str) -> Callable[[Request, Console], Awaitable[Change]]:
    """A dependency: a change by a user whose role may take ``action``
    (:data:`imagear.roles.ALLOWED`); Refused (403) for one whose role may not."""

    async def dependency(request: Request, console: ConsoleDep) -> Change:
        ch = await change(request, console)
        if not ch.who.may(action):
            raise role_refused(request, ch.who, action)
        return ch

    return dependency


def refused(console: Console, request: Request, err: Refused) -> Response:
    """The answer to a Refused change (a 401 asks for a Bearer token)."""
    response = error_response(console, request, err.status, err.message)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


__all__ = [
    "AppDep",
    "ClipId",
    "Change",
    "ChangeDep",
    "ConsoleDep",
    "RecordId",
    "Refused",
    "VisibleId",
    "WhoDep",
    "app_of",
    "change",
    "client_of",
    "console_of",
    "form_of",
    "record_id",
    "needs",
    "refused",
    "role_refused",
    "throttled",
    "visible_id",
    "who_of",
]
