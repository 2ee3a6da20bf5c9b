"""How a batch treats a record's failure: stop the run, retry soon, or retry only much later.

Retry policy by error kind:

- *run-level* errors (:data:`RUN_LEVEL`) say nothing about the record (server unreachable,
  credentials refused, model not on the server, feature turned off, engine missing, bad
  configuration): the record is given back uncounted and the run stops, with that error's exit
  code;
- *usage / not-found* errors and an unusable image (:data:`SLOW_RETRY`) belong to the record
  (its image is missing or not an image, an option is invalid for its size): retrying soon cannot help, so the next try
  waits the full ``backoff_cap_secs``, and the attempt counts;
- everything else (timeouts, a busy or failing server, bad clips, storage) is retried with an
  exponential backoff: ``backoff_secs`` doubling per attempt, at most ``backoff_cap_secs``
  (:func:`retry_delay`); after ``max_attempts`` the record is given up.

A clip refused by the quality gate (:class:`~imagear.errors.QualityRejected`) is recorded with
the kind :data:`QUALITY` (:func:`failure_kind`) and retried like the last group, with a newly
drawn seed (the same seed would make the same clip again).
"""

from __future__ import annotations

from imagear.errors import (
    AuthenticationFailed,
    ConfigError,
    EngineUnavailable,
    ImagearError,
    InvalidImage,
    InvalidSetting,
    ModelNotAvailable,
    NotFound,
    QualityRejected,
    Refused,
    ServerUnreachable,
    UsageError,
)

RUN_LEVEL: tuple[type[ImagearError], ...] = (
    ServerUnreachable,
    AuthenticationFailed,
    ModelNotAvailable,
    Refused,
    EngineUnavailable,
    ConfigError,
    InvalidSetting,
)
"""Errors about the setup, not the record: the run stops and the record is not charged."""

SLOW_RETRY: tuple[type[ImagearError], ...] = (UsageError, NotFound, InvalidImage)
"""Errors about the record's own data: retried only after the backoff cap."""


QUALITY = "quality"
"""The failure kind recorded for a clip the quality gate refused."""


def failure_kind(err: BaseException) -> str:
    """The kind recorded in ``image_ar_job.last_error_kind`` (and `imagear batch failures`):
    :data:`QUALITY` for a refused clip, else the error's class name."""
    if isinstance(err, QualityRejected):
        return QUALITY
    return err.kind if isinstance(err, ImagearError) else type(err).__name__


def retry_delay(err: BaseException, attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after failure number ``attempts`` (1-based)."""
    if isinstance(err, SLOW_RETRY):
        return cap
    return min(cap, base * 2 ** max(0, attempts - 1))


__all__ = ["QUALITY", "RUN_LEVEL", "SLOW_RETRY", "failure_kind", "retry_delay"]
