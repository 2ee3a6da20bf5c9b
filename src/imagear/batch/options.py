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
from typing import TYPE_CHECKING

from imagear.errors import InvalidOption, NotFound, UsageError
from imagear.limits import MAX_ID

if TYPE_CHECKING:
    from imagear.models import Wording

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECS = 300.0  # 5 min, doubling per attempt
DEFAULT_BACKOFF_CAP_SECS = 6 * 3600.0
DEFAULT_LEASE_SECS = 120.0
MAX_HEARTBEAT_SECS = 20.0


def default_lease_secs(request_timeout: float | None = None) -> float:
    """How long a claim lasts without a heartbeat: two minutes, however long a generation may
    take (the heartbeat renews the claims every :func:`heartbeat_secs` meanwhile), so the
    records of a runner that was killed are taken by the next run (cron) within two minutes.
    ``request_timeout`` is no longer used (a lease once lasted two request timeouts)."""
    return DEFAULT_LEASE_SECS


def heartbeat_secs(lease_secs: float) -> float:
    """How often a runner renews its claims: six times per lease, at least every 20 s, so a
    few missed beats (a slow database) never let a live runner's claim expire."""
    return max(0.05, min(float(lease_secs) / 6.0, MAX_HEARTBEAT_SECS))


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
        if not isinstance(data, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ID for v in data
        ):
            raise UsageError(
                f"{path} must be a JSON list of record ids (whole numbers 1..{MAX_ID})."
            )
        return list(dict.fromkeys(data))
    ids: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not (line.isascii() and line.isdigit()) or not 0 < int(line) <= MAX_ID:
            raise UsageError(f"{path} line {number}: {line!r} is not a record id (1..{MAX_ID}).")
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
    overrides: dict[str, object] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    since: datetime | None = None  # --all: skip records this batch finished at/after this
    lease_secs: float | None = None  # None: default_lease_secs()
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_secs: float = DEFAULT_BACKOFF_SECS
    backoff_cap_secs: float = DEFAULT_BACKOFF_CAP_SECS
    wording: Wording | None = None  # how the front end names options (default: option names)

    def __post_init__(self) -> None:
        """Refuse a value no run can use (InvalidOption naming the option as the front end
        given in ``wording`` takes it: ``--limit`` on the command line)."""
        from imagear.models.wording import OPTION_NAMES

        label = (self.wording or OPTION_NAMES).label

        def refuse(key: str, what: str) -> InvalidOption:
            return InvalidOption(f"{label(key, 'option')} {what}.", fields=(key,))

        if self.concurrency < 1:
            raise refuse("concurrency", f"must be at least 1, not {self.concurrency}")
        if self.limit is not None and self.limit < 1:
            raise refuse("limit", f"must be at least 1, not {self.limit}")
        if self.max_attempts < 1:
            raise refuse("max_attempts", f"must be at least 1, not {self.max_attempts}")
        if self.lease_secs is not None and self.lease_secs <= 0:
            raise refuse("lease_secs", f"must be positive, not {self.lease_secs:g}")
        if self.backoff_secs < 0 or self.backoff_cap_secs < 0:
            raise UsageError("The retry backoff must be 0 seconds or more.")


__all__ = [
    "DEFAULT_BACKOFF_CAP_SECS",
    "DEFAULT_BACKOFF_SECS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_LEASE_SECS",
    "MAX_HEARTBEAT_SECS",
    "BatchOptions",
    "default_lease_secs",
    "heartbeat_secs",
    "read_ids_file",
]
