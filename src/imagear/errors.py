"""The one error hierarchy of imagear.

Every failure a user can meet is an :class:`ImagearError`. Each class knows its exit code, and
each instance carries a full-sentence message (what happened) and optional advice (what to try).
Third-party exceptions are mapped at the boundary (``raise Mine(...) from exc``); the CLI turns
an ImagearError into one red line plus advice and ``typer.Exit(code)``, and nothing else does.

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
    130 interrupted        SIGINT / SIGTERM

Tree::

    ImagearError
    ├── Failure (1)
    │   ├── StorageError          database or file storage failed
    │   ├── MediaError            an image or MP4 could not be read or written
    │   │   └── InvalidImage      the file is not an image we can use
    │   └── GenerationFailed      an engine failed while generating
    ├── UsageError (2)
    │   ├── ConfigError           imagear.toml or an IMAGEAR_* variable is invalid
    │   ├── InvalidSetting        an image_ar_settings value is out of range
    │   ├── InvalidOption         a generation parameter is refused by the model
    │   └── UnsafePath            a stored path would escape its root
    ├── NotFound (3)
    │   ├── RecordNotFound
    │   ├── NoMasterImage
    │   ├── ImageMissing          the master image row exists but its file does not
    │   ├── UnknownSetting
    │   ├── UnknownModel
    │   └── AnimationNotFound
    ├── Refused (4)
    │   ├── FeatureDisabled       ar_enabled / ar_user_button are off
    │   └── ReadOnlyRecords       records add/import on an AtoM/Heratio database (AtoM's to make)
    ├── ServerError (5)
    │   ├── ServerUnreachable
    │   ├── ServerTimeout
    │   ├── ServerBusy            429/503 after every retry
    │   ├── ModelNotAvailable     400 from the server: unknown or unloaded model
    │   ├── OutOfGpuMemory        507
    │   ├── AuthenticationFailed  401/403
    │   └── BadResponse           not an MP4, truncated, too small
    ├── EngineUnavailable (6)
    └── QualityRejected (7)     black, blank, frozen, not of the image, or not as asked
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ImagearError(Exception):
    """Base of every imagear error. ``str(err)`` is the message; ``err.advice`` says what to do."""

    exit_code: int = 1
    default_advice: str | None = None

    def __init__(self, message: str, advice: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice if advice is not None else self.default_advice

    def one_line(self) -> str:
        """The message and advice as one line, for logs and JSON."""
        if self.advice:
            return f"{self.message} {self.advice}"
        return self.message

    @property
    def kind(self) -> str:
        return type(self).__name__


class Failure(ImagearError):
    exit_code = 1


class StorageError(Failure):
    pass


class MediaError(Failure):
    pass


class GenerationFailed(Failure):
    pass


class UsageError(ImagearError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class InvalidSetting(UsageError):
    pass


class InvalidOption(UsageError):
    """``fields``: the option names at fault (a form shows the error by them), where known."""

    def __init__(
        self, message: str, advice: str | None = None, *, fields: Sequence[str] = ()
    ) -> None:
        super().__init__(message, advice)
        self.fields: tuple[str, ...] = tuple(fields)


class InvalidImage(MediaError):
    """Not an image imagear can use (not an image, truncated, too large): exit 1, as any file
    that cannot be read; the server answers it 415."""


class UnsafePath(UsageError):
    pass


class NotFound(ImagearError):
    exit_code = 3


class RecordNotFound(NotFound):
    default_advice = "List records with `imagear records list`."


class NoMasterImage(NotFound):
    default_advice = "Attach an image with `imagear records add IMAGE` or in Heratio."


class ImageMissing(NotFound):
    pass


class UnknownSetting(NotFound):
    default_advice = "List the keys with `imagear settings list`."


class UnknownModel(NotFound):
    default_advice = "List the models with `imagear models`."


class AnimationNotFound(NotFound):
    pass


class Refused(ImagearError):
    exit_code = 4


class FeatureDisabled(Refused):
    default_advice = "Turn it on with `imagear settings set ar_enabled 1` and `imagear settings set ar_user_button 1`."


class ReadOnlyRecords(Refused):
    default_advice = (
        "Add the record in Heratio, then animate it here: `imagear animate --object-id ID`."
    )


class ServerError(ImagearError):
    exit_code = 5


class ServerUnreachable(ServerError):
    pass


class ServerTimeout(ServerError):
    pass


class ServerBusy(ServerError):
    pass


class ModelNotAvailable(ServerError):
    pass


class OutOfGpuMemory(ServerError):
    default_advice = "Try fewer frames or a smaller size, or start the server with --low-vram."


class AuthenticationFailed(ServerError):
    default_advice = (
        "Set the bearer token with IMAGEAR_SERVER_TOKEN (or server_token in imagear.toml)."
    )


class BadResponse(ServerError):
    pass


class EngineUnavailable(ImagearError):
    exit_code = 6


class QualityRejected(ImagearError):
    """A new clip failed the quality gate (:mod:`imagear.quality`); nothing was replaced.

    ``checks``: the failed checks, each a dict with ``check`` (black, blank, frozen, resemblance,
    frames, size, fps), ``measured``, ``limit`` and ``message``. ``quarantined``: where the
    refused clip was kept for a look (None when it was not kept).
    """

    exit_code = 7
    default_advice = (
        "The previous clip (if any) is kept. Try again (another seed is drawn when ar_seed is 0, "
        "or pass --seed), try another model, or see `imagear settings list` for the "
        "ar_quality_* thresholds."
    )

    def __init__(
        self,
        message: str,
        advice: str | None = None,
        *,
        checks: Sequence[dict[str, Any]] = (),
        quarantined: str | None = None,
    ) -> None:
        super().__init__(message, advice)
        self.checks: list[dict[str, Any]] = [dict(c) for c in checks]
        self.quarantined = quarantined

    def details(self) -> dict[str, Any]:
        """The failed checks and the quarantined file, JSON-ready."""
        return {"checks": self.checks, "quarantined": self.quarantined}


EXIT_INTERRUPTED = 130
