"""What `imagear serve` keeps in memory per request (issue 27): a queued job holds its upload,
not its pixels; the worker decodes it in its turn and hands the image to the engine, which lets
go of it once it has its own working copy. Peak figures are in bench/bench_server_memory.py."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagear.engines.base import EngineConfig
from imagear.engines.kenburns import render_frames
from imagear.models import get_model
from imagear.server.worker import Job, Worker


def _picture(size: tuple[int, int] = (480, 300)) -> Image.Image:
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img.paste((250, 40, 40), (40, 40, 200, 160))
    return img


def _descriptor(model: str, generate: Callable[[Image.Image, Any, Path], Any]) -> Any:
    """A model descriptor (not registered) whose engine makes its clips with ``generate``."""
    from imagear.models import ModelDescriptor

    class Engine:
        name = model

        def generate(self, image: Image.Image, options: Any, out_path: Path) -> Any:
            return generate(image, options, out_path)

        def loaded(self) -> bool:
            return True

        def close(self) -> None:
            pass

    class Desc(ModelDescriptor):
        name, family, requires_gpu, hf_repo = model, "test", False, None

        def create_engine(self, config: EngineConfig) -> Any:
            return Engine()

    return Desc()


def test_render_frames_lets_go_of_the_source_once_it_has_its_working_copy() -> None:
    image = _picture()
    source = weakref.ref(image)
    frames = render_frames(image, width=160, height=96, num_frames=3, pixel_format="yuv420p")
    del image
    assert source() is not None  # lazy: nothing made yet, the generator still holds it
    next(frames)
    gc.collect()
    assert source() is None
    assert len(list(frames)) == 2


def test_the_worker_decodes_in_its_turn_and_the_engine_frees_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job is queued without pixels; the worker decodes it when it takes it; once the first
    frame has been rendered nothing holds the decoded image any more (not the job, not the
    worker, not the engine): only the engine's working copy is kept while it encodes. The quality
    gate still judged the clip against the image (its reference is taken before)."""
    from imagear import media

    made: list[weakref.ref[Image.Image]] = []
    alive_after_first_frame: list[bool] = []

    def load() -> Image.Image:
        image = _picture()
        made.append(weakref.ref(image))
        return image

    real_write = media.write_mp4

    def write_mp4(frames: Iterable[Any], *args: Any, **kw: Any) -> int:
        it = iter(frames)
        first = next(it)
        gc.collect()
        alive_after_first_frame.append(made[0]() is not None)
        return real_write(_chain(first, it), *args, **kw)

    monkeypatch.setattr(media, "write_mp4", write_mp4)
    desc = get_model("kenburns")
    options = desc.Options(width=160, height=96, num_frames=8, fps=8, seed=1)
    worker = Worker(EngineConfig(), queue_size=1)
    job = Job(desc, options, None, tmp_path / "clip.mp4", load=load)
    assert made == []  # queued without pixels
    worker.start()
    try:
        result, info = worker.submit(job).result(timeout=60)
    finally:
        worker.stop()
    assert len(made) == 1 and alive_after_first_frame == [False]
    assert job.image is None and job.load is None
    assert info.frames == 8 and result.scan is not None


def test_a_job_whose_image_fails_to_decode_is_refused_without_a_generation(
    tmp_path: Path,
) -> None:
    """A decode that fails in the worker (a truncated file whose header was fine) answers the
    request with that error, as before it was queued; no engine runs."""
    from imagear.errors import InvalidImage

    def load() -> Image.Image:
        raise InvalidImage("The upload 'master.jpg' is truncated.")

    desc = get_model("kenburns")
    options = desc.Options(width=160, height=96, num_frames=8, fps=8, seed=1)
    worker = Worker(EngineConfig(), queue_size=1)
    worker.start()
    try:
        future = worker.submit(Job(desc, options, None, tmp_path / "clip.mp4", load=load))
        with pytest.raises(InvalidImage, match="truncated"):
            future.result(timeout=30)
        assert worker.loaded_models() == []  # no engine was even built
    finally:
        worker.stop()
    assert not (tmp_path / "clip.mp4").exists()


def test_the_next_job_is_decoded_while_the_current_one_generates_one_ahead_at_most(
    tmp_path: Path,
) -> None:
    """Decoding is not left on the worker's critical path: the job behind the running one is
    decoded in the decode thread while that one generates; the one behind it waits, undecoded,
    until its predecessor's turn (never more than one image decoded ahead)."""
    from imagear.engines.kenburns import KenBurnsEngine
    from imagear.quality import Thresholds

    events: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    second_ready = threading.Event()
    overlapped: list[bool] = []

    def note(what: str, k: int) -> None:
        with lock:
            events.append((what, k, threading.current_thread().name))

    def loader(k: int) -> Callable[[], Image.Image]:
        def load() -> Image.Image:
            note("load", k)
            image = _picture()
            if k == 2:
                second_ready.set()
            return image

        return load

    def generate(image: Image.Image, options: Any, out_path: Path) -> Any:
        note("generate", options.seed)
        if options.seed == 1:  # job 2 is decoded meanwhile, in the decode thread
            overlapped.append(second_ready.wait(20))
        result = KenBurnsEngine().generate(image, options, out_path)
        note("done", options.seed)
        return result

    options = get_model("kenburns").Options
    worker = Worker(EngineConfig(), queue_size=3, quality=Thresholds(enabled=False))
    futures = [
        worker.submit(
            Job(
                _descriptor("test-ahead", generate),
                options(width=160, height=96, num_frames=6, fps=6, seed=k),
                None,
                tmp_path / f"clip-{k}.mp4",
                load=loader(k),
            )
        )
        for k in (1, 2, 3)
    ]
    worker.start()
    try:
        for future in futures:
            future.result(timeout=60)
    finally:
        worker.stop()
    assert overlapped == [True]
    threads = {k: name for what, k, name in events if what == "load"}
    assert threads[1] == "imagear-worker"
    assert threads[2].startswith("imagear-decode") and threads[3].startswith("imagear-decode")
    order = [(what, k) for what, k, _ in events]
    assert order.index(("load", 3)) > order.index(("done", 1))  # not while job 1 generated


def test_stopping_refuses_the_job_taken_ahead_too(tmp_path: Path) -> None:
    """stop() lets the running job finish and refuses every waiting one, including the one the
    worker had already taken (and decoded) ahead of its turn."""
    from imagear.engines.kenburns import KenBurnsEngine
    from imagear.errors import ServerBusy
    from imagear.quality import Thresholds

    started, gate = threading.Event(), threading.Event()

    def generate(image: Image.Image, options: Any, out_path: Path) -> Any:
        started.set()
        gate.wait(20)
        return KenBurnsEngine().generate(image, options, out_path)

    options = get_model("kenburns").Options(width=160, height=96, num_frames=6, fps=6, seed=1)
    worker = Worker(EngineConfig(), queue_size=3, quality=Thresholds(enabled=False))
    desc = _descriptor("test-stop", generate)
    jobs = [Job(desc, options, None, tmp_path / f"c{k}.mp4", load=_picture) for k in range(3)]
    futures = [worker.submit(job) for job in jobs]
    worker.start()
    assert started.wait(20)
    threading.Timer(0.3, gate.set).start()
    worker.stop()
    assert futures[0].result(timeout=1)[1].frames == 6
    for future in futures[1:]:
        with pytest.raises(ServerBusy, match="shutting down"):
            future.result(timeout=1)
    assert all(job.image is None for job in jobs)


def _chain(first: Any, rest: Iterable[Any]) -> Iterable[Any]:
    yield first
    yield from rest
