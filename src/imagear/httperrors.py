"""The one table from an error to an HTTP status, shared by ``imagear serve``
(:mod:`imagear.server.app`) and ``imagear web`` (:mod:`imagear.web`).

An error's status is that of the first class in its MRO whose ``code`` the table names, so a
new error class gets its family's status without a new row. The wire ``type`` of the server's
error bodies (Heratio protocol, REFERENCE.md section 1: ``{"error": ..., "type": ...}``) is the
class name, except where the protocol names the failure otherwise (:data:`WIRE_TYPES`).
Light: no FastAPI here; each front end builds its response from :func:`http_error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imagear.errors import ImagearError

STATUS: dict[str, int] = {
    # 400: the model named cannot be used here (Heratio's "unknown or unloaded model")
    "model_unknown": 400,
    "engine_unavailable": 400,
    "image_too_large": 413,
    "invalid_image": 415,
    "usage_error": 422,  # a bad parameter or setting value: the reason is in the body
    "not_found": 404,
    "refused": 409,  # the feature is turned off, or the work is not allowed now
    "out_of_gpu_memory": 507,
    "server_busy": 503,
}
"""Status by error code (a family's code covers its members); anything else is 500."""

WIRE_TYPES: dict[str, str] = {
    "engine_unavailable": "ModelNotAvailable",
    "server_busy": "ServerBusy",  # the worker's QueueFull too
}
"""The wire ``type`` where the protocol's name is not the class name."""

RETRY_AFTER_SECS = 5  # a busy answer's Retry-After when the error does not say


@dataclass(frozen=True)
class HttpError:
    """How an error is answered over HTTP: status, wire type, headers."""

    status: int
    type: str
    code: str
    headers: dict[str, str] = field(default_factory=dict)


def status_of(err: ImagearError) -> int:
    """The HTTP status of ``err`` (see :data:`STATUS`)."""
    for cls in type(err).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in STATUS:
            return STATUS[code]
    return 500


def http_error(err: ImagearError) -> HttpError:
    """Status, wire type and headers of ``err`` (503s say when to retry)."""
    status = status_of(err)
    headers: dict[str, str] = {}
    if status == 503:
        retry = err.params.get("retry_after", RETRY_AFTER_SECS)
        headers["Retry-After"] = str(retry)
    return HttpError(status, WIRE_TYPES.get(err.code, err.kind), err.code, headers)


__all__ = ["RETRY_AFTER_SECS", "STATUS", "WIRE_TYPES", "HttpError", "http_error", "status_of"]
