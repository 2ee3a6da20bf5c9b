"""What the console's routes depend on, as FastAPI dependencies: the :class:`Console` (the
App, the token check, the worker, the templates; kept in the app's state), and the admin
token and CSRF check of every change (:func:`change`: a :class:`Refused` becomes 401 / 403
through the app's handler, :func:`refused`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.responses import Response

from imagear.app import App
from imagear.web.auth import CSRF_FIELD, Who
from imagear.web.console import Console, error_response


def console_of(request: Request) -> Console:
    """The console of the app that got ``request`` (set by :func:`imagear.web.app.create_app`)."""
    return cast(Console, request.app.state.console)


ConsoleDep = Annotated[Console, Depends(console_of)]


def app_of(console: ConsoleDep) -> App:
    return console.app


AppDep = Annotated[App, Depends(app_of)]


class Refused(Exception):
    """A change without the admin token (401) or without the session's CSRF token (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Change:
    """Who sent a change, and the form's fields."""

    who: Who
    form: dict[str, str]


async def change(request: Request, console: ConsoleDep) -> Change:
    """The admin and the form of a change; Refused (401 without the token, 403 without the
    CSRF token of a session)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    who = console.who(request)
    if not who.admin:
        raise Refused(401, "This needs the admin token: log in, or send it as a Bearer header.")
    if not console.auth.csrf_ok(who, form.get(CSRF_FIELD)):
        raise Refused(403, "The form's CSRF token is missing or wrong; reload the page and retry.")
    return Change(who, form)


ChangeDep = Annotated[Change, Depends(change)]


def refused(console: Console, request: Request, err: Refused) -> Response:
    """The answer to a Refused change (a 401 asks for a Bearer token)."""
    response = error_response(console, request, err.status, err.message)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


__all__ = [
    "AppDep",
    "Change",
    "ChangeDep",
    "ConsoleDep",
    "Refused",
    "app_of",
    "change",
    "console_of",
    "refused",
]
