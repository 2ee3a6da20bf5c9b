"""Throughput: the batch's pipeline (uploads prepared ahead, heavy imports warmed), large
masters prepared cheaply, claims that walk from a cursor, and the Ken Burns encoder settings.

The timed targets themselves are in bench/ (bench_batch.py, bench_scale.py,
bench_kenburns.py); these tests hold the behaviour the numbers rest on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from batch_fakes import make_records, serve_fixture  # noqa: F401 (the serve fixture)
from imagear.app import App
from imagear.batch import BatchOptions, BatchRunner
from imagear.batch.animator import WARM_MODULES, warm_imports
from imagear.db.claims import ClaimStore
from imagear.db.jobs import Selection
from imagear.engines.kenburns import CRF, PRESET, KenBurnsEngine, render_frames
from imagear.media import prepare_image

if TYPE_CHECKING:
    import numpy as np

# -- large masters -------------------------------------------------------------------------------


def grey16(path: Path, size: tuple[int, int]) -> Path:
    """A 16-bit greyscale TIFF: a smooth gradient with a bright disc (values up to 65535)."""
    import numpy as np

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    arr = (xx / w) * 40000 + (yy / h) * 20000
    arr[(xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (h / 4) ** 2] = 65535
    Image.fromarray(arr.astype(np.uint16)).save(path)
    return path


def test_a_large_16_bit_tiff_is_shrunk_before_it_is_converted(tmp_path: Path) -> None:
    import numpy as np

    path = grey16(tmp_path / "scan16.tif", (3000, 2000))
    fast = prepare_image(path, (400, 300))  # from the file: reduced by a whole factor first
    with Image.open(path) as opened:
        opened.load()
        slow = prepare_image(opened, (400, 300))  # a given image: the full-size path
    assert fast.mode == slow.mode == "RGB"
    assert fast.size == slow.size == (400, 267)
    diff = np.abs(np.asarray(fast, np.float64) - np.asarray(slow, np.float64))
    assert diff.mean() < 1.5  # the same picture (box + Lanczos vs Lanczos alone)
    assert abs(np.asarray(fast).max() - 255) <= 1  # 16-bit white stays white (/257, not >>8)


def test_a_small_master_is_not_reduced(tmp_path: Path) -> None:
    path = grey16(tmp_path / "small16.tif", (500, 400))
    assert prepare_image(path, (400, 300)).size == (375, 300)


# -- the batch's pipeline ------------------------------------------------------------------------


def test_the_next_upload_is_prepared_while_a_request_runs(
    app: App, serve: Any, tmp_path: Path
) -> None:
    make_records(app, 4, tmp_path / "in", size=(1200, 800))
    server = serve(latency=0.4, max_concurrent=1)
    runner = BatchRunner(app, BatchOptions(concurrency=1))
    summary = runner.run()
    assert summary.count("created") == 4
    assert server.peak_concurrency == 1  # one generation at a time, as asked
    # the records behind the first were prepared (their upload made) and then waited for
    # the slot: the server never waited for the client to prepare the next one
    assert runner.slot_wait_secs > 0.4


def test_heavy_imports_are_warmed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("imagear.quality", "imagear.media.preview"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    warm_imports()
    assert all(name in sys.modules for name in WARM_MODULES)


def test_the_warm_imports_start_when_the_first_record_enters_the_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not before: their imports hold the GIL the pre-flight and the first uploads' preparation
    need. Once: every later record finds them started."""
    import threading

    import imagear.batch.animator as animator

    started: list[str] = []

    def finish_warming() -> None:
        for thread in threading.enumerate():
            if thread.name == "imagear-warm":
                thread.join(5)

    monkeypatch.setattr(animator, "warm_imports", lambda: started.append("warmed"))
    gate = animator.GenerationGate(2, threading.Event())
    animator.batch_animator_class(object)()  # the batch's Animator, made before the pre-flight
    finish_warming()
    assert started == []
    assert gate.enter(1)
    finish_warming()
    assert started == ["warmed"]
    gate.release(1)
    assert gate.enter(2) and gate.enter(3)
    finish_warming()
    assert started == ["warmed"]


@pytest.mark.all_databases
def test_a_dry_run_lists_the_first_records_and_counts_them_all(
    app: App, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagear.batch.runner

    monkeypatch.setattr(imagear.batch.runner, "PREVIEW_ROWS", 3)
    ids = make_records(app, 5, tmp_path / "in")
    serve()
    preview = BatchRunner(app, BatchOptions()).preview()
    assert [r.object_id for r in preview.rows] == ids[:3]
    assert (preview.total, preview.limit) == (5, None)
    limited = BatchRunner(app, BatchOptions(limit=4)).preview()
    assert (len(limited.rows), limited.total) == (4, 5)


# -- claims from a cursor ------------------------------------------------------------------------


@pytest.mark.all_databases
@pytest.mark.mysql
def test_claims_walk_from_a_cursor_and_still_take_records_given_back_behind_it(
    app: App, tmp_path: Path
) -> None:
    ids = make_records(app, 12, tmp_path / "in")
    store = ClaimStore(app.engine, "me", lease_secs=600, max_attempts=5)
    sel = Selection()
    store.prepare(sel)
    started = store.db_now()
    first = [c.object_id for c in store.claim(4, sel, None, started)]
    assert first == ids[:4]
    store.release([ids[1]])  # given back: pending again, behind the cursor
    second = [c.object_id for c in store.claim(4, sel, None, started)]
    assert second == ids[4:8]  # from the cursor on, not from the first id
    rest = [c.object_id for c in store.claim(10, sel, None, started)]
    # the walk from the cursor comes up short, so it starts once more from the first id
    assert rest == sorted([ids[1], *ids[8:]])
    assert store.claim(10, sel, None, started) == []


@pytest.mark.all_databases
def test_postgresql_statistics_are_refreshed_after_a_large_enqueue(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    import imagear.db.claims

    if app.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    monkeypatch.setattr(imagear.db.claims, "ANALYZE_AFTER", 3)
    make_records(app, 3, tmp_path / "in")
    ClaimStore(app.engine, "me", lease_secs=600, max_attempts=5).prepare(Selection())
    with app.engine.connect() as conn:
        tuples = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'image_ar_job'::regclass")
        ).scalar_one()
    assert tuples == 3  # analysed: an unanalysed table says -1 (or 0)


@pytest.mark.all_databases
@pytest.mark.mysql
def test_two_runners_claim_disjoint_records(app: App, tmp_path: Path) -> None:
    ids = make_records(app, 10, tmp_path / "in")
    sel = Selection()
    one = ClaimStore(app.engine, "one", lease_secs=600, max_attempts=5)
    two = ClaimStore(app.engine, "two", lease_secs=600, max_attempts=5)
    one.prepare(sel)
    started = one.db_now()
    taken: list[int] = []
    for _ in range(4):
        for store in (one, two):
            taken += [c.object_id for c in store.claim(2, sel, None, started)]
    assert sorted(taken) == ids and len(set(taken)) == len(taken)


# -- Ken Burns encoder settings ------------------------------------------------------------------


def _luma(path: Path, width: int) -> list[np.ndarray]:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            out.append(rows[:, :width].astype(np.float64))
        return out


def test_ken_burns_encodes_at_its_fast_preset_without_losing_quality(tmp_path: Path) -> None:
    import numpy as np

    assert (PRESET, CRF) == ("superfast", 23)  # bench/bench_kenburns.py: the fair figures
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:400, 0:640]
    arr = np.stack([xx % 256, yy % 256, (xx * yy) % 256], axis=-1).astype(np.float64)
    img = Image.fromarray(np.clip(arr + rng.normal(0, 20, arr.shape), 0, 255).astype(np.uint8))
    w, h, n = 320, 180, 24
    opts = SimpleNamespace(
        num_frames=n, fps=12, width=w, height=h, motion="zoom_in", zoom=1.3, loop=False, seed=1
    )
    rendered = [
        f[:h].astype(np.float64)
        for f in render_frames(img, width=w, height=h, num_frames=n, pixel_format="yuv420p")
    ]

    def psnr(preset: str) -> float:
        engine = KenBurnsEngine()
        engine.preset = preset
        out = tmp_path / f"{preset}.mp4"
        engine.generate(img, opts, out)
        frames = _luma(out, w)
        assert len(frames) == n
        return float(
            np.mean(
                [
                    10 * np.log10(255**2 / np.mean((a - b) ** 2))
                    for a, b in zip(frames, rendered, strict=True)
                ]
            )
        )

    # at the same CRF the fast preset keeps the clip at least as close to what was rendered
    assert psnr(PRESET) >= psnr("medium") - 0.1
