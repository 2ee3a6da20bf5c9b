"""Signing in and out of the console: ``GET|POST /login`` (a user's name and password, checked
against the argon2 hash of :mod:`imagear.accounts`; or the admin token, in the password field
with no name, or as the ``token`` field scripts send) and ``POST /logout``.

Failed sign-ins are throttled per client address and per user name
(:class:`~imagear.web.security.Throttle`: after ``sign_in_failures`` in ``sign_in_window``
seconds, 429 with Retry-After), so neither one address trying many names nor many addresses
trying one name gets far. A sign-in opens a session in the database (``imagear_session``).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from imagear import accounts
from imagear.roles import User
from imagear.web.auth import COOKIE
from imagear.web.console import Console, gettext
from imagear.web.deps import ChangeDep, ConsoleDep, Refused, client_of, form_of, throttled

log = logging.getLogger("imagear.web")
WRONG = "That name and password do not match (or that is not the admin token)."

router = APIRouter()


@router.get("/login")
def login_form(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    return console.page(request, "login.html", next=_local(next), error=None, user_name="")


def _name_throttled(console: Console, name: str) -> None:
    wait = console.name_throttle.retry_after(name.lower())
    if wait is not None:
        raise Refused(429, f"Too many failed sign-ins for this name; retry in {wait} s.", wait)


@router.post("/login")
async def login(request: Request, console: ConsoleDep) -> Response:
    throttled(request, console)  # 429 after too many failures from this address
    form = await form_of(request, console)
    target = _local(form.get("next") or "/")
    name = (form.get("name") or "").strip()
    secret = form.get("token") or form.get("password") or ""
    user: User | None = None
    if name:
        _name_throttled(console, name)
        user = accounts.verify(console.app, name, secret)
        ok = user is not None
    else:
        ok = console.auth.token_ok(secret)
    if not ok:
        console.throttle.failed(client_of(request))
        if name:
            console.name_throttle.failed(name.lower())
        reason = "wrong name or password" if name else "not the admin token"
        request.state.log_reason = reason
        log.warning(
            "sign-in refused", extra={"action": "sign-in", "user": name or "?", "reason": reason}
        )
        wrong = gettext(request)(WRONG)
        return console.page(request, "login.html", 401, next=target, error=wrong, user_name=name)
    response = RedirectResponse(target, status_code=303)
    label = user.name if user else "admin (session)"
    log.info("sign-in by %s", label, extra={"action": "sign-in", "user": label})
    secure = console.options.behind_https or request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        console.auth.new_session(user),
        max_age=int(console.auth.ttl),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, console: ConsoleDep, ch: ChangeDep) -> Response:
    console.auth.revoke(request.cookies.get(COOKIE))  # a copy of the cookie stops working too
    log.info("sign-out by %s", ch.who.label, extra={"action": "sign-out", "user": ch.who.label})
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _local(target: str) -> str:
    """Only a path of this site is a place to go after signing in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


__all__ = ["router"]
