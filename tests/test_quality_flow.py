"""The quality gate in every path that stores or sends a clip, on SQLite, PostgreSQL and MySQL.

A bad generation never replaces a good clip: remote (tests/fake_server.py answers a black,
blank, frozen, unrelated or wrong-size clip) and in-process (the ``bad-clips`` model of
tests/quality_clips.py, registered through the real registry), the refusal is QualityRejected
(exit 7) naming the check and its measured value, the previous clip, its poster, its preview
and its row stay byte-for-byte, and the refused clip is kept (bounded) in the quarantine
folder. Posters and previews are written with each accepted clip and go away with it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import quality_clips
from fake_server import FakeVideoServer
from imagear import records, settings, store
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.cli import app as cli
from imagear.db import clips as clips_db
from imagear.domain import Clip
from imagear.errors import QualityRejected
from imagear.models import register, unregister
from imagear.quarantine import quarantine_dir
from quality_clips import preview_facts


def add(app: App, make_image: Any, name: str = "photo.jpg") -> int:
    return records.add_record(app, make_image(name)).id


def snapshot(app: App, oid: int) -> tuple[Clip | None, dict[str, str]]:
    """The record's clip row and the sha256 of every file in its folder."""
    row = clips_db.lookup(app.engine, oid).clip
    folder = store.record_dir(app.config, oid)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
    return row, files


def quarantined(app: App, oid: int) -> list[str]:
    folder = quarantine_dir(app.config, oid)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def bad_clips() -> Iterator[None]:
    register(quality_clips.BadClips, replace=True)
    yield
    unregister(quality_clips.BadClips.name)
    quality_clips.KIND, quality_clips.SIZE = "echo", None


# -- remote: each failure kind refused, the old clip intact ---------------------------------------

REMOTE_BAD = [
    pytest.param({"clip_kind": "black"}, ["black"], "mean brightness 0.", id="black"),
    pytest.param({"clip_kind": "blank"}, ["blank"], "contrast 0.", id="blank"),
    pytest.param({"clip_kind": "frozen"}, ["frozen"], "largest change 0.", id="frozen"),
    pytest.param({"clip_kind": "unrelated"}, ["resemblance"], "resemblance 0.", id="unrelated"),
    pytest.param(
        {"clamp": {"width": 484, "height": 400}},
        ["size"],
        "the clip is 484x400, 968x608 was asked (another aspect ratio: the picture would be "
        "distorted)",
        id="distorted",
    ),
    pytest.param(
        {"clamp": {"num_frames": 10}},
        ["frames"],
        "the clip has 10 frames, 14 were asked (the model makes at least 14)",
        id="under-the-model-minimum",
    ),
    pytest.param(
        {"clip": (128, 72, 8, 8)},
        ["resemblance", "frames", "size"],  # 8 fps for 7: a note, not a refusal
        "the clip is 128x72, 968x608 was asked",
        id="not-as-asked",
    ),
]


@pytest.mark.parametrize(("knobs", "failed", "words"), REMOTE_BAD)
def test_remote_bad_clip_never_replaces_the_good_one(
    app: App, remote: FakeVideoServer, make_image: Any, knobs: dict, failed: list, words: str
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        good = animator.animate(AnimateRequest(oid))
        before = snapshot(app, oid)
        remote.configure(**knobs)
        with pytest.raises(QualityRejected) as info:
            animator.animate(AnimateRequest(oid, force=True))
    err = info.value
    assert err.exit_code == 7 and err.kind == "QualityRejected"
    assert [c["check"] for c in err.checks] == failed
    assert words in err.message and "was refused by the quality gate" in err.message
    assert snapshot(app, oid) == before  # row, clip, poster and preview: byte for byte
    assert good.file is not None and good.poster is not None and good.preview is not None
    assert sorted(before[1]) == sorted(p.name for p in (good.file, good.poster, good.preview))
    kept = quarantined(app, oid)
    assert len(kept) == 2 and kept[0].endswith(".json") and kept[1].endswith(".mp4")
    assert err.quarantined == str(quarantine_dir(app.config, oid) / kept[1])
    assert err.quarantined in (err.advice or "")
    note = json.loads((quarantine_dir(app.config, oid) / kept[0]).read_text())
    assert note["object_id"] == oid and note["model"] == "svd" and note["seed"]
    assert [f["check"] for f in note["findings"]] == failed
    assert "quarantine" not in str(store.record_dir(app.config, oid))  # outside uploads/


def test_first_clip_refused_leaves_nothing(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    remote.configure(clip_kind="black")
    with Animator(app) as animator, pytest.raises(QualityRejected):
        animator.animate(AnimateRequest(oid))
    assert clips_db.lookup(app.engine, oid).clip is None
    folder = store.record_dir(app.config, oid)
    assert not folder.exists() or not any(folder.iterdir())


def test_quarantine_is_bounded_per_record(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    settings.set_value(app.engine, "ar_quality_quarantine_keep", "2")
    remote.configure(clip_kind="frozen")
    refused = []
    with Animator(app) as animator:
        for _ in range(3):
            with pytest.raises(QualityRejected) as info:
                animator.animate(AnimateRequest(oid, force=True))
            refused.append(Path(info.value.quarantined or ""))
    kept = quarantined(app, oid)
    assert len(kept) == 4  # two clips, two notes: the oldest went
    assert not refused[0].exists() and refused[1].exists() and refused[2].exists()
    settings.set_value(app.engine, "ar_quality_quarantine_keep", "0")
    with Animator(app) as animator, pytest.raises(QualityRejected) as info:
        animator.animate(AnimateRequest(oid, force=True))
    assert info.value.quarantined is None and len(quarantined(app, oid)) == 4


def test_gate_settings_apply(app: App, remote: FakeVideoServer, make_image: Any) -> None:
    oid = add(app, make_image)
    remote.configure(clip_kind="unrelated")
    settings.set_value(app.engine, "ar_quality_min_resemblance", "0")
    with Animator(app) as animator:
        assert animator.animate(AnimateRequest(oid)).status == "created"
        remote.configure(clip_kind="black")
        settings.set_value(app.engine, "ar_quality_gate", "0")
        out = animator.animate(AnimateRequest(oid, force=True))
    assert out.status == "replaced" and "black" in out.quality["skipped"]


def test_a_server_refusal_is_quality_rejected(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """imagear serve answers a refused clip with 500 {"type": "QualityRejected"}: imagear's
    client says so (exit 7, batch kind quality), not "the server failed"."""
    oid = add(app, make_image)
    error = {"error": "The clip made by model svd was refused: black", "type": "QualityRejected"}
    remote.configure(status=500, error=error)
    with Animator(app) as animator, pytest.raises(QualityRejected) as info:
        animator.animate(AnimateRequest(oid))
    assert "refused the clip it made" in info.value.message and info.value.exit_code == 7


# -- the size policy: a server's own size, clamped frames and fps are stored with a note ----------


@pytest.mark.parametrize(
    ("clamp", "note"),
    [
        pytest.param(
            {"width": 484, "height": 304},
            "The clip is 484x304, 968x608 was asked: it was stored at its own size (same aspect "
            "ratio).",
            id="same-aspect-smaller",
        ),
        pytest.param(
            {"num_frames": 14, "fps": 6},
            "The clip plays at 6 fps, 7 were asked: it was stored as it is.",
            id="other-fps",
        ),
    ],
)
def test_a_servers_own_size_is_stored_with_a_note(
    app: App, remote: FakeVideoServer, make_image: Any, clamp: dict, note: str
) -> None:
    oid = add(app, make_image)
    remote.configure(clamp=clamp)
    with Animator(app) as animator:
        out = animator.animate(AnimateRequest(oid))
    assert out.status == "created" and note in out.notices
    assert out.quality["notes"] == [note[0].lower() + note[1:-1]]
    row = clips_db.lookup(app.engine, oid).clip
    assert row is not None
    width = clamp.get("width", 968)
    assert (row.mp4_width, row.mp4_height) == (width, clamp.get("height", 608))
    assert float(row.mp4_fps or 0) == clamp.get("fps", 7)
    assert quarantined(app, oid) == []


def test_fewer_frames_than_asked_are_stored_with_a_note(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    """SVD-XT asks 25 frames; a server that clamps to 16 (at least SVD-XT's 14) is stored."""
    oid = add(app, make_image)
    remote.configure(clamp={"num_frames": 16})
    result = runner.invoke(
        cli, ["animate", "--object-id", str(oid), "--model", "svd-xt", "--frames", "25", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    note = "The clip has 16 frames, 25 were asked: it was stored as it is."
    assert note in data["notices"] and data["status"] == "created"
    assert data["mp4"]["frames"] == 16


# -- in-process engines: judged on the frames they measured, the clip never decoded ------------


def test_an_in_process_clip_is_not_decoded(
    app: App, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagear.media.scan as scan

    def decoded(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the clip was decoded")

    monkeypatch.setattr(scan, "scan_clip", decoded)
    oid = add(app, make_image)
    small = {"num_frames": 10, "fps": 10, "width": 160, "height": 96}
    with Animator(app) as animator:
        out = animator.animate(AnimateRequest(oid, model="kenburns", overrides=small))
    assert out.status == "created" and out.mp4 is not None
    assert (out.mp4["frames"], out.mp4["width"], out.mp4["height"]) == (10, 160, 96)
    assert out.quality["measured"]["resemblance"] > 0.9
    assert out.poster is not None and out.preview is not None
    monkeypatch.undo()
    assert preview_facts(out.preview) == ((160, 96), 10, 10.0, 0)


# -- in-process ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["black", "blank", "frozen", "unrelated", "size"])
def test_in_process_bad_clip_never_replaces_the_good_one(
    app: App, make_image: Any, bad_clips: None, kind: str
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid, model="bad-clips"))
        before = snapshot(app, oid)
        if kind == "size":
            quality_clips.SIZE = (96, 64)
        else:
            quality_clips.KIND = kind
        with pytest.raises(QualityRejected) as info:
            animator.animate(AnimateRequest(oid, model="bad-clips", force=True))
    expected = {"size": "size", "unrelated": "resemblance"}.get(kind, kind)
    assert [c["check"] for c in info.value.checks] == [expected]
    assert snapshot(app, oid) == before
    assert len(quarantined(app, oid)) == 2


# -- posters and previews ------------------------------------------------------------------------


def test_posters_and_previews_exist_open_and_go_with_the_clip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    with Animator(app) as animator:
        first = animator.animate(AnimateRequest(oid))
        assert first.file is not None and first.poster is not None and first.preview is not None
        assert [first.poster, first.preview] == store.companions(first.file)
        with Image.open(first.poster) as poster:
            assert poster.format == "JPEG" and poster.size == (968, 608)
        assert preview_facts(first.preview) == ((320, 200), 14, 7.0, 0)
        second = animator.animate(AnimateRequest(oid, force=True))
    assert second.file is not None and second.file != first.file
    listed = json.loads(runner.invoke(cli, ["recent", "--json"]).stdout)["clips"][0]
    assert (listed["poster"], listed["preview"]) == (str(second.poster), str(second.preview))
    assert set(second.removed) == {first.file, first.poster, first.preview}
    assert not any(p.exists() for p in (first.file, first.poster, first.preview))
    result = runner.invoke(cli, ["delete", "--object-id", str(oid), "--json"])
    assert result.exit_code == 0, result.output
    gone = json.loads(result.stdout)["removed"]
    assert sorted(gone) == sorted(str(p) for p in (second.file, second.poster, second.preview))
    folder = store.record_dir(app.config, oid)
    assert not folder.exists() or not any(folder.iterdir())


def test_cli_json_names_poster_preview_and_refusals(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    ok = runner.invoke(cli, ["animate", "--object-id", str(oid), "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert Path(data["poster"]).is_file() and Path(data["preview"]).is_file()
    assert data["quality"]["measured"]["resemblance"] > 0.9
    remote.configure(clip_kind="black")
    refused = runner.invoke(cli, ["animate", "--object-id", str(oid), "--force", "--json"])
    assert refused.exit_code == 7
    failure = json.loads(refused.stdout)
    assert failure["kind"] == "QualityRejected" and failure["exit_code"] == 7
    assert failure["checks"][0]["check"] == "black" and Path(failure["quarantined"]).is_file()
    human = runner.invoke(cli, ["animate", "--object-id", str(oid), "--force"])
    assert human.exit_code == 7
    assert "the frames are black: mean brightness 0." in human.stderr
    assert "kept for a look" in human.stderr


# -- batch -----------------------------------------------------------------------------------------


def test_batch_records_quality_and_retries_with_a_new_seed(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    from imagear.batch import BatchOptions, BatchRunner, list_failures

    oid = add(app, make_image)
    settings.set_value(app.engine, "ar_seed", "42")  # a fixed seed would make the same clip
    remote.configure(script=[{"clip_kind": "black"}])
    first = BatchRunner(app, BatchOptions(backoff_secs=0.0)).run()
    assert first.exit_code == 1 and first.results[0].outcome == "failed"
    assert first.results[0].error_kind == "quality"
    failures = list_failures(app)
    assert [(f.object_id, f.error_kind) for f in failures] == [(oid, "quality")]
    assert "the frames are black" in (failures[0].error or "")
    second = BatchRunner(app, BatchOptions(backoff_secs=0.0)).run()
    assert second.exit_code == 0 and second.results[0].outcome == "created"
    seeds = [r.fields["seed"] for r in remote.animate_requests()]
    assert seeds[0] == "42" and seeds[1] != "42"
    assert list_failures(app) == []
    row = clips_db.lookup(app.engine, oid).clip
    assert row is not None and str(row.ai_seed) == seeds[1]


# -- imagear check -------------------------------------------------------------------------------


@pytest.mark.all_databases
def test_check_reaudits_stored_clips(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    ids = [add(app, make_image, f"p{i}.jpg") for i in range(4)]
    with Animator(app) as animator:
        outs = [animator.animate(AnimateRequest(i)) for i in ids]
    clean = runner.invoke(cli, ["check", "--all"])
    assert clean.exit_code == 0, clean.output
    assert "Checked 4 clips: all pass." in clean.stderr and clean.stdout == ""
    # one clip turned black on disk, one deleted, and a record that has none
    black = quality_clips.make_clip("black", tmp_path / "b.mp4", size=(968, 608), frames=14, fps=7)
    assert outs[0].file is not None and outs[1].file is not None
    outs[0].file.write_bytes(black.read_bytes())
    outs[1].file.unlink()
    assert outs[3].file is not None
    picture = Image.open(make_image("p3.jpg"))
    small = quality_clips.make_clip(
        "echo", tmp_path / "s.mp4", picture, size=(160, 96), frames=14, fps=7
    )
    outs[3].file.write_bytes(small.read_bytes())
    bad = runner.invoke(cli, ["check", "--all"])
    assert bad.exit_code == 7
    lines = bad.stdout.strip().splitlines()
    assert lines[0].startswith(f"record {ids[0]}: {outs[0].file.name}: the frames are black")
    assert (
        lines[1] == f"record {ids[1]}: {outs[1].file.name}: the file {outs[1].file} does not exist"
    )
    assert lines[2] == (
        f"record {ids[3]}: {outs[3].file.name}: the clip is 160x96, 968x608 was recorded"
    )
    assert len(lines) == 3 and "Checked 4 clips: 3 failed." in bad.stderr
    named = runner.invoke(cli, ["check", "--object-id", str(ids[2]), "--id", "999999", "--json"])
    assert named.exit_code == 3  # only a missing record: not found
    data = json.loads(named.stdout)
    assert (data["checked"], data["failed"]) == (2, 1)
    ok, missing = data["clips"]
    assert ok["ok"] and ok["poster"] and ok["preview"] and ok["measured"]["resemblance"] > 0.9
    assert missing["problems"] == [{"check": "row", "message": "the record does not exist"}]
    assert runner.invoke(cli, ["check"]).exit_code == 2


# -- serve -----------------------------------------------------------------------------------------


def test_serve_refuses_a_bad_clip_with_500_quality_rejected(
    tmp_path: Path, bad_clips: None
) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from imagear.quality import Thresholds
    from test_server import jpeg_bytes, running_server

    fields = {"model": "bad-clips", "num_frames": "12", "fps": "8", "width": "160", "height": "96"}
    files = {"image": ("photo.jpg", jpeg_bytes(), "image/jpeg")}
    with running_server(tmp_path / "tmp", default_model="bad-clips") as srv:
        good = httpx.post(f"{srv.url}/animate", data=fields, files=files, timeout=60)
        assert good.status_code == 200 and good.headers["content-type"] == "video/mp4"
        for kind, check in (("black", "black"), ("frozen", "frozen"), ("unrelated", "resemblance")):
            quality_clips.KIND = kind
            r = httpx.post(f"{srv.url}/animate", data=fields, files=files, timeout=60)
            assert r.status_code == 500, r.text
            body = r.json()
            assert body["type"] == "QualityRejected" and set(body) == {"error", "type"}
            assert body["error"].startswith("The clip made by model bad-clips was refused")
            assert {"black": "mean brightness", "frozen": "largest change"}.get(
                check, "resemblance"
            ) in body["error"]
        deadline = time.monotonic() + 10  # the temp files go once the answer is sent
        while any(p.suffix == ".mp4" for p in srv.tmp_dir.iterdir()):
            assert time.monotonic() < deadline, "a refused clip was left in the temp folder"
            time.sleep(0.05)
    off = Thresholds(enabled=False)
    with running_server(tmp_path / "tmp2", default_model="bad-clips", quality=off) as srv:
        r = httpx.post(f"{srv.url}/animate", data=fields, files=files, timeout=60)
        assert r.status_code == 200


def test_serve_options_default_to_the_gate_defaults() -> None:
    import inspect

    from imagear.cli.serve import serve
    from imagear.quality import Thresholds

    params = inspect.signature(serve).parameters
    defaults = Thresholds()
    assert params["quality_gate"].default is defaults.enabled
    for key in ("min_brightness", "min_contrast", "min_motion", "min_resemblance"):
        assert params[key].default == getattr(defaults, key)


def test_a_quarantine_that_cannot_be_written_still_refuses(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = add(app, make_image)
    blocker = Path(app.config.storage_root) / "quarantine"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the folder should be")
    remote.configure(clip_kind="black")
    with Animator(app) as animator, pytest.raises(QualityRejected) as info:
        animator.animate(AnimateRequest(oid))
    assert info.value.quarantined is None and info.value.checks[0]["check"] == "black"
    assert "could not be kept" in (info.value.advice or "")
    folder = store.record_dir(app.config, oid)
    assert not folder.exists() or not any(folder.iterdir())  # the refused clip is gone


@pytest.mark.all_databases
@pytest.mark.mysql
def test_a_refusal_by_any_front_end_is_in_the_refused_filter(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    """A gate refusal of `imagear animate` or the web (not only the batch's) is an
    ``imagear_audit`` entry (``refused``), which the grid's "refused" filter reads; a clip
    stored after it takes the record out of the filter again."""
    from imagear import auditlog, review

    oid, other = add(app, make_image), add(app, make_image, "other.jpg")
    remote.configure(clip_kind="black")
    with Animator(app) as animator:
        with pytest.raises(QualityRejected):
            animator.animate(AnimateRequest(oid, via="web", created_by="cora"))
        with pytest.raises(QualityRejected):
            animator.animate(AnimateRequest(other))  # imagear animate's
        rows, total = review.browse(app, show="refused")
        assert [r.id for r in rows] == [oid, other] and total == 2
        entry = auditlog.entries(app, oid)[0]
        assert (entry.user, entry.role, entry.action) == ("cora", "web", "refused")
        assert "black" in (entry.detail or "")
        assert auditlog.entries(app, other)[0].role == "animate"
        remote.configure(clip_kind="echo")
        assert animator.animate(AnimateRequest(oid, force=True)).status == "created"
    assert [r.id for r in review.browse(app, show="refused")[0]] == [other]
    assert auditlog.entries(app, oid)[0].action == "stored"
    assert review.browse(app, show="failed")[1] == 0  # a refusal is not a failure
