"""The batch page (``/batch``): how the batch is getting on and its failures, for a curator or
an operator watching a cron run. ``/batch.json`` is the same snapshot, which the page fetches
every few seconds to update its numbers without a reload. Read-only: no token needed, as for
the grid (the console listens on loopback unless told otherwise); the failures' errors (which
may name hosts and paths) only to a signed-in user (the retry button: an admin's), a page at a time (read in SQL): a visitor
sees their counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from imagear.batch import failure_counts, failure_page, progress, reset_failures
from imagear.domain import json_object
from imagear.roles import RETRY
from imagear.web.actions import act
from imagear.web.deps import AppDep, Change, ConsoleDep, needs

FAILURES_SHOWN = 100
REFRESH_MS = 3000


def _ago(secs: float | None) -> str:
    """As the page's script words it (``45 s``, ``12 min``, ``3 h 5 min``)."""
    if secs is None:
        return ""
    secs = max(0.0, secs)
    if secs < 60:
        return f"{round(secs)} s"
    if secs < 3600:
        return f"{round(secs / 60)} min"
    return f"{int(secs // 3600)} h {round((secs % 3600) / 60)} min"


def _stamp(iso: str | None) -> str:
    """An ISO time in UTC as the page shows it (``2026-11-28 19:56:58Z``), as its script does."""
    return f"{iso[:19].replace('T', ' ')}Z" if iso else ""


router = APIRouter()


@router.get("/batch", response_class=HTMLResponse)
def batch_page(
    request: Request, console: ConsoleDep, fpage: int = 1, retried: int | None = None
) -> Response:
    app = console.app
    now = progress(app)
    fpage = max(1, min(fpage, 10**7))
    who = console.who(request)
    signed_in = who.signed_in
    failures = (
        failure_page(app, FAILURES_SHOWN, (fpage - 1) * FAILURES_SHOWN, with_waiting=False)
        if signed_in
        else failure_counts(app)
    )
    ages = [_ago((now.now - c.since).total_seconds()) if c.since else "" for c in now.running]
    return console.page(
        request,
        "batch.html",
        p=json_object(now),
        ages=ages,
        stamp=_stamp,
        failures=[json_object(f) for f in failures.failures],
        failures_total=failures.total,
        failures_given_up=failures.given_up,
        failures_more=failures.more,
        fpage=fpage,
        signed_in=signed_in,
        refresh_ms=REFRESH_MS,
        eta=_ago(now.eta_secs),
        retried=retried if signed_in else None,
        may_retry=who.may(RETRY),
    )


RetryDep = Annotated[Change, Depends(needs(RETRY))]


@router.post("/batch/retry")
def batch_retry(request: Request, app: AppDep, ch: RetryDep) -> Response:
    """Every failed and given-up record back to the next run (``batch reset --all-failed``);
    an admin's."""
    ids = reset_failures(app)
    act(app, ch.who, "retry", count=len(ids))
    return RedirectResponse(f"/batch?retried={len(ids)}", status_code=303)


@router.get("/batch.json")
def batch_json(app: AppDep) -> Response:
    return JSONResponse(json_object(progress(app)), headers={"Cache-Control": "no-store"})


__all__ = ["router"]
