"""The generation pipeline: a list of named stages run in order for one record.

Each stage reads what the stages before it left in the :class:`Run` and leaves its own result
there; a stage may end the run early with an outcome (resolve, for a record that keeps its
clip). A new stage (signing, publishing) is one more item of :data:`STAGES`, or of the list a
caller hands :class:`Pipeline`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imagear import store
from imagear.generation import signing as credentials
from imagear.generation import stages
from imagear.generation.events import Done, Notice, Observer, Phase, Started, ignore
from imagear.generation.permit import UNLIMITED, GenerationPermit
from imagear.generation.protocol import Generated
from imagear.generation.router import Router
from imagear.generation.values import AnimateOutcome, AnimateRequest

if TYPE_CHECKING:
    from imagear.app import App
    from imagear.generation.events import Event
    from imagear.settings import Settings

log = logging.getLogger("imagear.generation")


def guarded(observer: Observer) -> Observer:
    """``observer`` that can only observe: an exception it raises is logged, never raised into
    the pipeline (a broken progress display must not lose a clip)."""
    if observer is ignore:
        return observer

    def observe(event: Event) -> None:
        try:
            observer(event)
        except Exception:  # noqa: BLE001 - hooks observe, they never steer
            log.warning("An observer failed on %s; generation goes on.", event, exc_info=True)

    return observe


@dataclass
class Run:
    """One record's way through the pipeline: its inputs, and each stage's result."""

    app: App
    router: Router
    request: AnimateRequest
    settings: Settings
    observe: Observer = ignore
    permit: GenerationPermit = UNLIMITED
    files: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    resolved: stages.Resolved | None = None
    routed: stages.Routed | None = None
    part: store.PartFile | None = None
    generated: Generated | None = None
    verified: stages.Verified | None = None
    signing: credentials.ClipSigning | None = None  # None: ar_provenance 0 (clips stay unsigned)
    outcome: AnimateOutcome | None = None

    @property
    def object_id(self) -> int:
        return int(self.request.object_id)

    def need(self) -> tuple[stages.Resolved, stages.Routed, store.PartFile, Generated]:
        """What the stages after generate need (a stage out of order is a bug)."""
        if None in (self.resolved, self.routed, self.part, self.generated):
            raise RuntimeError("a stage ran before the stages it depends on")
        assert self.resolved and self.routed and self.part and self.generated
        return self.resolved, self.routed, self.part, self.generated


@dataclass(frozen=True)
class Stage:
    """A named step: ``run(state)`` leaves its result in the state."""

    name: str
    run: Callable[[Run], None]


def _resolve(run: Run) -> None:
    found = stages.resolve(run.app, run.request, run.settings)
    if isinstance(found, AnimateOutcome):
        run.outcome = found
        return
    run.resolved = found
    for notice in found.notices:
        run.observe(Notice(run.object_id, notice))


def _route(run: Run) -> None:
    assert run.resolved is not None
    # the signing identity first: a bad certificate fails before anything is generated
    run.signing = credentials.load(run.app, run.settings, run.observe, run.object_id)
    where = run.router.route(run.settings, run.request.in_process)
    generator = run.router.for_route(where, run.settings)
    run.routed = routed = stages.route(run.app, generator, run.resolved, run.request)
    params = generator.params(routed.job)
    place = generator.placement
    run.observe(
        Started(
            run.object_id,
            model=run.resolved.descriptor.name,
            remote=place.remote,
            url=place.url,
            params={k: v for k, v in params.items() if v is not None and k != "model"},
            replacing=run.resolved.replacing,
        )
    )


def _generate(run: Run) -> None:
    assert run.resolved is not None and run.routed is not None
    directory = store.record_dir(run.app.config, run.object_id)
    run.part = run.files.enter_context(store.part_file(directory, run.resolved.descriptor.name))
    run.generated = stages.generate(run.routed, run.part.path, run.permit, run.observe)


def _verify(run: Run) -> None:
    _resolved, routed, part, generated = run.need()
    run.verified = stages.verify(run.app, run.settings, routed, part.path, generated, run.observe)


def _sign(run: Run) -> None:
    got = run.need()
    assert run.verified is not None
    words = None
    if (labelled := credentials.label(run.settings, got, run.verified, run.files)) is not None:
        run.part, run.verified, words = labelled  # ar_visible_label: burned into an AI clip
        got = run.need()
    if run.signing is not None:
        run.part, run.verified, run.signing = credentials.sign(
            run.app, run.signing, got, run.verified, run.files, words
        )


def _commit(run: Run) -> None:
    resolved, _routed, part, generated = run.need()
    assert run.verified is not None
    run.observe(Phase(run.object_id, "store", "storing the clip"))
    sign = run.signing.companion if run.signing is not None else None
    run.outcome = stages.commit(
        run.app, run.request, resolved, part, run.verified, generated, sign=sign
    )


STAGES: tuple[Stage, ...] = (
    Stage("resolve", _resolve),
    Stage("route", _route),
    Stage("generate", _generate),
    Stage("verify", _verify),
    Stage("sign", _sign),
    Stage("commit", _commit),
)
"""resolve -> route (and the signing identity) -> generate -> verify (the quality gate) ->
sign (Content Credentials) -> commit (the poster and preview signed too)."""


class Pipeline:
    """Run :data:`STAGES` (or ``stages``) for one record at a time; thread-safe (a run's
    state is its own)."""

    def __init__(self, stages_: Sequence[Stage] = STAGES) -> None:
        self.stages = tuple(stages_)

    def run(self, state: Run) -> AnimateOutcome:
        """Each stage in turn until one leaves the outcome; ``done`` is observed at the end.
        The observer is :func:`guarded`: what it does cannot change the flow."""
        state.observe = guarded(state.observe)
        with state.files:
            for stage in self.stages:
                stage.run(state)
                if state.outcome is not None:
                    break
        if state.outcome is None:
            raise RuntimeError("the pipeline ended without an outcome (no commit stage?)")
        state.observe(Done(state.object_id, state.outcome.status))
        return state.outcome


__all__ = ["STAGES", "Pipeline", "Run", "Stage", "guarded"]
