"""What a batch checks before it touches any record: the pre-flight.

:func:`check_local` runs before a run (or a ``--dry-run``) reads or writes any job row: both
feature toggles on (else :class:`~imagear.errors.FeatureDisabled`, exit 4, as the real run
would be refused), the model known (:class:`~imagear.errors.UnknownModel`, exit 3), and the
per-call options valid for the model (:class:`~imagear.errors.InvalidOption`, exit 2), so a
typo does not mark a whole collection failed; that includes a clip longer than the database's
``object_image_ar.mp4_duration_secs`` can hold (Heratio's: 99.99 s). The server's health (reachable, the credentials
accepted, the model loaded) is checked by the runner with :meth:`Animator.check_ready` once it
knows there is something to do, still before the first claim.

A pre-flight failure is raised, not recorded: ``imagear batch`` prints only the error and exits
with its code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagear import settings as settings_svc
from imagear.app import App
from imagear.batch.options import BatchOptions
from imagear.errors import ImagearError, InvalidOption
from imagear.heratio import check_duration
from imagear.settings import Settings

if TYPE_CHECKING:
    from imagear.models.resolve import Resolved


def check_options(options: BatchOptions, settings: Settings) -> Resolved | None:
    """The model is known (UnknownModel) and the per-call options are ones it accepts
    (InvalidOption). Options that depend on each image's size (a width or height) are left to
    each record. Returns the resolved generation (None when it was left to each record)."""
    from imagear.models import get_model, resolve_generation

    name = options.model or settings.ar_model
    get_model(name)
    given = {k for k, v in options.overrides.items() if v is not None} | set(options.extra)
    if not given or given & {"width", "height"}:
        return None
    try:
        return resolve_generation(
            name,
            settings.model_dump(),
            options.overrides,
            options.extra,
            None,
            wording=options.wording,
        )
    except InvalidOption:
        raise
    except ImagearError:
        return None  # about one image rather than the options: each record says it better


def check_local(app: App, options: BatchOptions) -> None:
    """Toggles, model and options (no network, no writes); raises the first problem."""
    settings = settings_svc.get_all(app.engine)
    settings.require_generation(button=False)  # as Heratio's artisan command
    resolved = check_options(options, settings)
    if resolved is not None:  # a clip the database cannot record: refused before any record
        o = resolved.options
        check_duration(app.engine, o.num_frames, o.fps, resolved.descriptor.name)


__all__ = ["check_local", "check_options"]
