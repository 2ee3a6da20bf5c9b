"""Nothing lost on shared storage (issue 21, items 1-4).

- imagear removes only the files named by the row it replaces or deletes (and its own ``.part``
  files): two databases sharing one storage_root, and a file another tool put in a record
  folder, survive animate, animate --force, batch, delete and check;
- a tampered ``mp4_path`` never makes delete remove (or the web serve) a file that is not the
  record's own clip, poster or preview in ``uploads/ar/{id}/``;
- a record folder that is a symlink out of storage_root is refused, nothing written;
- posters and previews another tool left behind are reported by ``check`` and removed by
  ``check --repair --yes`` (dry run first; never files younger than an hour or named by a row).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from imagear import records, settings, store
from imagear.app import App
from imagear.cli import app as cli
from imagear.db.schema import CLIPS
from imagear.domain import Clip

FAST = ("--model", "kenburns", "--frames", "8", "--fps", "8", "--width", "96", "--height", "64")
HOUR_AGO = time.time() - 2 * 3600


def invoke(runner: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def age(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (HOUR_AGO, HOUR_AGO))


def set_row(app: App, object_id: int, **values: Any) -> None:
    with app.engine.begin() as conn:
        conn.execute(update(CLIPS).where(CLIPS.c.object_id == object_id).values(**values))


# -- item 1: two databases, one storage_root ----------------------------------------------------


@pytest.mark.mysql
def test_two_databases_sharing_storage_keep_each_others_clips(
    app: App, cli_env: dict[str, str], make_image: Any, runner: Any, tmp_path: Path
) -> None:
    """Database A (SQLite, PostgreSQL or MariaDB) and database B (another SQLite file) share
    one storage_root; record folders 1 and 2 hold B's clips and a foreign file. A goes through
    animate, animate --force, batch, delete, check and check --repair: nothing of B's, and not
    the foreign files, is removed. (Failed on bef0327: A's first animate deleted B's clip and
    the foreign MP4 as "orphans".)"""
    other = {"IMAGEAR_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    a_ids = [records.add_record(app, make_image(f"a{i}.jpg")).id for i in range(2)]
    for key, value in (("ar_model", "kenburns"), ("ar_server_url", "")):
        settings.set_value(app.engine, key, value)
    os.environ["IMAGEAR_DATABASE_URL"] = other["IMAGEAR_DATABASE_URL"]
    try:
        b = App.load()
        try:
            b_ids = [records.add_record(b, make_image(f"b{i}.jpg")).id for i in range(2)]
            for key, value in (("ar_model", "kenburns"), ("ar_server_url", "")):
                settings.set_value(b.engine, key, value)
        finally:
            b.close()
    finally:
        os.environ["IMAGEAR_DATABASE_URL"] = cli_env["IMAGEAR_DATABASE_URL"]
    assert a_ids == b_ids  # the same record ids: the same record folders
    for oid in b_ids:
        result = invoke(runner, "animate", "--object-id", str(oid), *FAST, env=other)
        assert result.exit_code == 0, result.output
    folders = [store.record_dir(app.config, oid) for oid in a_ids]
    foreign = [
        folders[0] / "notes.txt",
        folders[0] / "svd_foreign_123456.mp4",  # Heratio's, its row not yet written
        folders[0] / "svd_foreign_123456.jpg",
    ]
    for path in foreign:
        path.write_bytes(b"not imagear's")
    kept = {folder: names(folder) for folder in folders}  # B's clips + the foreign files
    assert all(len(k) >= 3 for k in kept.values())

    def survivors(step: str) -> None:
        for folder, before in kept.items():
            missing = before - names(folder)
            assert not missing, f"{step} removed {sorted(missing)} from {folder}"

    steps: list[tuple[str, tuple[str, ...]]] = [
        ("animate", ("animate", "--object-id", str(a_ids[0]), *FAST)),
        ("animate --force", ("animate", "--object-id", str(a_ids[0]), *FAST, "--force")),
        ("batch", ("batch", *FAST)),
        ("animate --force (2)", ("animate", "--object-id", str(a_ids[1]), *FAST, "--force")),
        ("delete", ("delete", "--object-id", str(a_ids[0]))),
        ("check", ("check", "--all")),
        ("check --repair", ("check", "--repair")),
    ]
    for step, args in steps:
        result = invoke(runner, *args)
        assert result.exit_code in (0, 7), (step, result.output)
        survivors(step)
    assert not any(name.endswith(".part") for folder in folders for name in names(folder))
    checked = invoke(runner, "check", "--all", "--json", env=other)  # B's clips are all there
    data = json.loads(checked.stdout)
    assert data["checked"] == 2
    assert not [p for c in data["clips"] for p in c["problems"] if p["check"] in ("file", "row")]


# -- item 2: a tampered row never names a file outside its record folder ------------------------


def test_delete_of_a_tampered_path_removes_nothing_outside_the_record_folder(
    app: App, make_image: Any, runner: Any
) -> None:
    """Failed on bef0327: `delete` removed storage/notes.txt and storage/notes.jpg."""
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_server_url", "")
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    root = Path(app.config.storage_root)
    victims = [root / "notes.txt", root / "notes.jpg", root / "notes.webp"]
    for victim in victims:
        victim.write_text("keep me")
    set_row(app, oid, mp4_path="/notes.txt", mp4_filename="notes.txt")
    result = invoke(runner, "delete", "--object-id", str(oid))
    assert result.exit_code == 0, result.output
    assert "no file was removed" in result.output
    assert all(v.read_text() == "keep me" for v in victims)


@pytest.mark.parametrize(
    ("path", "filename"),
    [
        ("/uploads/ar/{other}/{name}", "{name}"),  # another record's clip
        ("/uploads/ar/{oid}/notes.txt", "notes.txt"),  # not a clip's name
        ("/uploads/ar/{oid}/{name}", "notes.txt"),  # the two columns disagree
        ("/quarantine/{oid}/{name}", "{name}"),  # inside storage_root, not a clip folder
    ],
)
def test_file_of_names_only_the_records_own_clip(
    app: App, path: str, filename: str, tmp_path: Path
) -> None:
    name = "svd_photo_123456.mp4"
    row = Clip(
        id=None,
        object_id=5,
        mp4_path=path.format(oid=5, other=6, name=name),
        mp4_filename=filename.format(name=name),
    )
    assert store.file_of(app.config, row) is None
    good = Clip(id=None, object_id=5, mp4_path=f"/uploads/ar/5/{name}", mp4_filename=name)
    assert store.file_of(app.config, good) == store.record_dir(app.config, 5).resolve() / name


def test_the_web_serves_only_the_rows_own_clip_poster_and_preview(
    app: App, make_image: Any
) -> None:
    """Failed on bef0327: a row naming a quarantined clip (or any file under storage_root) had
    it served."""
    from web_helpers import add_records, client

    ids = add_records(app, make_image, 2, animated=1)
    c = client(app)
    oid = ids[0]
    quarantined = Path(app.config.storage_root) / "quarantine" / str(oid) / "svd_x_123456.mp4"
    quarantined.parent.mkdir(parents=True)
    quarantined.write_bytes(b"refused clip")
    quarantined.with_suffix(".webp").write_bytes(b"refused preview")
    quarantined.with_suffix(".m4v").write_bytes(b"refused preview")
    set_row(
        app, oid, mp4_path=f"/quarantine/{oid}/svd_x_123456.mp4", mp4_filename="svd_x_123456.mp4"
    )
    for what in ("video", "preview"):
        r = c.get(f"/image-ar/{oid}/{what}")
        assert r.status_code == 404 and b"refused" not in r.content, what
    poster = c.get(f"/image-ar/{oid}/poster")  # the master image instead
    assert b"refused" not in poster.content


def test_a_poster_that_is_a_symlink_is_not_served(app: App, make_image: Any) -> None:
    from web_helpers import add_records, client, clip_file

    ids = add_records(app, make_image, 1, animated=1)
    secret = Path(app.config.storage_root).parent / "secret.txt"
    secret.write_text("do not serve")
    poster, preview = store.companions(clip_file(app, ids[0]))
    for companion in (poster, preview):
        companion.unlink()
        companion.symlink_to(secret)
    c = client(app)
    assert b"do not serve" not in c.get(f"/image-ar/{ids[0]}/poster").content
    r = c.get(f"/image-ar/{ids[0]}/preview")
    assert r.status_code == 404 and b"do not serve" not in r.content


# -- item 3: a record folder that leads out of storage_root -------------------------------------


def test_a_symlinked_record_folder_is_refused(
    app: App, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    """Failed on bef0327: animate wrote the clip outside storage_root and said "Created"."""
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_server_url", "")
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = store.record_dir(app.config, oid)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(outside, target_is_directory=True)
    result = invoke(runner, "animate", "--object-id", str(oid), *FAST)
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "storage_root" in result.output
    assert list(outside.iterdir()) == []
    assert invoke(runner, "recent", "--json").stdout.count('"object_id"') == 0


# -- items 1 and 4: leftovers are reported, and removed only on request --------------------------


def test_leftover_posters_and_previews_are_reported_and_repaired_on_request(
    app: App, make_image: Any, runner: Any
) -> None:
    """Heratio replaced imagear's clip (its MP4 and row) and left imagear's poster and preview.
    `check` reports them; `check --repair` lists them and removes nothing; `--repair --yes`
    removes them, never a file younger than an hour, named by a row, or not a clip's.
    (Failed on bef0327: check did not report them and had no --repair.)"""
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_server_url", "")
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    folder = store.record_dir(app.config, oid)
    old = next(p for p in folder.glob("*.mp4") if store.is_clip_name(p.name))
    old_poster, old_preview = store.companions(old)
    old_webp = old.with_suffix(store.WEBP_PREVIEW_SUFFIX)  # an older clip's animated preview
    old_webp.write_bytes(b"x")
    old.unlink()  # Heratio's replace: its new MP4, its row, the old MP4 removed
    new = folder / "svd_photo_654321.mp4"
    new.write_bytes(b"heratio's clip")
    set_row(app, oid, mp4_path=f"/uploads/ar/{oid}/{new.name}", mp4_filename=new.name)
    orphan = folder / "svd_photo_111111.mp4"  # renamed, then killed before its commit
    orphan.write_bytes(b"x")
    young = folder / "svd_photo_222222.jpg"  # maybe another tool's, being written now
    young.write_bytes(b"x")
    notes = folder / "notes.txt"
    notes.write_bytes(b"x")
    age(old_poster, old_preview, old_webp, orphan, new, notes)
    stale = [old_poster, old_preview, old_webp, orphan]

    checked = invoke(runner, "check", "--object-id", str(oid))
    for path in stale:
        assert path.name in checked.output, checked.output
    assert "check --repair" in checked.output

    dry = invoke(runner, "check", "--repair")
    assert dry.exit_code == 0, dry.output
    for path in stale:
        assert path.name in dry.output and path.exists()
    assert "--yes" in dry.output
    as_json = json.loads(invoke(runner, "check", "--repair", "--json").stdout)
    assert sorted(Path(f["file"]).name for f in as_json["files"]) == sorted(p.name for p in stale)
    assert as_json["removed"] == []

    done = invoke(runner, "check", "--repair", "--yes")
    assert done.exit_code == 0, done.output
    assert not any(p.exists() for p in stale)
    assert names(folder) == {new.name, young.name, notes.name}
    again = invoke(runner, "check", "--repair", "--yes", "--json")
    assert json.loads(again.stdout)["files"] == []


def test_repair_leaves_folders_of_records_this_database_does_not_have(
    app: App, runner: Any
) -> None:
    folder = store.record_dir(app.config, 4242)  # another database's record
    folder.mkdir(parents=True)
    clip = folder / "svd_photo_123456.mp4"
    clip.write_bytes(b"x")
    age(clip)
    result = invoke(runner, "check", "--repair", "--yes")
    assert result.exit_code == 0, result.output
    assert clip.exists()


def test_animate_leaves_an_unnamed_clip_for_check_repair(
    app: App, make_image: Any, runner: Any
) -> None:
    """An MP4 no row names (a run killed between its rename and its commit, or another tool's)
    is no longer removed by the next store (failed on bef0327: it was)."""
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_server_url", "")
    folder = store.record_dir(app.config, oid)
    folder.mkdir(parents=True)
    orphan = folder / "svd_photo_000001.mp4"
    orphan.write_bytes(b"x")
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST, "--force").exit_code == 0
    assert orphan.exists()


def test_repair_keeps_a_file_a_row_names_even_in_a_path_imagear_does_not_trust(
    app: App, make_image: Any, runner: Any
) -> None:
    oid = records.add_record(app, make_image()).id
    settings.set_value(app.engine, "ar_server_url", "")
    assert invoke(runner, "animate", "--object-id", str(oid), *FAST).exit_code == 0
    folder = store.record_dir(app.config, oid)
    clip = folder / "svd_photo_333333.mp4"
    clip.write_bytes(b"x")
    age(clip, *folder.iterdir())
    set_row(app, oid, mp4_path=f"/storage/uploads/ar/{oid}/{clip.name}", mp4_filename=clip.name)
    before = names(folder)
    result = invoke(runner, "check", "--repair", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert clip.exists()
    # the clip imagear made before is no longer named: it and its companions go
    assert names(folder) == {clip.name}
    assert len(before) == 4
