"""`imagear animate | health | delete | recent | demo` and the root mirror, through the real CLI
(CliRunner, and real processes for the kill and concurrency cases) against a loopback server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from fake_server import FakeVideoServer
from imagear import records, settings, store
from imagear.app import App
from imagear.cli import app as cli
from imagear_models import InformationObject, ObjectImageAr

SRC = Path(__file__).resolve().parents[1] / "src"


def add(app: App, make_image: Any, name: str = "photo.jpg") -> int:
    return records.add_record(app, make_image(name)).id


def row_of(app: App, object_id: int) -> ObjectImageAr | None:
    with Session(app.engine, expire_on_commit=False) as s:
        return s.exec(select(ObjectImageAr).where(ObjectImageAr.object_id == object_id)).first()


def listing(app: App, object_id: int) -> list[str]:
    folder = store.record_dir(app.config, object_id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def with_companions(name: str) -> list[str]:
    """A clip's file name plus its poster (.jpg) and preview (.m4v), as listing() sorts."""
    return sorted([name, name[:-4] + ".jpg", name[:-4] + ".m4v"])


def invoke(runner: Any, *args: str, app: App | None = None) -> Any:
    """Run the CLI; ``app``: the App it uses (e.g. one whose retries do not sleep)."""
    obj = {"app": app} if app is not None else None
    return runner.invoke(cli, list(args), obj=obj, catch_exceptions=False)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- animate ------------------------------------------------------------------------------------


@pytest.mark.all_databases
def test_animate_json_row_and_file(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    result = invoke(runner, "animate", "--object-id", str(oid), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "created" and data["object_id"] == oid
    anim = data["animation"]
    row = row_of(app, oid)
    assert row is not None
    for key in ("mp4_filename", "mp4_path", "mp4_size", "mp4_width", "ai_model", "ai_seed"):
        assert anim[key] == getattr(row, key)
    assert Path(data["file"]).is_file() and data["mp4"]["frames"] == 14
    assert listing(app, oid) == with_companions(row.mp4_filename)
    assert Path(data["poster"]).name == row.mp4_filename[:-4] + ".jpg"
    assert Path(data["preview"]).name == row.mp4_filename[:-4] + ".m4v"


def test_animate_human_output_and_skip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    result = invoke(runner, "animate", "--id", str(oid), "--prompt", "drift")
    assert result.exit_code == 0, result.output
    assert "Created the animation of record" in result.stdout
    assert "968x608, 14 frames at 7 fps" in result.stdout
    assert result.stderr.count("svd ignores --prompt") == 1
    assert "\x1b[" not in result.stdout  # not a terminal: nothing decorative
    again = invoke(runner, "animate", "--object-id", str(oid))
    assert again.exit_code == 0 and "already has an animation" in again.stdout
    assert remote.count == 1
    forced = invoke(runner, "animate", "--object-id", str(oid), "--force")
    assert forced.exit_code == 0 and "Replaced" in forced.stdout


def test_root_mirror(app: App, remote: FakeVideoServer, make_image: Any, runner: Any) -> None:
    oid = add(app, make_image)
    args = ["--object-id", str(oid), "--model", "svd-xt", "--frames", "25", "--fps", "6"]
    result = invoke(runner, *args, "--motion", "50", "--seed", "9", "-o", "noise_aug_strength=0.1")
    assert result.exit_code == 0, result.output
    fields = remote.animate_requests()[0].fields
    assert (fields["model"], fields["num_frames"], fields["fps"]) == ("svd-xt", "25", "6")
    assert (fields["motion_bucket_id"], fields["seed"], fields["noise_aug_strength"]) == (
        "50",
        "9",
        "0.1",
    )
    row = row_of(app, oid)
    assert row is not None and (row.ai_model, row.ai_seed, row.ai_motion_bucket_id) == (
        "svd-xt",
        9,
        50,
    )
    skip = invoke(runner, "--object-id", str(oid), "--json")
    assert json.loads(skip.stdout)["status"] == "skipped"
    health = invoke(runner, "--health", "--json")
    assert health.exit_code == 0 and json.loads(health.stdout)["loaded_models"] == ["svd"]


def test_root_options_need_object_id(runner: Any, cli_env: dict) -> None:
    result = invoke(runner, "--force")
    assert result.exit_code == 2 and "--object-id" in result.output
    both = invoke(runner, "--object-id", "1", "recent")
    assert both.exit_code == 2


def test_in_process_kenburns(app: App, make_image: Any, runner: Any) -> None:
    oid = add(app, make_image)
    result = invoke(
        runner, "animate", "--object-id", str(oid), "-m", "kenburns", "--motion", "zoom_out",
        "--frames", "6", "--width", "96", "--height", "64", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    anim = json.loads(result.stdout)["animation"]
    assert (anim["mp4_motion"], anim["mp4_width"], anim["mp4_height"]) == ("zoom_out", 96, 64)


def test_frames_and_duration_together_are_refused(app: App, make_image: Any, runner: Any) -> None:
    oid = add(app, make_image)
    args = ["animate", "--object-id", str(oid), "--force", "--model", "kenburns"]
    result = invoke(runner, *args, "--frames", "10", "-o", "duration=2")
    assert result.exit_code == 2, result.output
    assert "give either --frames or -o duration, not both" in result.stderr
    both = invoke(runner, *args, "-o", "num_frames=10", "-o", "duration=2")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert row_of(app, oid) is None and not listing(app, oid)


def test_motion_of_the_wrong_kind_says_what_the_model_takes(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    name = invoke(
        runner, "animate", "--object-id", str(oid), "--model", "svd", "--motion", "pan_rl"
    )
    assert name.exit_code == 2, name.output
    assert (
        "--motion for svd must be a number 1..255 (motion bucket); names like pan_rl are Ken "
        "Burns motions (--model kenburns)."
    ) in name.stderr
    assert "has no option" not in name.stderr
    number = invoke(runner, "animate", "--id", str(oid), "-m", "kenburns", "--motion", "180")
    assert number.exit_code == 2, number.output
    assert "--motion for kenburns takes a motion name" in number.stderr
    assert "zoom_in, zoom_out, pan_lr, pan_rl or ken_burns_diagonal" in number.stderr
    assert remote.count == 0 and row_of(app, oid) is None


@pytest.mark.all_databases
def test_json_animation_keys_follow_the_table_columns(
    app: App, make_image: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON lists the clip's columns in table order (domain.Clip's fields are the table's
    columns, in its order, on every database)."""
    oid = add(app, make_image)
    args = ["animate", "--object-id", str(oid), "-m", "kenburns", "--frames", "4", "--json"]
    result = invoke(runner, *args, "--width", "96", "--height", "64")
    assert result.exit_code == 0, result.output
    keys = list(json.loads(result.stdout)["animation"])
    assert keys == [k for k in ObjectImageAr.model_fields if k in keys]
    assert keys[:3] == ["id", "object_id", "digital_object_id"]


def test_messages_are_not_broken_on_a_narrow_console(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.cli import _common

    monkeypatch.setattr(_common.console, "width", 80)  # what Rich uses for a pipe
    oid = add(app, make_image, "a-photo-with-a-rather-long-file-name.jpg")
    created = invoke(runner, "animate", "--object-id", str(oid))
    assert created.exit_code == 0, created.output
    assert " KB, 968x608, 14 frames" in created.stdout and "0.0 MB" not in created.stdout
    skipped = invoke(runner, "animate", "--object-id", str(oid))
    assert skipped.exit_code == 0
    lines = skipped.stdout.strip().splitlines()
    assert len(lines) == 1 and "already has an animation" in lines[0]
    assert "pass --force to replace it." in lines[0]
    table = invoke(runner, "recent")
    assert table.exit_code == 0
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", table.stdout), table.stdout
    assert "│ 1 a-photo-with" in table.stdout and " svd " in table.stdout, table.stdout
    gone = invoke(runner, "delete", "--object-id", str(oid))
    lines = gone.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Deleted the animation of record")
    assert lines[0].endswith(".mp4."), lines


# -- refusals: one line, one exit code -----------------------------------------------------------


def _bare_record(app: App) -> int:
    with Session(app.engine, expire_on_commit=False) as s:
        rec = InformationObject(identifier="bare")
        s.add(rec)
        s.commit()
        assert rec.id is not None
        return rec.id


@pytest.mark.parametrize(
    ("case", "code", "text"),
    [
        ("disabled", 4, "ar_enabled=0"),
        ("unknown-record", 3, "Record 9999 does not exist"),
        ("no-master", 3, "has no master image"),
        ("missing-file", 3, "is not there"),
        ("bad-frames", 2, "svd accepts --frames 14 or 25, not 15"),
        ("bad-option", 2, "-o needs KEY=VALUE"),
        ("unreachable", 5, "Cannot reach the image-to-video server at"),
        ("server-500", 5, "pipeline exploded"),
        ("local-svd", 6, "use Ken Burns: --model kenburns"),
    ],
)
def test_refusals(
    app: App,
    server: FakeVideoServer,
    make_image: Any,
    runner: Any,
    case: str,
    code: int,
    text: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oid = add(app, make_image)
    args = ["animate", "--object-id", str(oid)]
    settings.set_value(app.engine, "ar_server_url", server.url)
    if case == "disabled":
        settings.set_value(app.engine, "ar_enabled", "0")
    elif case == "unknown-record":
        args[2] = "9999"
    elif case == "no-master":
        args[2] = str(_bare_record(app))
    elif case == "missing-file":
        records.find_master(app, oid).file.unlink()
    elif case == "bad-frames":
        args += ["--frames", "15"]
    elif case == "bad-option":
        args += ["-o", "steps"]
    elif case == "unreachable":
        settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")
        app.sleep = lambda seconds: None  # the client's retries do not wait
    elif case == "server-500":
        server.configure(error={"error": "pipeline exploded", "type": "RuntimeError"}, status=500)
    elif case == "local-svd":
        settings.set_value(app.engine, "ar_server_url", "")
    result = invoke(runner, *args, app=app)
    assert result.exit_code == code, result.output
    assert text in result.stderr, result.stderr
    assert result.stderr.startswith("Error: ")
    if case not in ("server-500", "unreachable"):
        assert server.count == 0
    assert row_of(app, oid) is None and not any(listing(app, oid))


@pytest.mark.all_databases
def test_server_failure_keeps_the_previous_clip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    before = row_of(app, oid)
    assert before is not None
    clip = store.record_dir(app.config, oid) / before.mp4_filename
    digest = sha(clip)
    for knobs in ({"status": 500}, {"body": b"not a video" * 200}):
        remote.configure(**knobs)
        result = invoke(runner, "animate", "--object-id", str(oid), "--force")
        assert result.exit_code == 5, result.output
        assert "Error: " in result.stderr
        assert row_of(app, oid) == before and sha(clip) == digest
        assert listing(app, oid) == with_companions(before.mp4_filename)
        remote.configure(status=200, body=None)
    remote.configure(status=507, error={"error": "CUDA out of memory", "type": "OOM"})
    failed = invoke(runner, "animate", "--object-id", str(oid), "--force", "--json")
    assert failed.exit_code == 5
    data = json.loads(failed.stdout)
    assert (data["status"], data["kind"], data["exit_code"]) == ("failed", "OutOfGpuMemory", 5)
    assert "CUDA out of memory" in data["error"] and "fewer frames" in data["advice"]
    assert row_of(app, oid) == before


# -- real processes -----------------------------------------------------------------------------


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "imagear", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.all_databases
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_kill_mid_download_keeps_the_previous_clip(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any, sig: signal.Signals
) -> None:
    oid = add(app, make_image)
    assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    before = row_of(app, oid)
    assert before is not None
    folder = store.record_dir(app.config, oid)
    digest = sha(folder / before.mp4_filename)
    remote.configure(body_size=50_000_000, chunk_size=256 * 1024, chunk_delay=0.05)
    proc = _spawn("--object-id", str(oid), "--force")
    deadline = time.monotonic() + 30
    parts: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        parts = [p for p in folder.glob("*.part") if p.stat().st_size > 512 * 1024]
        if parts:
            break
        time.sleep(0.05)
    assert parts, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert row_of(app, oid) == before
    assert sha(folder / before.mp4_filename) == digest
    if sig == signal.SIGTERM:  # unwinds: exit 130, the .part is removed at once
        assert proc.returncode == 130 and b"previous clip is kept" in err
        assert listing(app, oid) == with_companions(before.mp4_filename)
        return
    assert parts[0].exists()  # a SIGKILL leaves it behind ...
    remote.configure(body_size=None, chunk_delay=0.0)
    result = invoke(runner, "animate", "--object-id", str(oid))  # ... the next run sweeps it
    assert result.exit_code == 0 and "already has an animation" in result.stdout
    assert listing(app, oid) == with_companions(before.mp4_filename)


@pytest.mark.all_databases
def test_two_processes_on_one_record(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = add(app, make_image)
    assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    remote.configure(hold_until_active=2, latency=0.2)
    procs = [_spawn("animate", "--object-id", str(oid), "--force", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    statuses = sorted(json.loads(out)["status"] for out, _ in outputs)
    assert statuses == ["replaced", "replaced"] and remote.max_active == 2
    with Session(app.engine, expire_on_commit=False) as s:
        rows = s.exec(select(ObjectImageAr).where(ObjectImageAr.object_id == oid)).all()
    assert len(rows) == 1
    assert listing(app, oid) == with_companions(rows[0].mp4_filename)


# -- health -------------------------------------------------------------------------------------


def test_health_panel_and_model_warning(app: App, remote: FakeVideoServer, runner: Any) -> None:
    remote.configure(
        health={"cuda": True, "device": "NVIDIA H100", "vram_total_gb": 79.6, "vram_free_gb": 70.1}
    )
    result = invoke(runner, "health")
    assert result.exit_code == 0, result.output
    for text in (remote.url, "reachable", "svd", "NVIDIA H100", "70.1 GB free of 79.6 GB"):
        assert text in result.stdout
    assert "Warning" not in result.stderr
    settings.set_value(app.engine, "ar_model", "wan-2.1")
    warned = invoke(runner, "--health")  # the server cannot serve ar_model: not healthy
    assert warned.exit_code == 5 and "wan-2.1" in warned.stderr and "Error:" in warned.stderr


def test_health_unreachable(app: App, runner: Any) -> None:
    sleeps: list[float] = []
    app.sleep = sleeps.append  # the client's retries do not wait
    with FakeVideoServer() as srv:
        url = srv.url
    settings.set_value(app.engine, "ar_server_url", url)
    result = invoke(runner, "health", app=app)
    assert result.exit_code == 5 and sleeps  # a refused connection is retried once
    assert url in result.stderr and "ar_server_url" in result.stderr
    as_json = invoke(runner, "health", "--json", app=app)
    assert as_json.exit_code == 5
    data = json.loads(as_json.stdout)
    assert data["reachable"] is False and data["url"] == url


def test_health_local(app: App, runner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("imagear.generators.cuda_info", lambda: {"cuda": False})
    result = invoke(runner, "health")
    assert result.exit_code == 6, result.output  # svd (ar_model) cannot run here
    assert "In-process engines" in result.stdout and "kenburns" in result.stdout
    assert "The default model svd (ar_model) cannot run in this process" in result.stderr
    data = json.loads(invoke(runner, "health", "--json").stdout)
    assert {e["name"]: e["available"] for e in data["engines"]}["kenburns"] is True


# -- delete / recent ----------------------------------------------------------------------------


@pytest.mark.all_databases
def test_delete_and_recent(app: App, remote: FakeVideoServer, make_image: Any, runner: Any) -> None:
    ids = [add(app, make_image, f"p{i}.jpg") for i in range(2)]
    for oid in ids:
        assert invoke(runner, "animate", "--object-id", str(oid)).exit_code == 0
    table = invoke(runner, "recent")
    assert table.exit_code == 0 and "2 of 2 clip(s)" in table.stdout
    data = json.loads(invoke(runner, "recent", "-n", "1", "--json").stdout)
    assert data["total"] == 2 and len(data["clips"]) == 1
    assert data["clips"][0]["object_id"] == ids[1]
    file = store.record_dir(app.config, ids[0]) / row_of(app, ids[0]).mp4_filename  # type: ignore[union-attr]
    gone = invoke(runner, "delete", "--id", str(ids[0]))
    assert gone.exit_code == 0 and "Deleted the animation" in gone.stdout
    assert row_of(app, ids[0]) is None and not file.exists()
    again = invoke(runner, "delete", "--object-id", str(ids[0]))
    assert again.exit_code == 3 and "has no animation" in again.stderr


# -- demo ---------------------------------------------------------------------------------------


def test_demo(app: App, runner: Any, tmp_path: Path) -> None:
    settings.set_value(app.engine, "ar_server_url", "http://127.0.0.1:9")  # ignored by the demo
    out = tmp_path / "out"
    result = invoke(runner, "demo", "-o", "duration=0.4", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "created" and data["animation"]["ai_model"] == "kenburns"
    assert data["mp4"]["frames"] == 10 and data["mp4"]["fps"] == 25
    assert Path(data["file"]).is_file() and Path(data["copied_to"]).parent == out
    assert settings.get(app.engine, "ar_model") == "svd"  # settings untouched
    human = invoke(runner, "demo", "-o", "duration=0.2")
    assert human.exit_code == 0 and "Demo clip of record" in human.stdout
    assert "5 frames at 25.0 fps" in human.stdout


def test_demo_with_default_config(
    runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh machine: no imagear.toml, no IMAGEAR_* variables: SQLite under platformdirs."""
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "demo", "-o", "duration=0.2", "--json")
    assert result.exit_code == 0, result.output
    clip = Path(json.loads(result.stdout)["file"])
    assert clip.is_file() and clip.is_relative_to(tmp_path / "data" / "imagear")
    assert (tmp_path / "data" / "imagear" / "imagear.db").is_file()


def test_demo_with_config_file(
    runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("IMAGEAR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    conf = tmp_path / "site" / "imagear.toml"
    conf.parent.mkdir()
    conf.write_text('database_url = "sqlite:///db.sqlite"\nstorage_root = "clips"\n')
    result = invoke(runner, "--config", str(conf), "demo", "-o", "duration=0.2", "--json")
    assert result.exit_code == 0, result.output
    clip = Path(json.loads(result.stdout)["file"])
    assert clip.is_relative_to(tmp_path / "site" / "clips") and clip.is_file()
    assert (tmp_path / "site" / "db.sqlite").is_file()
