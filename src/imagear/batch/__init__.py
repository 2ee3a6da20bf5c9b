"""Animate many records: select, claim, run a thread pool, record outcomes, retry later.

The service behind ``imagear batch``, and the names its front ends import. One
:class:`BatchRunner` run:

1. pre-flight (:mod:`imagear.batch.preflight`): both feature toggles on, the model known, the
   per-call options valid for it; a failure is raised before any job row is touched;
2. sweeps expired claims (runners that died), then makes sure every selected record has an
   ``image_ar_job`` row (:mod:`imagear.db.claims`), and says why named records (``--object-id``)
   will not be taken (missing, no master image, waiting for a retry, ...);
3. counts what it can take now (records with a master image and, by default, no animation;
   failed ones whose retry time has come); stops with "nothing to do" when there is none;
4. checks the server with :meth:`Animator.check_ready` (raises, e.g. exit 5 when the server is
   down, before the first claim);
5. claims as many records as there are idle workers, lowest ids first, and animates them with
   :meth:`Animator.animate` from ``concurrency`` threads sharing one Animator, while a
   heartbeat thread renews the claims it holds and reopens claims whose runner died;
6. records each outcome: ``done``; ``failed`` with the error's message and kind, retried by a
   later run after an exponential backoff (``backoff_secs`` doubling per attempt, at most
   ``backoff_cap_secs``); ``given_up`` after ``max_attempts``. Which errors stop the run and
   which wait the full cap is in :mod:`imagear.batch.retry`.

:meth:`BatchRunner.stop` (SIGINT/SIGTERM in the CLI) stops taking records, lets the running
ones finish and gives back claims on records not started. Services never print: pass
:class:`BatchEvents` to hear about progress.

Where each part lives:

- :mod:`imagear.batch.options`: :class:`BatchOptions`, defaults, the lease length, the ids file;
- :mod:`imagear.batch.preflight`: the checks before any record is touched;
- :mod:`imagear.batch.retry`: the retry policy by error kind and the backoff;
- :mod:`imagear.batch.report`: :class:`ItemResult`, :class:`BatchSummary`, :class:`BatchEvents`,
  :class:`Preview` (``--dry-run``), :class:`NamedSkip` (a named record not taken, and why);
- :mod:`imagear.batch.runner`: :class:`BatchRunner`, its main loop, workers and heartbeat;
- :mod:`imagear.batch.animator`: the settings cache and generation gate the workers share;
- :mod:`imagear.batch.progress`: how the batch is getting on (``imagear batch status``);
- :mod:`imagear.batch.plan`: what a run would take (``--dry-run``) and why named records are
  not taken; the job rows and the claim protocol are :mod:`imagear.db.jobs` and
  :mod:`imagear.db.claims`; :mod:`imagear.batch.failures`: ``imagear batch failures`` / ``reset``.
"""

from __future__ import annotations

from imagear.batch.animator import SETTINGS_TTL_SECS
from imagear.batch.failures import (
    FailurePage,
    count_given_up,
    failure_counts,
    failure_page,
    list_failures,
    reset_failures,
)
from imagear.batch.options import (
    DEFAULT_BACKOFF_CAP_SECS,
    DEFAULT_BACKOFF_SECS,
    DEFAULT_LEASE_SECS,
    DEFAULT_MAX_ATTEMPTS,
    BatchOptions,
    default_lease_secs,
    read_ids_file,
)
from imagear.batch.preflight import check_local
from imagear.batch.progress import BatchProgress, progress
from imagear.batch.report import BatchEvents, BatchSummary, ItemResult, NamedSkip, Preview
from imagear.batch.retry import RUN_LEVEL, SLOW_RETRY, retry_delay
from imagear.batch.runner import BatchRunner

__all__ = [
    "DEFAULT_BACKOFF_CAP_SECS",
    "DEFAULT_BACKOFF_SECS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_LEASE_SECS",
    "RUN_LEVEL",
    "SETTINGS_TTL_SECS",
    "SLOW_RETRY",
    "BatchEvents",
    "BatchOptions",
    "BatchProgress",
    "BatchRunner",
    "BatchSummary",
    "FailurePage",
    "ItemResult",
    "NamedSkip",
    "Preview",
    "check_local",
    "count_given_up",
    "default_lease_secs",
    "failure_counts",
    "failure_page",
    "list_failures",
    "progress",
    "read_ids_file",
    "reset_failures",
    "retry_delay",
]
