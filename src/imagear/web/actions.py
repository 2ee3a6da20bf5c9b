"""The console's changes: generate (Heratio's ``POST /image-ar/generate/{id}``), delete (Heratio's
``POST /image-ar/{clip row id}/delete``, and imagear's own delete by record; both keep the clip
in the trash, :mod:`imagear.trash`), restore (undo a deletion), approve, reject; the generation
status the record page polls.

Every change needs a signed-in user whose role allows it (:mod:`imagear.roles`: a curator
generates, approves and rejects; an admin also deletes and restores), asked for as a dependency
(:func:`~imagear.web.deps.needs`), and is written to the audit trail (:func:`act`). The
animate form is checked like the CLI checks its options (the registry's
``resolve_generation`` through :meth:`Animator.validate`, worded with the form's field names;
``InvalidOption.fields`` says which field is at fault) before the job is queued; fields a
model does not take (Heratio's record form always posts ``motion_bucket_id``, its forms
``_token``) are ignored and logged, as Heratio's server ignores them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from imagear import auditlog, review
from imagear.animate import AnimateRequest
from imagear.app import App
from imagear.clips import record_of_clip
from imagear.domain import json_object
from imagear.errors import ImagearError, InvalidOption
from imagear.errors import Refused as RefusedError
from imagear.heratio import created_by_user
from imagear.httperrors import status_of
from imagear.models import OptionNames
from imagear.models.wording import GivenAs
from imagear.records import find_master, get_record
from imagear.roles import APPROVE, DELETE, GENERATE, REJECT, RESTORE
from imagear.trash import KEEP_HOURS, delete_to_trash
from imagear.trash import restore as restore_clip
from imagear.web.auth import CSRF_FIELD, Who
from imagear.web.console import Console, gettext, job_body, record_view, shown_job, wants_json
from imagear.web.deps import Change, ClipId, ConsoleDep, RecordId, VisibleId, WhoDep, needs
from imagear.web.wording import FIELDS, error_body, one_line

log = logging.getLogger("imagear.web")


def log_action(action: str, who: Who, object_id: int | None = None, **more: object) -> None:
    """One log line for a user's action, naming the user (``alice``, ``admin (session)``,
    ``admin (bearer)``); never a secret."""
    user = who.label
    extra = {"action": action, "user": user, "object_id": object_id, "fields": more}
    log.info("%s by %s%s", action, user, f" on {object_id}" if object_id else "", extra=extra)


def act(app: App, who: Who, action: str, object_id: int | None = None, **more: object) -> None:
    """A user's action, logged and written to the audit trail (``imagear_audit``)."""
    log_action(action, who, object_id, **more)
    detail = ", ".join(
        f"{k}={' '.join(map(str, v)) if isinstance(v, list | tuple) else v}"
        for k, v in more.items()
        if v not in (None, "", [])
    )
    auditlog.record(app, who.label, who.role, action, object_id, detail or None)


NUMBERS = ("num_frames", "fps", "motion_bucket_id", "seed")
FORM_FIELDS = frozenset({*NUMBERS, "prompt", "model", "motion", CSRF_FIELD})


class WebWording(OptionNames):
    """The console's wording: the animate form's fields by their labels."""

    def label(self, key: str, given_as: GivenAs) -> str:
        return f"the {FIELDS[key]} field" if key in FIELDS else f"the {key} field"

    def model(self, name: str) -> str:
        return f"the Model field ({name})"

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        return None if listed else f"Leave the field empty to use {model}'s default."


WORDING = WebWording()


def parse_request(
    object_id: int, form: Mapping[str, str], takes: frozenset[str] | None = None
) -> tuple[AnimateRequest, list[str]]:
    """The animate form as an AnimateRequest, and the fields ignored: any field the form does
    not have (``_token``), and with ``takes`` (the options of the model asked for) a number the
    model does not take. InvalidOption names the field at fault."""
    ignored = sorted(k for k in form if k not in FORM_FIELDS)
    overrides: dict[str, int | str] = {}
    for key in NUMBERS:
        raw = (form.get(key) or "").strip()
        if not raw:
            continue
        if takes is not None and key not in takes:
            ignored.append(key)
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
    if motion and takes is not None and "motion" not in takes:
        ignored.append("motion")  # a Ken Burns camera motion for a model that has none
    elif motion:  # a Ken Burns camera motion, chosen from the form's list (the model checks it)
        overrides["motion"] = motion
    model = (form.get("model") or "").strip() or None
    req = AnimateRequest(
        object_id, model=model, overrides=overrides, force=True, wording=WORDING, via="web"
    )
    return req, ignored


def model_takes(name: str) -> frozenset[str] | None:
    """The per-call options model ``name`` takes or ignores by itself; None: unknown model
    (the validation says so)."""
    from imagear.models import get_model

    try:
        desc = get_model(name)
    except ImagearError:
        return None
    fields = frozenset(desc.Options.model_fields)
    # a motion bucket for a model without one (Heratio's form always posts 127): dropped here
    return fields | (desc.ignored_parameters() - {"motion_bucket_id"})


def _done(request: Request, object_id: int, message: str, status: int = 200) -> Response:
    if wants_json(request):  # in the page's language
        body = {"ok": True, "message": gettext(request)(message)}
        return JSONResponse(body, status_code=status)
    return RedirectResponse(f"/records/{object_id}", status_code=303)


router = APIRouter()
GenerateDep = Annotated[Change, Depends(needs(GENERATE))]
ApproveDep = Annotated[Change, Depends(needs(APPROVE))]
RejectDep = Annotated[Change, Depends(needs(REJECT))]
DeleteDep = Annotated[Change, Depends(needs(DELETE))]
RestoreDep = Annotated[Change, Depends(needs(RESTORE))]


@router.post("/image-ar/generate/{object_id}")
def generate(
    request: Request, object_id: RecordId, console: ConsoleDep, ch: GenerateDep
) -> Response:
    form = ch.form
    get_record(console.app, object_id)  # RecordNotFound: 404
    try:
        animator = console.worker.animator
        settings = animator.settings()
        settings.require_generation()  # off: 409 before anything else is said
        chosen = (form.get("model") or "").strip() or settings.ar_model
        req, ignored = parse_request(object_id, form, model_takes(chosen))
        if ch.who.user is not None:  # created_by: the user (a Heratio user id on Heratio's)
            by = created_by_user(console.app, ch.who.user.name, ch.who.user.heratio_user_id)
            req = replace(req, created_by=by)
        if ignored:
            log.info(
                "generate: ignored field(s) %s (not options of %s)", ", ".join(ignored), chosen,
                extra={"action": "generate", "object_id": object_id, "ignored": ignored},
            )  # fmt: skip
        find_master(console.app, object_id)  # no master (or its file gone): refused now
        animator.validate(req, settings)
    except InvalidOption as err:  # the form is shown again, the error by its fields
        fields = [f for f in err.fields if f in FIELDS] or ["model"]
        if wants_json(request):
            return JSONResponse(error_body(err, fields), status_code=400)
        errors = {f: one_line(err) for f in fields}
        request.state.log_reason = one_line(err)
        return record_view(console, request, object_id, 400, errors=errors, values=form)
    except (RefusedError, ImagearError) as err:  # turned off: 409; no master: 404
        request.state.log_reason = one_line(err)
        if wants_json(request):
            return JSONResponse(error_body(err), status_code=status_of(err))
        return record_view(
            console, request, object_id, status_of(err), error=one_line(err), values=form
        )
    job = console.worker.submit(req)
    act(console.app, ch.who, "generate", object_id, model=req.model)
    status_url = f"/image-ar/{object_id}/status"
    if wants_json(request):
        return JSONResponse(
            {"job": job_body(job), "status_url": status_url},
            status_code=202,
            headers={"Location": status_url},
        )
    return RedirectResponse(f"/records/{object_id}", status_code=303)


GUEST_JOB = ("object_id", "state", "status")  # a guest sees no message, error or phase


@router.get("/image-ar/{object_id}/status")
def status(object_id: VisibleId, console: ConsoleDep, who: WhoDep) -> Response:
    """The record's clip, review and the generation's job: its messages (without server
    paths) for a signed-in user only; a guest sees the job's state alone and no review."""
    # the job before the record: a generation that ends between the two reads then shows its
    # clip (read second), never "done" with the clip before it
    job = console.worker.status(object_id)
    record = get_record(console.app, object_id)
    anim = record.animation
    made = anim.updated_at.timestamp() if anim and anim.updated_at else None
    shown = job_body(shown_job(job, made))
    if shown is not None and not who.signed_in:
        shown = {k: shown[k] for k in GUEST_JOB}
    body: dict[str, object] = {"object_id": object_id, "job": shown}
    body["animation"] = _shown(json_object(anim)) if anim else None
    body["video"] = f"/image-ar/{object_id}/video" if anim else None
    body["poster"] = f"/image-ar/{object_id}/poster"
    verdict = review.state(console.app, object_id) if who.signed_in else None
    body["review"] = (
        {"state": verdict.state, "reviewed_by": verdict.reviewed_by} if verdict else None
    )
    return JSONResponse(body, headers={"Cache-Control": "private, max-age=0, no-store"})


def _trashed(
    request: Request, console: Console, who: Who, object_id: int, clip_id: int | None = None
) -> Response:
    """Delete the record's clip (``clip_id``: only while the record's row is that one) to the
    trash, audited; JSON says where to undo it."""
    kept = delete_to_trash(console.app, object_id, f"web ({who.label})", clip_id=clip_id)
    act(console.app, who, "delete", object_id, clip_id=clip_id)
    if wants_json(request):
        said = gettext(request)("Clip deleted; it can be restored for %s hours.")
        body = {"ok": True, "message": said % f"{KEEP_HOURS:g}"}
        body["restore_url"] = f"/records/{object_id}/restore"
        body["until"] = kept.until.isoformat()
        return JSONResponse(body)
    return RedirectResponse(f"/records/{object_id}", status_code=303)


@router.post("/image-ar/{clip_id}/delete")
def delete_heratio(
    request: Request, clip_id: ClipId, console: ConsoleDep, ch: DeleteDep
) -> Response:
    """Heratio's route: the id is the clip row's (``object_image_ar.id``), not the record's.
    The clip goes to the trash (a row replaced meanwhile is not this one: 404)."""
    object_id = record_of_clip(console.app, clip_id)  # AnimationNotFound: 404
    return _trashed(request, console, ch.who, object_id, clip_id)


@router.post("/records/{object_id}/delete")
def delete(request: Request, object_id: RecordId, console: ConsoleDep, ch: DeleteDep) -> Response:
    """imagear's own: delete the clip of record ``object_id`` (and its review) to the trash."""
    return _trashed(request, console, ch.who, object_id)


@router.post("/records/{object_id}/restore")
def restore(request: Request, object_id: RecordId, console: ConsoleDep, ch: RestoreDep) -> Response:
    """Undo the last deletion of the record's clip (while it is in the trash); an admin's."""
    restore_clip(console.app, object_id)
    act(console.app, ch.who, "restore", object_id)
    return _done(request, object_id, "Clip restored.")


@router.post("/records/{object_id}/approve")
def approve(request: Request, object_id: RecordId, console: ConsoleDep, ch: ApproveDep) -> Response:
    review.approve(console.app, object_id, f"web ({ch.who.label})")
    act(console.app, ch.who, "approve", object_id)
    return _done(request, object_id, "Clip approved.")


@router.post("/records/{object_id}/reject")
def reject(request: Request, object_id: RecordId, console: ConsoleDep, ch: RejectDep) -> Response:
    review.reject(console.app, object_id, f"web ({ch.who.label})")
    act(console.app, ch.who, "reject", object_id)
    return _done(request, object_id, "Clip rejected; the record is queued for a new seed.")


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


__all__ = ["FIELDS", "WORDING", "WebWording", "act", "log_action", "parse_request", "router"]
