"""The one error hierarchy of imagear.

Every failure a user can meet is an :class:`ImagearError`: data, not wording. Each class has a
stable ``code`` (``record_not_found``, ``feature_disabled``: the tree below) and an exit code;
each instance carries a full-sentence message (what happened), ``params`` (the values the error
is about: ``object_id``, ``model``, ``retry_after``...), ``fields`` (the option or setting names
it concerns, so a form can mark them) and optional ``advice`` (what to try).

Advice names no front end's commands. Where it points the user somewhere, it names a *place*
that each front end words (:func:`render_advice`, :class:`Places`): ``{see:health}`` is the
health command on the command line, the health panel in the web console, ``GET /health`` for
the server; likewise ``{set:ar_enabled 1}``, ``{get:ar_model}``, ``{see:model svd}``,
``{flag:seed}`` (:data:`PLACE_KINDS`). Without advice, each front end words its own from the
code and params (:mod:`imagear.cli.wording`, :mod:`imagear.web.wording`); only advice that
reads the same everywhere is a class's ``default_advice`` (out of GPU memory, the quality
gate's). Third-party
exceptions are mapped at the boundary (``raise Mine(...) from exc``). The CLI turns an error
into one red line, advice and an exit code (:func:`imagear.cli._common.said`); the server and
the web console into an HTTP status through one table (:mod:`imagear.httperrors`).

Exit codes (documented in README.md, one rule everywhere)::

    0  ok
    1  Failure             something went wrong while doing the job (I/O, storage, engine), or
                           the data cannot be used (an image file that is not a readable image)
    2  UsageError          what was typed is wrong: a bad option value, argument or setting
                           value, or options that do not go together
    3  NotFound            the thing named does not exist (record, master image, file, setting
                           key, model, animation), however it was named (option, argument,
                           setting value)
    4  Refused             the feature is disabled, or the work is not allowed now
    5  ServerError         the image-to-video server failed or could not be reached
    6  EngineUnavailable   the model cannot run here (missing extra, weights, device)
    7  QualityRejected     the new clip failed the quality gate; the previous clip is kept
    8  (imagear verify)    the clip carries no Content Credentials
    9  (imagear verify)    its Content Credentials are invalid: the clip was changed, or the
                           signature or the manifest does not validate
    130 interrupted        SIGINT / SIGTERM

Tree (class, ``code``)::

    ImagearError                  error
    ├── Failure (1)               failure
    │   ├── StorageError          storage_failed       database or file storage failed
    │   ├── MediaError            media_failed         an image or MP4 could not be read/written
    │   │   └── InvalidImage      invalid_image        the file is not an image we can use
    │   ├── GenerationFailed      generation_failed    an engine failed while generating
    │   └── SigningFailed         signing_failed       Content Credentials could not be signed
    ├── UsageError (2)            usage_error
    │   ├── ConfigError           config_invalid       imagear.toml or IMAGEAR_* is invalid
    │   ├── InvalidSetting        setting_invalid      an image_ar_settings value is out of range
    │   ├── InvalidOption         option_invalid       a generation parameter the model refuses
    │   └── UnsafePath            unsafe_path          a stored path would escape its root
    ├── NotFound (3)              not_found
    │   ├── RecordNotFound        record_not_found     params: object_id (where known)
    │   ├── NoMasterImage         no_master_image
    │   ├── ImageMissing          image_missing        the image row exists, its file does not
    │   ├── UnknownSetting        setting_unknown      params: key
    │   ├── UnknownModel          model_unknown        params: model
    │   └── AnimationNotFound     animation_not_found
    ├── Refused (4)               refused
    │   ├── FeatureDisabled       feature_disabled     fields: the toggles that are off
    │   └── ReadOnlyRecords       records_read_only    records add/import on AtoM/Heratio
    ├── ServerError (5)           server_failed
    │   ├── ServerUnreachable     server_unreachable
    │   ├── ServerTimeout         server_timeout
    │   ├── ServerBusy            server_busy          429/503 after every retry (retry_after)
    │   ├── ModelNotAvailable     model_not_available  400 from the server
    │   ├── OutOfGpuMemory        out_of_gpu_memory    507
    │   ├── AuthenticationFailed  authentication_failed  401/403
    │   ├── UploadTooLarge        upload_too_large     413: the image sent is over its limit
    │   └── BadResponse           bad_response         not an MP4, truncated, too small
    ├── EngineUnavailable (6)     engine_unavailable
    └── QualityRejected (7)       quality_rejected     black, blank, frozen, not of the image...
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol

PLACE_KINDS = ("see", "set", "get", "flag", "add", "animate")
"""The places advice may name: ``{see:records}``, ``{see:settings}``, ``{see:models}``,
``{see:model NAME}``, ``{see:health}``, ``{see:config}``; ``{set:KEY VALUE}`` (change a
setting); ``{get:KEY}`` (show one); ``{flag:OPTION[ VALUE]}`` (a per-call generation option);
``{add:IMAGE}`` (attach a master image); ``{animate:ID}`` (animate one record)."""

_PLACE = re.compile(r"\{(" + "|".join(PLACE_KINDS) + r"):([^{}]*)\}")


class Places(Protocol):
    """How one front end words the places of advice (see :data:`PLACE_KINDS`)."""

    def place(self, kind: str, arg: str) -> str: ...


class PlainPlaces:
    """Places in plain words, for logs, stored statuses and any front end with no wording."""

    SEE: ClassVar[dict[str, str]] = {
        "records": "the list of records",
        "settings": "the settings",
        "models": "the list of models",
        "health": "the server's health",
        "config": "the configuration",
    }

    def place(self, kind: str, arg: str) -> str:
        head, _, rest = arg.partition(" ")
        if kind == "see":
            if head == "model":
                return f"the options of model {rest}"
            return self.SEE.get(head, head)
        if kind == "set":
            return f"setting {head} to {rest}" if rest else f"the setting {head}"
        if kind == "get":
            return f"the setting {head}"
        if kind == "flag":
            return f"the {head} option" + (f" ({rest})" if rest else "")
        if kind == "add":
            return "attaching an image to the record"
        return f"animating record {arg}"


PLAIN = PlainPlaces()


def render_advice(advice: str | None, places: Places = PLAIN) -> str | None:
    """``advice`` with its places worded by ``places`` (None stays None)."""
    if advice is None:
        return None
    return _PLACE.sub(lambda m: places.place(m.group(1), m.group(2).strip()), advice)


class ImagearError(Exception):
    """Base of every imagear error. ``str(err)`` is the message; ``err.advice`` says what to do
    (with places for front ends to word); ``code``, ``params`` and ``fields`` are the data."""

    code: ClassVar[str] = "error"
    exit_code: int = 1
    default_fields: ClassVar[tuple[str, ...]] = ()
    # advice every front end gives, in places (none of them spells a front end's command)
    default_advice: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        advice: str | None = None,
        *,
        params: Mapping[str, object] | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice if advice is not None else self.default_advice
        self.params: dict[str, object] = dict(params or {})
        self.fields: tuple[str, ...] = tuple(fields) if fields is not None else self.default_fields

    def one_line(self, places: Places = PLAIN) -> str:
        """The message and advice as one line, for logs and stored statuses."""
        advice = render_advice(self.advice, places)
        return f"{self.message} {advice}" if advice else self.message

    @property
    def kind(self) -> str:
        return type(self).__name__


class Failure(ImagearError):
    code = "failure"
    exit_code = 1


class StorageError(Failure):
    code = "storage_failed"


class MediaError(Failure):
    code = "media_failed"


class GenerationFailed(Failure):
    code = "generation_failed"


class SigningFailed(Failure):
    code = "signing_failed"


class UsageError(ImagearError):
    code = "usage_error"
    exit_code = 2


class ConfigError(UsageError):
    code = "config_invalid"


class InvalidSetting(UsageError):
    code = "setting_invalid"


class InvalidOption(UsageError):
    """``fields``: the option names at fault (a form shows the error by them), where known."""

    code = "option_invalid"


class InvalidImage(MediaError):
    """Not an image imagear can use (not an image, truncated, too large): exit 1, as any file
    that cannot be read; the server answers it 415."""

    code = "invalid_image"


class UnsafePath(UsageError):
    code = "unsafe_path"


class NotFound(ImagearError):
    code = "not_found"
    exit_code = 3


class RecordNotFound(NotFound):
    code = "record_not_found"


class NoMasterImage(NotFound):
    code = "no_master_image"


class ImageMissing(NotFound):
    code = "image_missing"


class UnknownSetting(NotFound):
    code = "setting_unknown"


class UnknownModel(NotFound):
    code = "model_unknown"


class AnimationNotFound(NotFound):
    code = "animation_not_found"


class Refused(ImagearError):
    code = "refused"
    exit_code = 4


class FeatureDisabled(Refused):
    code = "feature_disabled"
    default_fields = ("ar_enabled", "ar_user_button")


class ReadOnlyRecords(Refused):
    code = "records_read_only"


class ServerError(ImagearError):
    code = "server_failed"
    exit_code = 5


class ServerUnreachable(ServerError):
    code = "server_unreachable"


class ServerTimeout(ServerError):
    code = "server_timeout"


class ServerBusy(ServerError):
    code = "server_busy"


class ModelNotAvailable(ServerError):
    code = "model_not_available"


class OutOfGpuMemory(ServerError):
    code = "out_of_gpu_memory"
    default_advice = "Try fewer frames or a smaller size, or start the server with --low-vram."


class AuthenticationFailed(ServerError):
    code = "authentication_failed"


class UploadTooLarge(ServerError):
    code = "upload_too_large"


class BadResponse(ServerError):
    code = "bad_response"


class EngineUnavailable(ImagearError):
    code = "engine_unavailable"
    exit_code = 6


class QualityRejected(ImagearError):
    """A new clip failed the quality gate (:mod:`imagear.quality`); nothing was replaced.

    ``checks``: the failed checks, each a dict with ``check`` (black, blank, frozen, resemblance,
    frames, size, fps), ``measured``, ``limit`` and ``message``. ``quarantined``: where the
    refused clip was kept for a look (None when it was not kept).
    """

    code = "quality_rejected"
    exit_code = 7
    default_advice = (
        "The previous clip (if any) is kept. Try again (another seed is drawn when ar_seed is 0, "
        "or pass {flag:seed}), try another model, or see {see:settings} for the "
        "ar_quality_* thresholds."
    )

    def __init__(
        self,
        message: str,
        advice: str | None = None,
        *,
        checks: Sequence[Mapping[str, object]] = (),
        quarantined: str | None = None,
    ) -> None:
        super().__init__(message, advice, params={"quarantined": quarantined})
        self.checks: list[dict[str, object]] = [dict(c) for c in checks]
        self.quarantined = quarantined

    def details(self) -> dict[str, object]:
        """The failed checks and the quarantined file, JSON-ready."""
        return {"checks": self.checks, "quarantined": self.quarantined}


EXIT_INTERRUPTED = 130
