"""How the batch is getting on: the service behind ``imagear batch status`` and the web
console's ``/batch`` page. Read from the database alone (:mod:`imagear.db.progress`), so it
shows runs started by cron, by other processes and on other hosts alike. Never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagear.app import App
from imagear.db import progress as progress_db
from imagear.db.jobs import DONE, FAILED, GIVEN_UP, PENDING, RUNNING, iso

STATUSES = (PENDING, RUNNING, DONE, FAILED, GIVEN_UP)


@dataclass
class BatchProgress:
    """A snapshot of ``image_ar_job``: rows per status, the claims held now, the recent rate
    and, from it, an estimate of the time left for the rows still to do."""

    now: datetime
    counts: dict[str, int]
    running: list[dict[str, Any]] = field(default_factory=list)
    done_10min: int = 0
    done_hour: int = 0
    last_done: list[dict[str, Any]] = field(default_factory=list)
    next_retry_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def to_do(self) -> int:
        """Rows a run will still take: pending, running and failed (retried later)."""
        return sum(self.counts.get(s, 0) for s in (PENDING, RUNNING, FAILED))

    @property
    def per_minute(self) -> float:
        """Records finished per minute, over the last ten minutes (else the last hour)."""
        if self.done_10min:
            return self.done_10min / 10.0
        return self.done_hour / 60.0

    @property
    def active(self) -> bool:
        """Some runner holds a claim that has not expired."""
        return any(not claim["expired"] for claim in self.running)

    @property
    def eta_secs(self) -> float | None:
        """Seconds until the rows to do are done at the recent rate (None: no rate, or nothing
        left to do)."""
        if not self.to_do or not self.per_minute:
            return None
        return 60.0 * self.to_do / self.per_minute

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "total": self.total,
            "to_do": self.to_do,
            "active": self.active,
            "running": [
                {
                    **claim,
                    "since": iso(claim["since"]),
                    "expires_at": iso(claim["expires_at"]),
                }
                for claim in self.running
            ],
            "done_last_10_min": self.done_10min,
            "done_last_hour": self.done_hour,
            "per_minute": round(self.per_minute, 2),
            "eta_secs": None if self.eta_secs is None else round(self.eta_secs),
            "last_done": [
                {"object_id": d["object_id"], "finished_at": iso(d["finished_at"])}
                for d in self.last_done
            ],
            "next_retry_at": iso(self.next_retry_at),
        }


def progress(app: App) -> BatchProgress:
    """The batch's progress now (see :class:`BatchProgress`)."""
    snap = progress_db.snapshot(app.engine)
    return BatchProgress(
        now=snap["now"],
        counts=snap["counts"],
        running=snap["running"],
        done_10min=snap["done_10min"],
        done_hour=snap["done_hour"],
        last_done=snap["last_done"],
        next_retry_at=snap["next_retry_at"],
    )


__all__ = ["STATUSES", "BatchProgress", "progress"]
