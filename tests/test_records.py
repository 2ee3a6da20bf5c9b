from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlmodel import Session

import imagear_models as models
from imagear.cli import app as cli
from imagear.errors import ImageMissing, NoMasterImage, RecordNotFound, UnsafePath
from imagear.records import find_master, safe_join

pytestmark = pytest.mark.all_databases  # storage semantics: every database


def test_add_copies_hashes_and_sniffs(cli_env, runner, make_image, roots) -> None:
    src = make_image("photo.png", fmt="PNG")
    r = runner.invoke(
        cli, ["records", "add", str(src), "--identifier", "REF-1", "--title", "A photo", "--json"]
    )
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    master = rec["master"]
    assert master["mime_type"] == "image/png"
    assert master["usage_id"] == 140
    assert master["checksum"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert master["byte_size"] == src.stat().st_size
    copied = Path(master["file"])
    assert copied.is_file() and copied.is_relative_to(roots["images_root"])
    assert copied.read_bytes() == src.read_bytes()
    plain = runner.invoke(cli, ["records", "add", str(src)])
    assert plain.exit_code == 0 and plain.stdout.strip() == str(rec["id"] + 1)


def test_mime_comes_from_content_not_extension(cli_env, runner, make_image) -> None:
    src = make_image("really-a-png.jpg", fmt="PNG")
    r = runner.invoke(cli, ["records", "add", str(src), "--json"])
    assert json.loads(r.stdout)["master"]["mime_type"] == "image/png"


def test_not_an_image_and_missing_file(cli_env, runner, tmp_path) -> None:
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("hello, not an image")
    r = runner.invoke(cli, ["records", "add", str(bogus)])
    assert r.exit_code == 1 and "not an image" in r.output  # data that cannot be used: 1
    r = runner.invoke(cli, ["records", "add", str(tmp_path / "missing.jpg")])
    assert r.exit_code == 3 and "does not exist" in r.output
    listed = json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)
    assert listed["total"] == 0


def test_csv_import_reports_bad_rows_by_line(cli_env, runner, make_image, tmp_path) -> None:
    good = make_image("good.jpg")
    make_image("other.jpg")
    (tmp_path / "inputs" / "broken.jpg").write_text("nope")
    csv_file = tmp_path / "inputs" / "import.csv"
    csv_file.write_text(
        "identifier,title,digitalObjectPath,extraColumn\n"
        f"A-1,First,{good},x\n"
        "A-2,Relative,other.jpg,y\n"
        "A-3,Broken,broken.jpg,z\n"
        "A-4,Missing,nothere.jpg,z\n"
        "A-5,Empty,,z\n"
    )
    r = runner.invoke(cli, ["records", "import", str(csv_file)])
    assert r.exit_code == 1
    assert "line 4:" in r.output and "not an image" in r.output
    assert "line 5:" in r.output and "does not exist" in r.output
    assert "line 6:" in r.output
    assert "Imported 2 record(s), 3 row(s) failed." in r.output
    listed = json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)
    assert [x["identifier"] for x in listed["records"]] == ["A-1", "A-2"]
    assert all(x["has_master"] for x in listed["records"])


def test_show_and_not_found(cli_env, runner, make_image) -> None:
    rid = runner.invoke(cli, ["records", "add", str(make_image())]).stdout.strip()
    r = runner.invoke(cli, ["records", "show", rid])
    assert r.exit_code == 0 and "Master image:" in r.stdout and "Animation: none" in r.stdout
    r = runner.invoke(cli, ["records", "show", "999"])
    assert r.exit_code == 3 and "Record 999 does not exist" in r.output


def test_named_gives_identifier_and_title_in_one_query(app, make_image) -> None:
    from imagear import records
    from imagear.db import records as records_db

    added = records.add_record(app, make_image("harbour.jpg"))
    full = records_db.get(app.engine, added.id)
    assert full is not None
    assert (
        records_db.named(app.engine, added.id)
        == (full.identifier, full.title)
        == (
            "harbour",
            "harbour",
        )
    )
    assert records_db.named(app.engine, added.id + 999) is None


def _do(
    session: Session,
    object_id: int,
    usage: int,
    mime: str = "image/jpeg",
    name: str = "a.jpg",
    path: str = "/uploads/r/x/",
    parent: int | None = None,
) -> models.DigitalObject:
    d = models.DigitalObject(
        object_id=object_id, usage_id=usage, mime_type=mime, name=name, path=path, parent_id=parent
    )
    session.add(d)
    session.commit()
    return d


def test_master_resolution_order(app, roots) -> None:
    with Session(app.engine, expire_on_commit=False) as s:
        s.add(models.InformationObject(id=5))
        s.commit()
        with pytest.raises(NoMasterImage):
            find_master(app, 5)
        _do(s, 5, 142, name="thumb.jpg")
        _do(s, 5, 140, mime="application/pdf", name="doc.pdf")
        assert find_master(app, 5, check_file=False).name == "thumb.jpg"
        ref = _do(s, 5, 141, name="ref.jpg")
        assert find_master(app, 5, check_file=False).name == "ref.jpg"
        _do(s, 5, 140, name="deriv.jpg", parent=ref.id)  # a derivative is never the master
        assert find_master(app, 5, check_file=False).name == "ref.jpg"
        _do(s, 5, 140, name="master.tif", mime="image/tiff")
        m = find_master(app, 5, check_file=False)
        assert (
            m.name == "master.tif"
            and m.file == roots["images_root"].resolve() / "uploads/r/x/master.tif"
        )
        with pytest.raises(ImageMissing, match="should be at"):
            find_master(app, 5)
        with pytest.raises(RecordNotFound):
            find_master(app, 6)


@pytest.mark.parametrize(
    "path, name",
    [
        ("/uploads/../../etc/", "passwd"),
        ("/uploads/r/", "../../x.jpg"),
        ("/uploads/r/", "/etc/passwd"),
        ("/", ".."),
    ],
)
def test_traversal_is_refused(tmp_path, path: str, name: str) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, path, name)


def test_symlink_out_of_root_is_refused(app, runner, roots, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    link_dir = roots["images_root"] / "uploads" / "r"
    link_dir.mkdir(parents=True)
    os.symlink(outside, link_dir / "evil")
    with Session(app.engine, expire_on_commit=False) as s:
        s.add(models.InformationObject(id=9))
        s.commit()
        _do(s, 9, 140, name="secret.jpg", path="/uploads/r/evil/")
        with pytest.raises(UnsafePath, match="outside the images root"):
            find_master(app, 9)


def test_csv_that_is_not_utf8_imports_nothing(cli_env, runner, make_image, tmp_path) -> None:
    good = make_image("good.jpg")
    csv_file = tmp_path / "inputs" / "latin1.csv"
    rows = "".join(f"G-{i},Good,{good}\n" for i in range(3))
    csv_file.write_bytes(
        b"identifier,title,digitalObjectPath\n"
        + rows.encode()
        + b"L-1,caf\xe9,"
        + str(good).encode()
        + b"\n"
    )
    r = runner.invoke(cli, ["records", "import", str(csv_file)])
    assert r.exit_code == 2
    assert "not UTF-8 (line 5" in r.output and "nothing was imported" in r.output
    assert json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)["total"] == 0


def test_rerunning_an_import_skips_what_is_there(cli_env, runner, make_image, tmp_path) -> None:
    make_image("a.jpg")
    make_image("b.jpg")
    csv_file = tmp_path / "inputs" / "c.csv"
    csv_file.write_text(
        "identifier,title,digitalObjectPath\nA,One,a.jpg\nA,Again,a.jpg\n,No id,b.jpg\n"
    )
    first = runner.invoke(cli, ["records", "import", str(csv_file), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert [r["identifier"] for r in report["added"]] == ["A", "b"]
    assert report["skipped"][0]["line"] == 3 and "already exists" in report["skipped"][0]["reason"]
    second = runner.invoke(cli, ["records", "import", str(csv_file)])
    assert second.exit_code == 0
    assert "Imported 0 record(s), 3 skipped, 0 row(s) failed." in second.output
    assert json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)["total"] == 2
    forced = runner.invoke(cli, ["records", "import", str(csv_file), "--allow-duplicates"])
    assert forced.exit_code == 0 and "Imported 3 record(s)" in forced.output


def test_csv_header_problems_say_what_to_do(cli_env, runner, tmp_path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("identifier;title;digitalObjectPath\nA;B;c.jpg\n")
    r = runner.invoke(cli, ["records", "import", str(semi)])
    assert r.exit_code == 2 and "semicolon" in r.output
    # digitalObjectURI (a IIIF Image service) is imported: tests/test_iiif_masters.py
    url = tmp_path / "url.csv"
    url.write_text("identifier,digitalObjectPath\nA,https://example.org/x.jpg\n")
    r = runner.invoke(cli, ["records", "import", str(url)])
    assert r.exit_code == 1 and "is a URL" in r.output


def test_unicode_file_names_are_kept(cli_env, runner, make_image) -> None:
    src = make_image("Hafen ü 1911.jpg")
    rec = json.loads(runner.invoke(cli, ["records", "add", str(src), "--json"]).stdout)
    assert rec["master"]["name"] == "Hafen_ü_1911.jpg"


def test_list_json_does_not_contradict_itself(cli_env, runner, make_image) -> None:
    runner.invoke(cli, ["records", "add", str(make_image())])
    rows = json.loads(runner.invoke(cli, ["records", "list", "--json"]).stdout)["records"]
    assert rows == [
        {
            "id": rows[0]["id"],
            "identifier": "img",
            "title": "img",
            "has_master": True,
            "has_animation": False,
        }
    ]


def test_json_errors_are_json(cli_env, runner) -> None:
    r = runner.invoke(cli, ["records", "show", "999", "--json"])
    assert r.exit_code == 3
    doc = json.loads(r.stdout)
    assert doc["status"] == "failed" and doc["kind"] == "RecordNotFound" and doc["exit_code"] == 3


def test_mistyped_database_folder_is_refused(cli_env, runner, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    r = runner.invoke(cli, ["records", "list"])
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not (tmp_path / "no").exists()
