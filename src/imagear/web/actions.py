"""The console's changes: generate (Heratio's ``POST /image-ar/generate/{id}``), delete,
approve, reject; the generation status the record page polls; login and logout.

Every change needs the admin token (:mod:`imagear.web.auth`): a Bearer header, or the session
cookie plus the form's CSRF token; the routes ask for it as a dependency
(:data:`~imagear.web.deps.ChangeDep`), as they ask for the console. The animate form is checked
like the CLI checks its options (the registry's ``resolve_generation`` through
:meth:`Animator.validate`, worded with the form's field names; ``InvalidOption.fields`` says
which field is at fault) before the job is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from imagear import review
from imagear.animate import AnimateRequest
from imagear.domain import json_object
from imagear.errors import InvalidOption
from imagear.errors import Refused as RefusedError
from imagear.httperrors import status_of
from imagear.models import OptionNames
from imagear.models.wording import GivenAs
from imagear.records import get_record
from imagear.trash import KEEP_HOURS, delete_to_trash
from imagear.trash import restore as restore_clip
from imagear.web.auth import COOKIE
from imagear.web.console import gettext, job_body, record_view, shown_job, wants_json
from imagear.web.deps import AppDep, ChangeDep, ConsoleDep, RecordId, client_of, form_of, throttled
from imagear.web.wording import FIELDS, error_body, one_line

log = logging.getLogger("imagear.web")


def log_action(action: str, how: str | None, object_id: int | None = None, **more: object) -> None:
    """One log line for a curator's action, naming the user (the admin, and how it signed in:
    ``admin (session)``, ``admin (bearer)``); never a secret."""
    user = f"admin ({how})" if how else "guest"
    extra = {"action": action, "user": user, "object_id": object_id, "fields": more}
    log.info("%s by %s%s", action, user, f" on {object_id}" if object_id else "", extra=extra)


NUMBERS = ("num_frames", "fps", "motion_bucket_id", "seed")


class WebWording(OptionNames):
    """The console's wording: the animate form's fields by their labels."""

    def label(self, key: str, given_as: GivenAs) -> str:
        return f"the {FIELDS[key]} field" if key in FIELDS else f"the {key} field"

    def model(self, name: str) -> str:
        return f"the Model field ({name})"

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        return None if listed else f"Leave the field empty to use {model}'s default."


WORDING = WebWording()


def parse_request(object_id: int, form: dict[str, str]) -> AnimateRequest:
    """The animate form as an AnimateRequest; InvalidOption naming the field at fault."""
    overrides: dict[str, int | str] = {}
    for key in NUMBERS:
        raw = (form.get(key) or "").strip()
        if not raw:
            continue
        try:
            overrides[key] = int(raw)
        except ValueError:
            raise InvalidOption(
                f"The {FIELDS[key]} field must be a whole number, not {raw!r}.",
                fields=[key],
            ) from None
    prompt = (form.get("prompt") or "").strip()
    if prompt:
        overrides["prompt"] = prompt
    motion = (form.get("motion") or "").strip()
    if motion:  # a Ken Burns camera motion, chosen from the form's list (the model checks it)
        overrides["motion"] = motion
    model = (form.get("model") or "").strip() or None
    return AnimateRequest(object_id, model=model, overrides=overrides, force=True, wording=WORDING)


def _done(request: Request, object_id: int, message: str, status: int = 200) -> Response:
    if wants_json(request):  # in the page's language
        body = {"ok": True, "message": gettext(request)(message)}
        return JSONResponse(body, status_code=status)
    return RedirectResponse(f"/records/{object_id}", status_code=303)


router = APIRouter()


@router.post("/image-ar/generate/{object_id}")
def generate(request: Request, object_id: RecordId, console: ConsoleDep, ch: ChangeDep) -> Response:
    form = ch.form
    get_record(console.app, object_id)  # RecordNotFound: 404
    try:
        req = parse_request(object_id, form)
        animator = console.worker.animator
        settings = animator.settings()
        settings.require_generation()
        animator.validate(req, settings)
    except InvalidOption as err:  # the form is shown again, the error by its fields
        fields = [f for f in err.fields if f in FIELDS] or ["model"]
        if wants_json(request):
            return JSONResponse(error_body(err, fields), status_code=400)
        errors = {f: one_line(err) for f in fields}
        request.state.log_reason = one_line(err)
        return record_view(console, request, object_id, 400, errors=errors, values=form)
    except RefusedError as err:  # ar_enabled / ar_user_button off: 409, as the table says
        request.state.log_reason = one_line(err)
        if wants_json(request):
            return JSONResponse(error_body(err), status_code=status_of(err))
        return record_view(
            console, request, object_id, status_of(err), error=one_line(err), values=form
        )
    job = console.worker.submit(req)
    log_action("generate", ch.who.how, object_id, model=req.model)
    status_url = f"/image-ar/{object_id}/status"
    if wants_json(request):
        return JSONResponse(
            {"job": job_body(job), "status_url": status_url},
            status_code=202,
            headers={"Location": status_url},
        )
    return RedirectResponse(f"/records/{object_id}", status_code=303)


@router.get("/image-ar/{object_id}/status")
def status(request: Request, object_id: RecordId, console: ConsoleDep) -> Response:
    """The record's clip, review and the generation's job: its messages (without server
    paths) for a signed-in curator only; a guest sees the state alone."""
    record = get_record(console.app, object_id)
    anim = record.animation
    made = anim.updated_at.timestamp() if anim and anim.updated_at else None
    job = console.worker.status(object_id)
    shown = job_body(shown_job(job, made))
    if shown is not None and not console.who(request).admin:  # the state, no message
        shown = {k: shown[k] for k in ("object_id", "state", "phase", "status")}
    body: dict[str, object] = {"object_id": object_id, "job": shown}
    body["animation"] = _shown(json_object(anim)) if anim else None
    body["video"] = f"/image-ar/{object_id}/video" if anim else None
    body["poster"] = f"/image-ar/{object_id}/poster"
    verdict = review.state(console.app, object_id)
    body["review"] = (
        {"state": verdict.state, "reviewed_by": verdict.reviewed_by} if verdict else None
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/image-ar/{object_id}/delete")
def delete(request: Request, object_id: RecordId, app: AppDep, ch: ChangeDep) -> Response:
    """Delete the clip (and its review), kept in the trash for an undo."""
    kept = delete_to_trash(app, object_id, f"web ({ch.who.how})")
    log_action("delete", ch.who.how, object_id)
    if wants_json(request):
        said = gettext(request)("Clip deleted; it can be restored for %s hours.")
        body = {"ok": True, "message": said % f"{KEEP_HOURS:g}"}
        body["restore_url"] = f"/image-ar/{object_id}/restore"
        body["until"] = kept.until.isoformat()
        return JSONResponse(body)
    return RedirectResponse(f"/records/{object_id}", status_code=303)


@router.post("/image-ar/{object_id}/restore")
def restore(request: Request, object_id: RecordId, app: AppDep, ch: ChangeDep) -> Response:
    """Undo the last deletion of the record's clip (while it is in the trash)."""
    restore_clip(app, object_id)
    log_action("restore", ch.who.how, object_id)
    return _done(request, object_id, "Clip restored.")


@router.post("/records/{object_id}/approve")
def approve(request: Request, object_id: RecordId, app: AppDep, ch: ChangeDep) -> Response:
    review.approve(app, object_id, f"web ({ch.who.how})")
    log_action("approve", ch.who.how, object_id)
    return _done(request, object_id, "Clip approved.")


@router.post("/records/{object_id}/reject")
def reject(request: Request, object_id: RecordId, app: AppDep, ch: ChangeDep) -> Response:
    review.reject(app, object_id, f"web ({ch.who.how})")
    log_action("reject", ch.who.how, object_id)
    return _done(request, object_id, "Clip rejected; the record is queued for a new seed.")


@router.get("/login")
def login_form(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    return console.page(request, "login.html", next=_local(next), error=None)


@router.post("/login")
async def login(request: Request, console: ConsoleDep) -> Response:
    throttled(request, console)  # 429 after too many failures from this address
    form = await form_of(request, console)
    target = _local(form.get("next") or "/")
    if not console.auth.token_ok(form.get("token") or ""):
        console.throttle.failed(client_of(request))
        request.state.log_reason = "not the admin token"
        log.warning(
            "sign-in refused",
            extra={"action": "sign-in", "user": "guest", "reason": "not the admin token"},
        )
        return console.page(
            request, "login.html", 401, next=target, error="That is not the admin token."
        )
    response = RedirectResponse(target, status_code=303)
    log_action("sign-in", "session")
    secure = console.options.behind_https or request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        console.auth.new_session(),
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
    log_action("sign-out", ch.who.how)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _local(target: str) -> str:
    """Only a path of this site is a place to go after logging in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _shown(anim: Mapping[str, object]) -> dict[str, object]:
    keys = (
        "ai_model", "ai_prompt", "ai_seed", "ai_motion_bucket_id", "mp4_motion", "mp4_width",
        "mp4_height", "mp4_fps", "mp4_duration_secs", "mp4_size", "generation_secs",
        "mp4_filename", "created_by",
    )  # fmt: skip
    shown = {k: anim.get(k) for k in keys}
    for key in ("created_at", "updated_at"):
        value = anim.get(key)
        shown[key] = value.isoformat() if isinstance(value, datetime) else value
    return shown


__all__ = ["FIELDS", "WORDING", "WebWording", "parse_request", "router"]
