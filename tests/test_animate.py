"""The Animator service against a real loopback server (tests/fake_server.py) and in-process
kenburns, on SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlmodel import Session, select

from fake_server import FakeVideoServer
from imagear import records, settings, store
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.domain import json_object
from imagear.errors import (
    AnimationNotFound,
    AuthenticationFailed,
    BadResponse,
    EngineUnavailable,
    FeatureDisabled,
    ImageMissing,
    InvalidOption,
    ModelNotAvailable,
    NoMasterImage,
    OutOfGpuMemory,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    StorageError,
)
from imagear.models import get_model
from imagear_models import InformationObject, ObjectImageAr

NAME = re.compile(r"^svd_(\w+)_\d{6}(_[0-9a-f]{6})?\.mp4$")


def add(app: App, make_image: Any, name: str = "photo.jpg", **kw: Any) -> int:
    return records.add_record(app, make_image(name, **kw)).id


def row_of(app: App, object_id: int) -> ObjectImageAr | None:
    with Session(app.engine, expire_on_commit=False) as s:
        return s.exec(select(ObjectImageAr).where(ObjectImageAr.object_id == object_id)).first()


def listing(app: App, object_id: int) -> list[str]:
    folder = store.record_dir(app.config, object_id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def with_companions(*names: str) -> list[str]:
    """Clip file names plus each clip's poster (.jpg) and preview (.m4v), as listing() sorts."""
    out: list[str] = []
    for name in names:
        out += [name, name[:-4] + ".jpg", name[:-4] + ".m4v"] if name.endswith(".mp4") else [name]
    return sorted(out)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the remote flow ----------------------------------------------------------------------------


@pytest.mark.all_databases
def test_remote_flow_records_probe_and_headers(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    events: list[tuple[str, dict]] = []
    with Animator(app, progress=lambda e, **d: events.append((e, d))) as animator:
        out = animator.animate(AnimateRequest(oid, overrides={"seed": 77, "motion_bucket_id": 90}))
    assert out.status == "created" and out.file is not None and out.file.is_file()
    row = row_of(app, oid)
    assert row is not None
    assert NAME.match(row.mp4_filename), row.mp4_filename
    assert row.mp4_path == f"/uploads/ar/{oid}/{row.mp4_filename}"
    assert out.file == app.config.storage_root / "uploads" / "ar" / str(oid) / row.mp4_filename
    # probed values: the fake answers what was asked (svd: 14 frames at 7 fps, the image's
    # aspect ratio at SVD's size)
    assert (row.mp4_width, row.mp4_height, row.mp4_fps) == (968, 608, 7.0)
    assert row.mp4_duration_secs == pytest.approx(2.0)
    assert row.mp4_size == out.file.stat().st_size
    assert out.mp4 is not None and out.mp4["frames"] == 14
    # X- headers (the fake echoes what was sent)
    assert (row.ai_model, row.ai_seed, row.ai_motion_bucket_id) == ("svd", 77, 90)
    assert row.mp4_motion == "ai-svd" and row.created_by == "tester"
    assert row.generation_secs == 0.0 and row.ai_prompt is None
    assert row.digital_object_id is not None
    assert json_object(out)["animation"]["mp4_filename"] == row.mp4_filename
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "transfer" in kinds
    assert all(d["object_id"] == oid for _, d in events)
    assert listing(app, oid) == with_companions(row.mp4_filename)
    assert (out.poster, out.preview) == tuple(store.companions(out.file))
    assert out.quality["measured"]["resemblance"] > 0.9


@pytest.mark.all_databases
def test_skip_then_force_replaces(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        first = animator.animate(AnimateRequest(oid))
        skipped = animator.animate(AnimateRequest(oid))
        assert skipped.status == "skipped" and "pass force to" in (skipped.message or "")
        assert remote.count == 1
        second = animator.animate(AnimateRequest(oid, force=True))
    assert first.file is not None
    assert second.status == "replaced" and second.removed == [
        first.file,
        *store.companions(first.file),
    ]
    assert first.file is not None and not first.file.exists()
    row = row_of(app, oid)
    assert row is not None and row.mp4_filename == second.file.name  # type: ignore[union-attr]
    # replaced as Heratio replaces: the old row deleted, a new one (a later id) inserted
    assert first.animation is not None and first.animation.id is not None
    assert row.id is not None and row.id > first.animation.id
    assert second.animation is not None and second.animation.id == row.id
    assert listing(app, oid) == with_companions(row.mp4_filename)


def test_headers_missing_fall_back_to_what_was_sent(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    remote.configure(x_headers=False)
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid, overrides={"motion_bucket_id": 60}))
    sent = remote.animate_requests()[0].fields
    row = row_of(app, oid)
    assert row is not None
    assert row.ai_model == "svd" and row.ai_seed == int(sent["seed"]) and row.ai_seed > 0
    assert row.ai_motion_bucket_id == 60 and row.generation_secs is not None


def test_server_seed_wins(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    remote.configure(x_headers=False, headers={"X-Seed": "999", "X-Model": "svd-xt"})
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid, overrides={"seed": 5}))
    row = row_of(app, oid)
    assert row is not None and (row.ai_seed, row.ai_model) == (999, "svd-xt")
    assert row.mp4_filename.startswith("svdxt_")


def test_seed_zero_draws_a_random_seed(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid, overrides={"seed": 0}))
        animator.animate(AnimateRequest(oid, force=True))
    seeds = [int(r.fields["seed"]) for r in remote.animate_requests()]
    assert all(0 < s < 2**31 for s in seeds) and seeds[0] != seeds[1]
    row = row_of(app, oid)
    assert row is not None and row.ai_seed == seeds[1]


def test_notices_are_reported_once(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image)
    notices: list[str] = []

    def progress(event: str, **data: Any) -> None:
        if event == "notice":
            notices.append(data["message"])

    with Animator(app, progress=progress) as animator:
        out = animator.animate(AnimateRequest(oid, overrides={"prompt": "a slow pan"}))
    # a service named options by their option names: the CLI passes its wording (flags)
    assert out.notices == ["svd ignores prompt"] and notices == out.notices
    assert "prompt" not in remote.animate_requests()[0].fields


def test_bearer_token(
    app: App, remote: FakeVideoServer, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.configure(token="t0ken")
    oid = add(app, make_image)
    with Animator(app) as animator, pytest.raises(AuthenticationFailed):
        animator.animate(AnimateRequest(oid))
    app.config.server_token = "t0ken"
    with Animator(app) as animator:
        assert animator.animate(AnimateRequest(oid)).status == "created"
    assert remote.animate_requests()[-1].headers["authorization"] == "Bearer t0ken"


def test_busy_server_retried(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    remote.configure(script=[{"status": 503, "retry_after": 1}, {"status": 429}])
    oid = add(app, make_image)
    sleeps: list[float] = []
    with Animator(app, client_options={"sleep": sleeps.append}) as animator:
        assert animator.animate(AnimateRequest(oid)).status == "created"
    assert sleeps == [1.0, 1.0] and remote.count == 3


def test_busy_for_good(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    remote.configure(status=503, retry_after=0)
    oid = add(app, make_image)
    with (
        Animator(app, client_options={"busy_retries": 2}) as animator,
        pytest.raises(ServerBusy),
    ):
        animator.animate(AnimateRequest(oid))
    assert remote.count == 3 and row_of(app, oid) is None and listing(app, oid) == []


# -- the upload ---------------------------------------------------------------------------------


def sent_upload(
    app: App, remote: FakeVideoServer, make_image: Any, name: str
) -> tuple[Any, str, Any]:
    """A 4000x3000 master named ``name`` animated through the fake server: (its master row, its
    SHA-256 before, the request the server got)."""
    oid = add(app, make_image, name, size=(4000, 3000))
    master = records.find_master(app, oid)
    before = sha(master.file)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
    return master, before, remote.animate_requests()[0]


def test_a_plain_jpeg_master_is_sent_as_it_is_and_untouched(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """An upright RGB JPEG goes to the server as its own bytes (as Heratio's client sends it):
    this client decodes nothing of it, the server decodes it at its model's size."""
    master, before, request = sent_upload(app, remote, make_image, "big.jpg")
    width, height = int(request.fields["width"]), int(request.fields["height"])
    assert (width, height) == get_model("svd").output_size((4000, 3000))  # svd's area, 4:3
    assert request.image_content_type == "image/jpeg"
    assert request.image == master.file.read_bytes()
    assert "x-imagear-reference" in request.headers  # an imagear server would send its reference
    assert sha(master.file) == before


def test_upload_whole_mb_0_decodes_every_master_here(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """For a slow link to the server: no master goes as its own file, each is reduced here."""
    app.config.upload_whole_mb = 0.0
    master, _before, request = sent_upload(app, remote, make_image, "big.jpg")
    assert request.image != master.file.read_bytes()
    assert request.image_size is not None and request.image_size[0] < 4000
    assert "x-imagear-reference" not in request.headers


def test_a_big_master_decoded_here_is_downscaled_and_untouched(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """A master no server may read as this client does (here a PNG; also CMYK, an EXIF
    rotation) is decoded here, no larger than the model needs, and sent as a JPEG."""
    master, before, request = sent_upload(app, remote, make_image, "big.png")
    width, height = int(request.fields["width"]), int(request.fields["height"])
    assert request.image_content_type == "image/jpeg"
    assert request.image is not None and request.image.startswith(b"\xff\xd8\xff")
    assert request.image_size is not None
    up_w, up_h = request.image_size
    # reduced by a whole factor while decoding, not resampled again: the server fits it
    assert width <= up_w <= 2 * width and height <= up_h <= 2 * height
    assert request.body_bytes < 600_000  # a 4000x3000 image would be far bigger
    assert "x-imagear-reference" not in request.headers  # this client has its own reference
    assert sha(master.file) == before


def test_a_master_too_large_for_the_server_is_sent_again_reduced(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """A server that refuses the master's own file as too large (413) gets it once more, decoded
    here at the model's size: the clip is made, the record charged nothing for it."""
    remote.configure(
        script=[{"status": 413, "error": {"error": "Upload too large", "type": "TooLarge"}}]
    )
    oid = add(app, make_image, "big.jpg", size=(4000, 3000))
    master = records.find_master(app, oid)
    with Animator(app) as animator:
        assert animator.animate(AnimateRequest(oid)).status == "created"
    first, second = remote.animate_requests()
    assert first.image == master.file.read_bytes()
    assert "x-imagear-reference" in first.headers
    assert second.image_size is not None and second.image_size[0] < 4000
    assert second.body_bytes < first.body_bytes
    assert "x-imagear-reference" not in second.headers


def test_a_413_for_a_reduced_upload_says_what_to_do(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    from imagear.errors import UploadTooLarge

    remote.configure(status=413, error={"error": "Upload too large", "type": "TooLarge"})
    oid = add(app, make_image, "big.png", size=(1200, 900))
    with Animator(app) as animator, pytest.raises(UploadTooLarge, match="413") as caught:
        animator.animate(AnimateRequest(oid))
    assert "smaller derivative" in str(caught.value.advice)
    assert remote.count == 1 and row_of(app, oid) is None


@pytest.mark.parametrize(
    ("kind", "whole"),
    [
        ("jpeg", True),
        ("grey jpeg", True),
        ("progressive jpeg", True),
        ("cmyk jpeg", False),  # servers convert CMYK differently: decoded here
        ("rotated jpeg", False),  # a server may ignore the EXIF orientation
        ("png", False),
        ("tiff", False),
        ("too many bytes", False),
    ],
)
def test_which_masters_are_sent_as_they_are(tmp_path: Path, kind: str, whole: bool) -> None:
    from imagear import generators
    from imagear.media import open_image

    img = Image.new("RGB", (64, 48), (200, 30, 30))
    path = tmp_path / "m.img"
    if kind == "grey jpeg":
        img.convert("L").save(path, "JPEG")
    elif kind == "progressive jpeg":
        img.save(path, "JPEG", progressive=True)
    elif kind == "cmyk jpeg":
        img.convert("CMYK").save(path, "JPEG")
    elif kind == "rotated jpeg":
        exif = Image.Exif()
        exif[0x0112] = 6
        img.save(path, "JPEG", exif=exif.tobytes())
    elif kind in ("png", "tiff"):
        img.save(path, kind.upper())
    else:
        img.save(path, "JPEG")
    most = path.stat().st_size - (1 if kind == "too many bytes" else 0)
    with open_image(path, load=False) as probe:
        assert generators.sent_whole(probe, path, most) is whole
        assert generators.sent_whole(probe, path, 0) is False  # upload_whole_mb = 0


def test_small_image_is_not_upscaled(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image, size=(320, 200))
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
    assert remote.animate_requests()[0].image_size == (320, 200)


def test_exif_rotation_is_applied(app: App, remote: FakeVideoServer, tmp_path: Path) -> None:
    img = Image.new("RGB", (600, 300), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown: portrait
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif.tobytes())
    oid = records.add_record(app, path).id
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
    request = remote.animate_requests()[0]
    assert request.image_size == (300, 600)
    assert int(request.fields["height"]) > int(request.fields["width"])


@pytest.mark.parametrize(("mode", "name"), [("CMYK", "c.jpg"), ("RGBA", "a.png"), ("P", "p.png")])
def test_odd_modes_are_sent_as_rgb_jpeg(
    app: App, remote: FakeVideoServer, make_image: Any, mode: str, name: str
) -> None:
    oid = add(app, make_image, name, mode=mode)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
    data = remote.animate_requests()[0].image
    assert data is not None
    with Image.open(io.BytesIO(data)) as sent:
        assert (sent.format, sent.mode) == ("JPEG", "RGB")


# -- atomic replace under failure ---------------------------------------------------------------


FAILURES = [
    pytest.param({"status": 500}, ServerError, id="500"),
    pytest.param({"status": 507}, OutOfGpuMemory, id="507"),
    pytest.param({"body": b"<html>" + b"x" * 5000}, BadResponse, id="not-mp4"),
    pytest.param({"body_size": 300_000, "truncate_at": 100_000}, BadResponse, id="truncated"),
    pytest.param({"body": b"\0\0\0\x18ftypisom" + b"\0" * 4000}, BadResponse, id="unplayable"),
    pytest.param({"latency": 3.0}, ServerTimeout, id="timeout"),
]


@pytest.mark.all_databases
@pytest.mark.parametrize(("knobs", "error"), FAILURES)
def test_failure_keeps_the_previous_clip(
    app: App, remote: FakeVideoServer, make_image: Any, knobs: dict, error: type
) -> None:
    oid = add(app, make_image)
    with Animator(app, request_timeout=0.8) as animator:
        first = animator.animate(AnimateRequest(oid))
        assert first.file is not None
        before_row = row_of(app, oid)
        before_sha = sha(first.file)
        remote.configure(**knobs)
        with pytest.raises(error):
            animator.animate(AnimateRequest(oid, force=True))
    assert row_of(app, oid) == before_row
    assert sha(first.file) == before_sha
    assert listing(app, oid) == with_companions(first.file.name)


@pytest.mark.all_databases
def test_rename_failure_keeps_the_previous_clip(
    app: App, remote: FakeVideoServer, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        first = animator.animate(AnimateRequest(oid))

        def disk_full(src: Any, dst: Any) -> None:
            raise OSError(28, "No space left on device", str(dst))

        monkeypatch.setattr(store.os, "replace", disk_full)
        with pytest.raises(StorageError, match="No space left"):
            animator.animate(AnimateRequest(oid, force=True))
    assert first.file is not None and listing(app, oid) == with_companions(first.file.name)
    row = row_of(app, oid)
    assert row is not None and row.mp4_filename == first.file.name


@pytest.mark.all_databases
def test_failure_after_the_rename_removes_the_new_file(
    app: App, remote: FakeVideoServer, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        first = animator.animate(AnimateRequest(oid))

        def broken(*args: Any) -> str:
            raise RuntimeError("database went away")

        monkeypatch.setattr(store, "web_path", broken)
        with pytest.raises(RuntimeError):
            animator.animate(AnimateRequest(oid, force=True))
    assert first.file is not None and listing(app, oid) == with_companions(first.file.name)
    row = row_of(app, oid)
    assert row is not None and row.mp4_filename == first.file.name


@pytest.mark.all_databases
def test_stale_parts_are_swept_and_unnamed_clips_kept(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    folder = store.record_dir(app.config, oid)
    folder.mkdir(parents=True)
    dead = folder / ".svd-dead.mp4.part"  # its writer died: nobody holds its lock
    dead.write_bytes(b"x" * 100)
    old = folder / ".svd-old.mp4.part"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    live = folder / ".svd-live.mp4.part"  # another run is writing it right now
    live.write_bytes(b"x")
    orphan = folder / "svd_photo_000001.mp4"  # no row names it: left for `check --repair`
    orphan.write_bytes(b"x")
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with Animator(app) as animator:
            out = animator.animate(AnimateRequest(oid))
    finally:
        os.close(fd)
    assert out.file is not None
    assert listing(app, oid) == sorted([*with_companions(live.name, out.file.name), orphan.name])


# -- concurrency --------------------------------------------------------------------------------


@pytest.mark.all_databases
def test_two_runs_on_one_record_leave_one_clip(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid))
    remote.configure(hold_until_active=2)
    results: list[Any] = []

    def run() -> None:
        other = App.load()  # its own engine and connections, like another process
        try:
            with Animator(other) as animator:
                results.append(animator.animate(AnimateRequest(oid, force=True)))
        except Exception as exc:  # pragma: no cover - reported by the assert below
            results.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [getattr(r, "status", r) for r in results] == ["replaced", "replaced"]
    assert remote.max_active == 2  # they really overlapped
    with Session(app.engine, expire_on_commit=False) as s:
        rows = s.exec(select(ObjectImageAr).where(ObjectImageAr.object_id == oid)).all()
    assert len(rows) == 1
    assert listing(app, oid) == with_companions(rows[0].mp4_filename)


@pytest.mark.all_databases
def test_two_runs_without_force_create_once(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    remote.configure(hold_until_active=2)
    with Animator(app) as animator:
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(animator.animate(AnimateRequest(oid))))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(r.status for r in results) == ["created", "skipped"]
    skipped = next(r for r in results if r.status == "skipped")
    assert "another run" in (skipped.message or "")
    row = row_of(app, oid)
    assert row is not None and listing(app, oid) == with_companions(row.mp4_filename)


@pytest.mark.all_databases
def test_one_animator_many_threads(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    remote.configure(script=[{"hold_until_active": 2}] * 2)  # the first two overlap for sure
    ids = [add(app, make_image, f"img{i}.jpg") for i in range(4)]
    with Animator(app) as animator:
        threads = [
            threading.Thread(target=animator.animate, args=(AnimateRequest(i),)) for i in ids
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        clips, total = animator.recent(10)
    assert total == 4 and {c["object_id"] for c in clips} == set(ids)
    assert remote.max_active >= 2


# -- in-process ---------------------------------------------------------------------------------


def test_in_process_kenburns(app: App, make_image: Any) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        out = animator.animate(
            AnimateRequest(
                oid,
                model="kenburns",
                overrides={"num_frames": 10, "fps": 10, "width": 160, "height": 100},
                extra={"motion": "pan_lr"},
            )
        )
    row = row_of(app, oid)
    assert row is not None and out.mp4 is not None
    assert (row.ai_model, row.mp4_motion) == ("kenburns", "pan_lr")
    assert (row.mp4_width, row.mp4_height, row.mp4_fps, out.mp4["frames"]) == (160, 100, 10, 10)
    assert row.ai_seed and row.ai_seed > 0
    assert row.mp4_filename.startswith("kenburns_photo_")


def test_in_process_model_that_cannot_run(app: App, make_image: Any) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator, pytest.raises(EngineUnavailable) as info:
        animator.animate(AnimateRequest(oid, model="svd"))
    assert info.value.exit_code == 6
    assert "ar_server_url" in (info.value.advice or "")
    assert listing(app, oid) == []


def test_local_health_lists_engines(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpu = {"cuda": True, "device": "Fake GPU", "vram_total_gb": 8.0, "vram_free_gb": 7.5}
    monkeypatch.setattr("imagear.generators.cuda_info", lambda: fake_gpu)  # no torch import
    with Animator(app) as animator:
        health = animator.health()
        assert health.local and health.url is None
        assert (health.cuda, health.device, health.vram_free_gb) == (True, "Fake GPU", 7.5)
        by_name = {e["name"]: e for e in health.engines}
        assert by_name["kenburns"]["available"] and not by_name["svd"]["available"]
        assert animator.check_ready("kenburns").local
        with pytest.raises(EngineUnavailable):
            animator.check_ready("svd")


# -- check_ready --------------------------------------------------------------------------------


def test_check_ready_remote(app: App, remote: FakeVideoServer) -> None:
    with Animator(app) as animator:
        assert animator.check_ready().loaded_models == ["svd"]
        with pytest.raises(ModelNotAvailable, match="wan-2.1"):
            animator.check_ready("wan-2.1")
        remote.configure(health={"available_models": ["svd", "wan-2.1"]})
        assert animator.check_ready("wan-2.1").available_models == ["svd", "wan-2.1"]


def test_check_ready_unreachable(app: App) -> None:
    with FakeVideoServer() as srv:
        url = srv.url
    settings.set_value(app.engine, "ar_server_url", url)
    no_wait = {"sleep": lambda s: None}
    with (
        Animator(app, client_options=no_wait) as animator,
        pytest.raises(ServerUnreachable, match=url),
    ):
        animator.check_ready()


# -- refusals -----------------------------------------------------------------------------------


def test_disabled(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image)
    settings.set_value(app.engine, "ar_enabled", "0")
    with Animator(app) as animator, pytest.raises(FeatureDisabled, match="ar_enabled=0"):
        animator.animate(AnimateRequest(oid))
    assert remote.count == 0


def test_the_button_toggle_does_not_stop_the_cli(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """Issue 23 item 9: ar_user_button is the record pages' button; Heratio's artisan command
    ignores it, so cron behind a hidden button still animates."""
    oid = add(app, make_image)
    settings.set_value(app.engine, "ar_user_button", "0")
    with Animator(app) as animator:
        assert animator.animate(AnimateRequest(oid)).status == "created"
    assert remote.count == 1


def test_refusals(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    with Session(app.engine, expire_on_commit=False) as s:
        bare = InformationObject(identifier="bare", title="no image")
        s.add(bare)
        s.commit()
        assert bare.id is not None
        bare_id = bare.id
    gone = add(app, make_image, "gone.jpg")
    records.find_master(app, gone).file.unlink()
    ok = add(app, make_image)
    with Animator(app) as animator:
        with pytest.raises(RecordNotFound):
            animator.animate(AnimateRequest(9999))
        with pytest.raises(NoMasterImage):
            animator.animate(AnimateRequest(bare_id))
        with pytest.raises(ImageMissing):
            animator.animate(AnimateRequest(gone))
        with pytest.raises(InvalidOption, match="14 or 25"):
            animator.animate(AnimateRequest(ok, overrides={"num_frames": 15}))
        with pytest.raises(InvalidOption):
            animator.animate(AnimateRequest(ok, extra={"bogus": "1"}))
    assert remote.count == 0


# -- delete / recent ----------------------------------------------------------------------------


@pytest.mark.all_databases
def test_delete_and_recent(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    ids = [add(app, make_image, f"r{i}.jpg") for i in range(3)]
    with Animator(app) as animator:
        for oid in ids:
            animator.animate(AnimateRequest(oid))
        clips, total = animator.recent(2)
        assert total == 3 and len(clips) == 2
        assert clips[0]["identifier"] and clips[0]["mp4_size"] > 0
        result = animator.delete(ids[0])
        assert result["file_removed"] and not Path(result["file"]).exists()
        assert row_of(app, ids[0]) is None
        with pytest.raises(AnimationNotFound):
            animator.delete(ids[0])
        assert animator.recent(5)[1] == 2


def test_the_master_image_is_the_one_sent(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """The Animator's one-statement lookup picks the master exactly as records.find_master:
    usage 140 over 141/142, top-level only, image/* only."""
    from imagear_models import DigitalObject

    oid = add(app, make_image, "thumb.jpg", size=(160, 100))  # usage 140 at first
    master_file = make_image("master.jpg", size=(300, 200))
    deriv_file = make_image("deriv.jpg", size=(200, 200))
    folder = app.config.images_root / "uploads" / "r" / "extra"
    folder.mkdir(parents=True)
    for f in (master_file, deriv_file):
        (folder / f.name).write_bytes(f.read_bytes())
    with Session(app.engine, expire_on_commit=False) as s:
        first = s.exec(select(DigitalObject).where(DigitalObject.object_id == oid)).one()
        first.usage_id = 142  # demote the first image to a thumbnail
        s.add(first)
        s.add(
            DigitalObject(
                object_id=oid,
                usage_id=140,
                mime_type="application/pdf",
                name="x.pdf",
                path="/uploads/r/extra/",
            )
        )
        master = DigitalObject(
            object_id=oid,
            usage_id=140,
            mime_type="image/jpeg",
            name="master.jpg",
            path="/uploads/r/extra/",
        )
        s.add(master)
        s.commit()
        s.add(
            DigitalObject(
                object_id=oid,
                usage_id=140,
                mime_type="image/jpeg",
                name="deriv.jpg",
                path="/uploads/r/extra/",
                parent_id=master.id,
            )
        )
        s.commit()
        expected = records.find_master(app, oid)
    assert expected.name == "master.jpg"
    with Animator(app) as animator:
        out = animator.animate(AnimateRequest(oid))
    assert remote.animate_requests()[0].image_size == (300, 200)
    assert (
        out.animation is not None and out.animation.digital_object_id == expected.digital_object_id
    )
