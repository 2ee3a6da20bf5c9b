"""The admin page (Heratio's ``GET|POST /admin/image-ar/settings``): every setting in one form,
checked like ``imagear settings set`` (nothing is written when one value is refused; the
refusals are shown by their fields); the health card (the AI server, or the in-process
engines); the last five generations; the batch's failures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from imagear import settings as settings_svc
from imagear.batch import failure_page
from imagear.clips import recent_clips
from imagear.errors import ImagearError
from imagear.roles import SETTINGS
from imagear.web.actions import act
from imagear.web.console import Console
from imagear.web.deps import Change, ConsoleDep, Refused, needs, role_refused
from imagear.web.wording import one_line, without_paths

PATH = "/admin/image-ar/settings"
FAILURES_SHOWN = 50
LABELS = {
    "ar_enabled": "Image animation on",
    "ar_user_button": "Animate button shown",
    "ar_server_url": "AI server",
    "ar_server_pool": "Further AI servers",
    "ar_model": "Default model",
    "ar_request_timeout": "Time limit of one generation (s)",
    "ar_num_frames": "Frames per clip",
    "ar_fps": "Frames per second",
    "ar_motion_bucket_id": "SVD motion strength",
    "ar_seed": "Seed",
    "ar_default_prompt": "Default prompt",
    "ar_quality_gate": "Quality gate on",
    "ar_quality_min_brightness": "Gate: least brightness",
    "ar_quality_min_contrast": "Gate: least contrast",
    "ar_quality_min_motion": "Gate: least motion",
    "ar_quality_min_resemblance": "Gate: least resemblance to the image",
    "ar_quality_quarantine_keep": "Refused clips kept per record",
    "ar_provenance": "Content Credentials (C2PA) on",
    "ar_visible_label": "Visible label on AI clips",
    "ar_visible_label_text": "Words of the visible label",
}
"""Each setting's label on the page (its key is shown beside it, its description is the help)."""


def _health(console: Console) -> dict[str, object]:
    try:
        health = console.worker.animator.health()
    except ImagearError as err:
        return {"ok": False, "error": one_line(err)}
    return {"ok": True, "health": health}


def _page(
    console: Console,
    request: Request,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    saved: list[str] | None = None,
) -> Response:
    app = console.app
    current = settings_svc.get_all(app.engine)
    rows = []
    for item in settings_svc.describe():
        spec = settings_svc.SPECS[item["key"]]
        shown = spec.to_text(current.value(spec.key))
        label = LABELS.get(spec.key, spec.key)
        rows.append({**item, "label": label, "value": (values or {}).get(spec.key, shown)})
    models, models_note = console.offered_models()
    recent, total = recent_clips(app, 5)
    return console.page(
        request,
        "settings.html",
        status,
        rows=rows,
        errors={k: without_paths(v) for k, v in (errors or {}).items()},
        saved=[LABELS.get(k, k) for k in saved or []],
        stored_warnings=settings_svc.warnings(app.engine),
        health=_health(console),
        models=models,
        models_note=models_note,
        recent=recent,
        total=total,
        failures=failure_page(app, FAILURES_SHOWN, with_waiting=False),
    )


router = APIRouter()


@router.get(PATH)
def settings_page(request: Request, console: ConsoleDep) -> Response:
    who = console.who(request)
    if not who.signed_in:
        if request.headers.get("authorization"):
            raise Refused(401, "That is not the admin token.")
        return RedirectResponse(f"/login?next={PATH}", status_code=303)
    if not who.admin:
        raise role_refused(request, who, SETTINGS)
    return _page(console, request)


SettingsDep = Annotated[Change, Depends(needs(SETTINGS))]


@router.post(PATH)
def settings_save(request: Request, console: ConsoleDep, ch: SettingsDep) -> Response:
    app, form = console.app, ch.form
    current = settings_svc.get_all(app.engine)
    changes: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, spec in settings_svc.SPECS.items():
        raw = form.get(key)
        if raw is None or raw == spec.to_text(current.value(key)):
            continue
        try:
            spec.parse(raw)
        except ImagearError as err:
            errors[key] = one_line(err)
        changes[key] = raw
    unknown = sorted(set(form) - set(settings_svc.SPECS) - {"csrf"})
    if unknown:
        errors["_form"] = f"Unknown setting(s): {', '.join(unknown)}."
    if errors:
        values = {k: v for k, v in form.items() if k in settings_svc.SPECS}
        request.state.log_reason = f"refused setting(s): {', '.join(sorted(errors))}"
        return _page(console, request, 400, errors=errors, values=values)
    for key, raw in changes.items():
        settings_svc.set_value(app.engine, key, raw)
    if changes:  # the keys only: a value may be a password
        act(app, ch.who, "settings", settings=sorted(changes))
    return _page(console, request, saved=sorted(changes))


__all__ = ["PATH", "router"]
