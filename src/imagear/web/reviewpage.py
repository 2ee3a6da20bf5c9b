"""The review queue (``/review``): the clips no curator has approved or rejected yet, one after
another, with keys (A approve, R reject, J/K next/previous, Space play/pause) and their hints
shown. For a signed-in curator or admin only; the verdicts go through the record page's routes
(:mod:`imagear.web.actions`), so they need the same token and CSRF check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from imagear import review
from imagear.roles import APPROVE
from imagear.web.deps import ConsoleDep, role_refused

PATH = "/review"
QUEUE_SHOWN = 200  # clips the page holds; the rest come on the next visit

router = APIRouter()


@router.get(PATH, response_class=HTMLResponse)
def review_queue(request: Request, console: ConsoleDep) -> Response:
    who = console.who(request)
    if not who.signed_in:
        return RedirectResponse(f"/login?next={PATH}", status_code=303)
    if not who.may(APPROVE):
        raise role_refused(request, who, APPROVE)
    rows, total = review.queue(console.app, QUEUE_SHOWN)
    items = [
        {
            "id": row.id,
            "identifier": row.identifier or "",
            "title": row.title or "",
            "master": row.has_master,
            "version": row.animation.mp4_filename or "" if row.animation else "",
            "model": row.animation.ai_model or "" if row.animation else "",
        }
        for row in rows
    ]
    return console.page(request, "review.html", items=items, total=total)


__all__ = ["PATH", "router"]
