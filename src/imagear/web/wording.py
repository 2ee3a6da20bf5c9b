"""How the web console words errors: no shell command, no CLI flag; settings on the settings
page, options by the animate form's fields. :func:`advice_of` words an error's advice (its
places, :data:`ADVICE` by code where it brings none); :func:`error_body` is the JSON body of an
error (``error``: message and advice on one line, as before; ``code``, ``message``,
``advice``, ``fields``, ``params``). Statuses come from :mod:`imagear.httperrors`."""

from __future__ import annotations

import re

from imagear.errors import PLAIN, ImagearError, render_advice

CONSOLE_ROUTES = ("/admin/", "/records/", "/image-ar/", "/batch", "/review", "/login")
_PATH = re.compile(r"(?<![\w:/])(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"<>]+){2,}[/\\]?")

SETTINGS_PATH = "/admin/image-ar/settings"
SETTINGS_PAGE = f"the settings page ({SETTINGS_PATH})"

FIELDS = {
    "model": "Model",
    "prompt": "Prompt",
    "num_frames": "Frames",
    "fps": "FPS",
    "motion_bucket_id": "Motion",
    "seed": "Seed",
    "motion": "Camera motion",
}
"""The animate form's fields by option name, with their labels."""


class WebPlaces:
    """The console's wording of the places advice names (:data:`imagear.errors.PLACE_KINDS`)."""

    def place(self, kind: str, arg: str) -> str:
        head, _, rest = arg.partition(" ")
        if kind == "see":
            if head == "records":
                return "the records grid (/)"
            if head == "settings":
                return SETTINGS_PAGE
            if head == "health":
                return f"the health card of {SETTINGS_PAGE}"
            if head in ("models", "model"):
                return "the animate form's Model field"
            return PLAIN.place(kind, arg)
        if kind == "set":
            return f"{head} = {rest} on {SETTINGS_PAGE}" if rest else f"{head} on {SETTINGS_PAGE}"
        if kind == "get":
            return f"{head} on {SETTINGS_PAGE}"
        if kind == "flag":
            label = FIELDS.get(head, head)
            return f"the {label} field" + (f" ({rest})" if rest else "")
        if kind == "add":
            return "attaching the image in Heratio"
        return "the record's Animate button"


PLACES = WebPlaces()

ADVICE: dict[str, str] = {
    "record_not_found": "Find the record in {see:records}.",
    "no_master_image": "Attach an image to the record in Heratio.",
    "setting_unknown": f"Every setting is on {SETTINGS_PAGE}.",
    "model_unknown": "Pick one of the models the Model field lists.",
    "feature_disabled": "An administrator can turn on ar_enabled and ar_user_button on "
    + SETTINGS_PAGE
    + ".",
    "records_read_only": "Add the record in Heratio, then animate it here.",
    "authentication_failed": "The image-to-video server refused this console's token: check "
    "server_token (IMAGEAR_SERVER_TOKEN) where the console runs.",
}
"""The console's advice for an error that brings none, by its code."""


def advice_of(err: ImagearError) -> str | None:
    """``err``'s advice in the console's words."""
    return render_advice(err.advice if err.advice is not None else ADVICE.get(err.code), PLACES)


def one_line(err: ImagearError) -> str:
    """Message and advice on one line, in the console's words."""
    advice = advice_of(err)
    return f"{err.message} {advice}" if advice else err.message


def without_paths(text: str) -> str:
    """``text`` with every file path on the server shortened to its last part
    (``/srv/imagear/clips/12/a.mp4`` -> ``a.mp4``): curators read messages, not the server's
    folders. URLs (``scheme://...``) are left alone."""

    def short(match: re.Match[str]) -> str:
        if match.group(0).startswith(CONSOLE_ROUTES):  # the console's own pages
            return match.group(0)
        parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
        return parts[-1] if parts else match.group(0)

    return _PATH.sub(short, text)


def error_body(err: ImagearError, fields: list[str] | None = None) -> dict[str, object]:
    """The JSON body of an error: ``error`` (message and advice, one line), ``code``,
    ``message``, ``advice``, ``fields`` (default: the error's own) and ``params``."""
    advice = advice_of(err)
    return {  # a curator reads these: no paths of the server's folders
        "error": without_paths(one_line(err)),
        "code": err.code,
        "message": without_paths(err.message),
        "advice": without_paths(advice) if advice else advice,
        "fields": list(err.fields) if fields is None else fields,
        "params": {k: v for k, v in err.params.items() if isinstance(v, (str, int, float))},
    }


__all__ = [
    "ADVICE",
    "FIELDS",
    "PLACES",
    "SETTINGS_PATH",
    "advice_of",
    "error_body",
    "one_line",
    "without_paths",
]
