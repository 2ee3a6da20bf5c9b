"""What a batch run is asked to do: :class:`BatchOptions`, their defaults, and the ids file.

``imagear batch`` turns its command-line options into a :class:`BatchOptions` (validated here,
so a bad value is a usage error before any record is touched); ``--object-ids FILE`` is read by
:func:`read_ids_file`. How long a claim lasts by default is :func:`default_lease_secs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from imagear.errors import NotFound, UsageError

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECS = 300.0  # 5 min, doubling per attempt
DEFAULT_BACKOFF_CAP_SECS = 6 * 3600.0
MIN_LEASE_SECS = 600.0


def default_lease_secs(request_timeout: float) -> float:
    """A claim lasts two full request timeouts, at least 10 minutes (the heartbeat renews it)."""
    return max(2.0 * float(request_timeout), MIN_LEASE_SECS)


def read_ids_file(path: str | Path) -> list[int]:
    """Record ids from a file: one per line (``#`` comments and blank lines ignored) or a JSON
    list. Raises UsageError naming the line of anything else, NotFound when it is missing."""
    import json

    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFound(f"The ids file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the ids file {path}: {exc}.") from exc
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(
                f"{path} starts like a JSON list but is not valid JSON: {exc}."
            ) from exc
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in data):
            raise UsageError(f"{path} must be a JSON list of positive whole numbers (record ids).")
        return list(dict.fromkeys(data))
    ids: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.isdigit() or int(line) <= 0:
            raise UsageError(f"{path} line {number}: {line!r} is not a record id.")
        ids.append(int(line))
    return list(dict.fromkeys(ids))


@dataclass
class BatchOptions:
    """What to animate and how. ``object_ids`` None: every record that qualifies."""

    only_missing: bool = True
    object_ids: Sequence[int] | None = None
    limit: int | None = None
    concurrency: int = 1
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None  # --all: skip records this batch finished at/after this
    lease_secs: float | None = None  # None: default_lease_secs(ar_request_timeout)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_secs: float = DEFAULT_BACKOFF_SECS
    backoff_cap_secs: float = DEFAULT_BACKOFF_CAP_SECS

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, not {self.concurrency}.")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit must be at least 1, not {self.limit}.")
        if self.max_attempts < 1:
            raise UsageError(f"--max-attempts must be at least 1, not {self.max_attempts}.")
        if self.lease_secs is not None and self.lease_secs <= 0:
            raise UsageError(f"--lease-secs must be positive, not {self.lease_secs:g}.")
        if self.backoff_secs < 0 or self.backoff_cap_secs < 0:
            raise UsageError("The retry backoff must be 0 seconds or more.")


__all__ = [
    "DEFAULT_BACKOFF_CAP_SECS",
    "DEFAULT_BACKOFF_SECS",
    "DEFAULT_MAX_ATTEMPTS",
    "MIN_LEASE_SECS",
    "BatchOptions",
    "default_lease_secs",
    "read_ids_file",
]
