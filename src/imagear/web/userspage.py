"""The users page (``GET /admin/users``): the console's accounts with their roles, for an
admin, read-only. Accounts are added, changed and removed with ``imagear users`` (the CLI)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from imagear import accounts
from imagear.roles import USERS
from imagear.web.deps import ConsoleDep, Refused, role_refused

PATH = "/admin/users"

router = APIRouter()


@router.get(PATH, response_class=HTMLResponse)
def users_page(request: Request, console: ConsoleDep) -> Response:
    who = console.who(request)
    if not who.signed_in:
        if request.headers.get("authorization"):
            raise Refused(401, "That is not the admin token.")
        return RedirectResponse(f"/login?next={PATH}", status_code=303)
    if not who.may(USERS):
        raise role_refused(request, who, USERS)
    return console.page(request, "users.html", users=accounts.list_users(console.app))


__all__ = ["PATH", "router"]
