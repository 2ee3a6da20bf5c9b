"""The one error hierarchy of imagear.

Every failure a user can meet is an :class:`ImagearError`. Each class knows its exit code, and
each instance carries a full-sentence message (what happened) and optional advice (what to try).
Third-party exceptions are mapped at the boundary (``raise Mine(...) from exc``); the CLI turns
an ImagearError into one red line plus advice and ``typer.Exit(code)``, and nothing else does.

Exit codes (documented in README.md)::

    0  ok
    1  Failure             something went wrong while doing the job (I/O, storage, engine)
    2  UsageError          the input is wrong: a bad option, setting or parameter
    3  NotFound            the thing named does not exist (record, master image, file, key)
    4  Refused             the feature is disabled, or the work is not allowed now
    5  ServerError         the image-to-video server failed or could not be reached
    6  EngineUnavailable   the model cannot run here (missing extra, weights, device)
    130 interrupted        SIGINT / SIGTERM

Tree::

    ImagearError
    ├── Failure (1)
    │   ├── StorageError          database or file storage failed
    │   ├── MediaError            an image or MP4 could not be read or written
    │   └── GenerationFailed      an engine failed while generating
    ├── UsageError (2)
    │   ├── ConfigError           imagear.toml or an IMAGEAR_* variable is invalid
    │   ├── InvalidSetting        an image_ar_settings value is out of range
    │   ├── InvalidOption         a generation parameter is refused by the model
    │   ├── InvalidImage          the file is not an image we can use
    │   └── UnsafePath            a stored path would escape its root
    ├── NotFound (3)
    │   ├── RecordNotFound
    │   ├── NoMasterImage
    │   ├── ImageMissing          the master image row exists but its file does not
    │   ├── UnknownSetting
    │   ├── UnknownModel
    │   └── AnimationNotFound
    ├── Refused (4)
    │   └── FeatureDisabled       ar_enabled / ar_user_button are off
    ├── ServerError (5)
    │   ├── ServerUnreachable
    │   ├── ServerTimeout
    │   ├── ServerBusy            429/503 after every retry
    │   ├── ModelNotAvailable     400 from the server: unknown or unloaded model
    │   ├── OutOfGpuMemory        507
    │   ├── AuthenticationFailed  401/403
    │   └── BadResponse           not an MP4, truncated, too small
    └── EngineUnavailable (6)
"""

from __future__ import annotations


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
    pass


class InvalidImage(UsageError):
    pass


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


EXIT_INTERRUPTED = 130
