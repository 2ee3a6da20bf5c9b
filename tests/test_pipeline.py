"""The generation pipeline stage by stage (imagear.generation), with a fake generator through
the real protocol: no isinstance, no URL attribute, the permit taken after the upload is
prepared and given back when the clip is there, typed events that only observe, a new stage
as one more item; the pool's "busy" as a TurnRefused answer and the batch's concurrency as a
permit (neither is an exception thrown through a callback)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagear import records, settings, store
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.batch.animator import GenerationGate
from imagear.client import TurnRefused, VideoClient
from imagear.engines.base import EngineConfig
from imagear.errors import BadResponse, MediaError
from imagear.generation import stages
from imagear.generation.events import Done, Event, Notice, Phase, Started, keywords
from imagear.generation.permit import StoppedWaiting
from imagear.generation.pipeline import STAGES, Pipeline, Run, Stage
from imagear.generation.protocol import Generated, Generator, Job, Placement, Prepared
from imagear.generation.router import Router
from imagear.models import get_model


class FakeGenerator:
    """A generator through the real protocol: Ken Burns in this process, described as a
    server (``remote``) or not, recording what the pipeline asked of it."""

    def __init__(self, log: list[str], remote: bool = True) -> None:
        self.log = log
        self.remote = remote
        self.engine = get_model("kenburns").create_engine(EngineConfig(models_dir=Path(".")))

    @property
    def placement(self) -> Placement:
        if self.remote:
            return Placement(True, "http://fake:5052", "waiting for the fake server")
        return Placement(False, None, "generating here")

    def params(self, job: Job) -> dict[str, object]:
        return {"model": job.descriptor.name, "seed": job.options.seed}

    def prepare(self, job: Job) -> Prepared:
        from imagear.media import open_image, prepare_image

        self.log.append("prepare")
        with open_image(job.source, load=False) as img:
            size = img.size
        image = prepare_image(job.source, size)
        return Prepared(job, {"width": image.width, "height": image.height}, image=image)

    def generate(self, prepared: Prepared, dest: Path, observe: Any) -> Generated:
        self.log.append("generate")
        assert prepared.image is not None
        result = self.engine.generate(prepared.image, prepared.job.options, dest)
        prepared.close()
        return Generated(
            model="kenburns",
            seed=int(result.seed or prepared.job.options.seed),
            generation_secs=0.5,
            upload=prepared.upload,
        )

    def health(self, settings: Any) -> Any:
        raise NotImplementedError

    def check_ready(self, descriptor: Any, settings: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        self.log.append("close")


class RecordingPermit:
    def __init__(self, log: list[str], grant: bool = True) -> None:
        self.log, self.grant = log, grant

    def acquire(self) -> bool:
        self.log.append("acquire")
        return self.grant

    def release(self) -> None:
        self.log.append("release")


def _generator(log: list[str], remote: bool = True) -> Generator:
    return FakeGenerator(log, remote)  # type-checked against the protocol


class FakeRouter(Router):
    """The real Router, whose every route leads to the fake generator."""

    def __init__(self, app: App, generator: Generator) -> None:
        super().__init__(app, local=lambda: generator)
        self.fake = generator

    def for_route(self, route: Any, settings: Any) -> Generator:
        return self.fake


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Units of the pipeline: SQLite only (the storage tests run on every database)."""
    return sqlite_url


@pytest.fixture
def record(app: App, make_image: Any) -> int:
    return records.add_record(app, make_image("photo.jpg", size=(320, 200))).id


def _run(app: App, oid: int, generator: Generator, **kw: Any) -> Run:
    request = AnimateRequest(oid, model="kenburns", overrides={"seed": 5}, **kw.pop("req", {}))
    return Run(app, FakeRouter(app, generator), request, settings.get_all(app.engine), **kw)


# -- resolve / route ---------------------------------------------------------------------------


def test_resolve_validates_and_draws_nothing_when_a_seed_is_given(app: App, record: int) -> None:
    resolved = stages.resolve(
        app,
        AnimateRequest(record, model="kenburns", overrides={"seed": 5}),
        settings.get_all(app.engine),
    )
    assert isinstance(resolved, stages.Resolved)
    assert resolved.descriptor.name == "kenburns" and resolved.options.seed == 5
    assert resolved.replacing is False and resolved.master.file.is_file()


def test_route_hands_the_job_to_any_generator(app: App, record: int) -> None:
    found = stages.resolve(
        app, AnimateRequest(record, model="kenburns"), settings.get_all(app.engine)
    )
    assert isinstance(found, stages.Resolved)
    assert found.options.seed != 0  # seed 0 is drawn
    log: list[str] = []
    for remote in (True, False):
        routed = stages.route(
            app, _generator(log, remote), found, AnimateRequest(record, "kenburns")
        )
        assert routed.job.object_id == record and routed.job.source == found.master.file


# -- generate: the permit ----------------------------------------------------------------------


def test_the_permit_is_taken_after_the_upload_is_prepared(
    app: App, record: int, tmp_path: Path
) -> None:
    log: list[str] = []
    run = _run(app, record, _generator(log))
    STAGES[0].run(run)
    STAGES[1].run(run)
    assert run.routed is not None
    stages.generate(run.routed, tmp_path / "clip.mp4", RecordingPermit(log), lambda e: None)
    assert log == ["prepare", "acquire", "generate", "release"]
    assert (tmp_path / "clip.mp4").stat().st_size > 1000


def test_a_refused_permit_sends_nothing(app: App, record: int, tmp_path: Path) -> None:
    log: list[str] = []
    run = _run(app, record, _generator(log), permit=RecordingPermit(log, grant=False))
    with pytest.raises(StoppedWaiting):
        Pipeline().run(run)
    assert log == ["prepare", "acquire"]  # never generated, nothing to give back
    assert [p for p in store.record_dir(app.config, record).iterdir()] == []  # .part removed


def test_the_batch_gate_is_a_permit(tmp_path: Path) -> None:
    stop = threading.Event()
    gate = GenerationGate(1, stop)
    first, second = gate.permit(1), gate.permit(2)
    assert first.acquire()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.acquire()))
    waiter.start()
    time.sleep(0.3)
    assert got == []  # one slot: the second record waits
    stop.set()
    waiter.join(5)
    assert got == [False]  # the run stopped while it waited: refused, nothing held
    first.release()
    first.release()  # a no-op once given back
    assert gate.timing(1)[1] is not None and gate.timing(2) == (0.0, None)


# -- verify ------------------------------------------------------------------------------------


def test_an_unplayable_clip_is_a_bad_answer_only_from_a_server(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not an mp4" * 200)
    with pytest.raises(BadResponse):
        stages.probe(junk, _generator([], remote=True))
    with pytest.raises(MediaError):
        stages.probe(junk, _generator([], remote=False))


# -- the whole pipeline ------------------------------------------------------------------------


def test_events_are_typed_and_only_observe(app: App, record: int) -> None:
    events: list[Event] = []
    outcome = Pipeline().run(_run(app, record, _generator([]), observe=events.append))
    assert outcome.status == "created" and outcome.file is not None and outcome.file.is_file()
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Started", "Phase", "Phase", "Phase", "Phase", "Done"], kinds
    start = events[0]
    assert isinstance(start, Started) and start.remote and start.url == "http://fake:5052"
    assert start.params == {"seed": 5}
    phases = [e.phase for e in events if isinstance(e, Phase)]
    assert phases == ["generate", "probe", "check", "store"]
    assert events[1] == Phase(record, "generate", "waiting for the fake server")
    assert events[-1] == Done(record, "created")

    # an observer that fails does not get a say in the flow: it is logged, and the clip is
    # stored all the same (a broken progress display must not lose a clip)
    def broken(event: Event) -> None:
        raise ValueError("observer bug")

    outcome = Pipeline().run(_run(app, record, _generator([]), observe=broken, req={"force": True}))
    assert outcome.status == "replaced" and outcome.file is not None and outcome.file.is_file()


def test_the_new_clip_is_typed_and_the_motion_comes_from_the_options(app: App, record: int) -> None:
    run = _run(app, record, _generator([]), req={"extra": {"motion": "pan_lr"}})
    outcome = Pipeline().run(run)
    assert run.resolved is not None and run.verified is not None and run.generated is not None
    clip = stages.new_clip(app, run.resolved, run.verified.info, run.generated)
    assert (clip.model, clip.motion, clip.seed) == ("kenburns", "pan_lr", 5)
    assert outcome.animation is not None and outcome.animation.mp4_motion == "pan_lr"
    assert outcome.animation.mp4_width == clip.width == run.verified.info.width


def test_a_new_stage_is_one_more_item(app: App, record: int) -> None:
    seen: list[str] = []

    def publish(run: Run) -> None:
        assert run.verified is not None and run.outcome is None
        seen.append(f"signed {run.object_id}")

    pipeline = Pipeline([*STAGES[:-1], Stage("publish", publish), STAGES[-1]])
    assert [s.name for s in pipeline.stages] == [
        "resolve",
        "route",
        "generate",
        "verify",
        "sign",
        "publish",
        "commit",
    ]
    assert pipeline.run(_run(app, record, _generator([]))).status == "created"
    assert seen == [f"signed {record}"]
    # a record that keeps its clip ends at resolve: skipped, nothing generated or signed
    log: list[str] = []
    assert pipeline.run(_run(app, record, _generator(log))).status == "skipped"
    assert log == [] and len(seen) == 1


def test_the_animator_drives_the_pipeline_and_keeps_the_keyword_callback(
    app: App, record: int
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    with Animator(app, progress=lambda e, **d: calls.append((e, d))) as animator:
        animator.router = FakeRouter(app, _generator([]))
        out = animator.animate(AnimateRequest(record, model="kenburns"))
    assert out.status == "created"
    assert [c[0] for c in calls] == ["start", "phase", "phase", "phase", "phase", "done"]
    assert calls[0][1]["url"] == "http://fake:5052" and calls[-1][1]["status"] == "created"
    observed: list[str] = []
    keywords(lambda e, **d: observed.append(f"{e}:{d}"))(Notice(1, "hi"))
    assert observed == ["notice:{'object_id': 1, 'message': 'hi'}"]


# -- the pool's busy answer --------------------------------------------------------------------


def test_a_busy_answer_to_a_pool_client_is_turn_refused_not_a_raising_sleep(
    tmp_path: Path,
) -> None:
    sleeps: list[float] = []
    transport = httpx.MockTransport(
        lambda request: httpx.Response(503, headers={"Retry-After": "3"}, json={"error": "busy"})
    )
    client = VideoClient(
        "http://gpu:5052", transport=transport, wait_turns=False, sleep=sleeps.append
    )
    with client, pytest.raises(TurnRefused) as caught:
        client.animate(b"jpeg", {"model": "svd"}, tmp_path / "c.part")
    assert caught.value.wait == 3.0 and sleeps == []  # said, not slept
    waiting = VideoClient(
        "http://gpu:5052", transport=transport, busy_retries=1, sleep=sleeps.append
    )
    with waiting, pytest.raises(Exception) as busy:
        waiting.animate(b"jpeg", {"model": "svd"}, tmp_path / "c.part")
    assert not isinstance(busy.value, TurnRefused) and sleeps == [3.0]
