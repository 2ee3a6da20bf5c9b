"""What a batch run would take now, read-only: the ``--dry-run`` list, the planned count, and
why records named with ``--object-id`` / ``--object-ids`` will not be taken.

The queries are :func:`imagear.db.runplan.plan`, :func:`~imagear.db.runplan.count` and
:func:`~imagear.db.runplan.named_rows`; nothing here writes. The claims themselves are taken by
:class:`imagear.db.claims.ClaimStore`.
"""

from __future__ import annotations

import threading
from datetime import datetime

from imagear.app import App
from imagear.batch.report import NamedSkip
from imagear.db import runplan
from imagear.db.jobs import FAILED, GIVEN_UP, RUNNING, Selection
from imagear.db.rows import NamedRow
from imagear.domain import PlannedRecord


def plan(app: App, sel: Selection, limit: int | None) -> list[PlannedRecord]:
    """What a run would take now, in order (no writes), for ``--dry-run``.

    Records with no job row yet count as new; expired claims as what the sweep reopens.
    """
    return runplan.plan(app.engine, sel, limit)


def count(app: App, sel: Selection, limit: int | None) -> int:
    """How many records :func:`plan` would list (at most ``limit``)."""
    return runplan.count(app.engine, sel, limit)


class Counting:
    """:func:`count` with no limit, run in a daemon thread while the caller does other work (a
    failing pre-flight does not wait for it); :meth:`result` returns the count or raises."""

    def __init__(self, app: App, sel: Selection) -> None:
        self._value = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(app, sel), name="imagear-count", daemon=True
        )
        self._thread.start()

    def _run(self, app: App, sel: Selection) -> None:
        try:
            self._value = count(app, sel, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> int:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _why_not(r: NamedRow, sel: Selection, now: datetime, max_attempts: int) -> NamedSkip | None:
    """Why the named record of row ``r`` cannot be taken now (None: it can)."""
    oid = r.id
    attempts = r.attempts
    if not r.has_master:
        return NamedSkip(oid, "no_master")
    if sel.only_missing and r.has_clip:
        return NamedSkip(oid, "has_clip")
    if r.status == GIVEN_UP:
        return NamedSkip(oid, "given_up", attempts, max_attempts)
    retry_at = r.next_attempt_at
    if r.status == FAILED and retry_at is not None and retry_at > now:
        return NamedSkip(oid, "waiting", attempts, max_attempts, retry_at)
    expires = r.claim_expires_at
    if r.status == RUNNING and expires is not None and expires >= now:
        return NamedSkip(oid, "running", attempts, max_attempts, expires, r.claimed_by)
    finished = r.finished_at
    if not sel.only_missing and sel.since is not None and finished and finished >= sel.since:
        return NamedSkip(oid, "done_since", attempts, max_attempts, finished)
    return None


def explain_named(app: App, sel: Selection, now: datetime, max_attempts: int) -> list[NamedSkip]:
    """For a run limited to named ids (``sel.ids``): the named records it will not take now,
    and why (missing, no master image, already animated, waiting for a retry, ...), by id."""
    if sel.ids is None:
        return []
    out: list[NamedSkip] = []
    for window in sel.windows():
        assert window is not None
        found = runplan.named_rows(app.engine, window)
        for oid in window:
            if oid not in found:
                out.append(NamedSkip(oid, "missing"))
            elif (why := _why_not(found[oid], sel, now, max_attempts)) is not None:
                out.append(why)
    return out


__all__ = ["Counting", "count", "explain_named", "plan"]
