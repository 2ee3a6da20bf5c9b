"""Records and their master images.

A record is an ``information_object``; its master image is the top-level ``image/*``
``digital_object`` preferring usage 140 (master), then 141 (reference), then 142 (thumbnail),
exactly as Heratio picks it. On disk a digital object lives at
``{images_root}/{path without leading slash}/{name}`` (or, with images_root at Heratio's
uploads path, where Heratio looks: :func:`master_places`); a stored path or name that would
leave the images root (``..``, an absolute name, a symlink pointing out) is refused. On an
AtoM/Heratio database records are AtoM's to make: adding or importing them is refused.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from imagear.app import App
from imagear.db import records as records_db
from imagear.db.context import Context as RecordContext
from imagear.db.context import context as context_of
from imagear.db.rows import FileRow
from imagear.db.schema import USAGE_MASTER
from imagear.domain import (
    ImportFailure,
    ImportReport,
    ImportSkip,
    MasterImage,
    Record,
    RecordSummary,
)
from imagear.errors import (
    ImagearError,
    ImageMissing,
    NoMasterImage,
    NotFound,
    RecordNotFound,
    StorageError,
    UnsafePath,
    UsageError,
)

_SAFE_NAME = re.compile(r"[^\w.-]+")  # \w is Unicode-aware: "Hafen ü.jpg" keeps its ü
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def safe_join(root: Path, web_path: str | None, name: str | None) -> Path:
    """``root / web_path / name``, refusing anything that would escape ``root``."""
    if not name:
        raise UnsafePath("The digital object has no file name.")
    parts = [p for p in (web_path or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"The stored path {web_path!r} contains '..' and is refused.")
    if "/" in name or "\\" in name or name in (".", "..") or os.path.isabs(name):
        raise UnsafePath(f"The stored file name {name!r} is not a plain file name and is refused.")
    root_resolved = root.resolve()
    candidate = root_resolved.joinpath(*parts, name)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root_resolved):
        raise UnsafePath(
            f"{candidate} resolves to {resolved}, outside the images root {root_resolved}; refused."
        )
    return resolved


def master_places(root: Path, object_id: int, web_path: str | None, name: str | None) -> list[Path]:
    """Where a master file may be, in the order they are tried (all inside ``root``):

    1. ``{root}/{path}/{name}``: ``root`` is the web root AtoM's ``/uploads/r/...`` paths hang
       from (imagear's own records too);
    2. ``{root}/{path without /uploads/}/{name}`` and ``{root}/{path without /uploads/r/}/{name}``:
       ``root`` is Heratio's uploads path;
    3. ``{root}/{record id}/{name}``: Heratio's own fallback.

    The first place is checked strictly (UnsafePath when the stored path or name would leave
    ``root``); a later place that would leave ``root`` is skipped.
    """
    web = (web_path or "").replace("\\", "/")
    bare = web.lstrip("/")
    folders = [web]
    for prefix in ("uploads/", "uploads/r/"):
        if bare.startswith(prefix):
            folders.append(bare[len(prefix) :])
    folders.append(str(int(object_id)))
    places = [safe_join(root, folders[0], name)]
    for folder in folders[1:]:
        try:
            place = safe_join(root, folder, name)
        except UnsafePath:
            continue
        if place not in places:
            places.append(place)
    return places


def master_image(
    app: App, object_id: int, row: FileRow | None, *, check_file: bool = True
) -> MasterImage:
    """The master image of a record from its digital_object ``row`` (None: it has none),
    located on disk; raises NoMasterImage, UnsafePath or (``check_file``) ImageMissing."""
    if row is None or row.get("id") is None:
        raise NoMasterImage(
            f"Record {object_id} has no master image (no top-level image/* digital object)."
        )
    places = master_places(app.config.images_root, object_id, row.get("path"), row.get("name"))
    file = next((place for place in places if place.is_file()), places[0])
    if check_file and not file.is_file():
        elsewhere = f" (nor at {', '.join(str(p) for p in places[1:])})" if places[1:] else ""
        raise ImageMissing(
            f"The master image of record {object_id} should be at {file} but is not "
            f"there{elsewhere}.",
            "Check images_root ({see:config}): Heratio's web root or its uploads "
            "folder; or restore the file.",
        )
    return MasterImage(
        digital_object_id=int(row["id"]),
        usage_id=row.get("usage_id"),
        mime_type=row.get("mime_type"),
        name=row.get("name") or "",
        path=row.get("path") or "",
        byte_size=row.get("byte_size"),
        checksum=row.get("checksum"),
        file=file,
    )


def find_master(app: App, object_id: int, *, check_file: bool = True) -> MasterImage:
    """The record's master image, located on disk. Raises the precise NotFound/UnsafePath error."""
    found = records_db.get(app.engine, object_id)
    if found is None:
        raise RecordNotFound(f"Record {object_id} does not exist.")
    return master_image(app, object_id, found.master, check_file=check_file)


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def add_record(
    app: App, image: Path, identifier: str | None = None, title: str | None = None
) -> Record:
    """Copy ``image`` under the images root and make it a new record's master (usage 140).
    Refused (ReadOnlyRecords) on an AtoM/Heratio database: records are AtoM's to make."""
    from imagear.media import sniff_mime

    records_db.refuse_adding(app.engine)

    image = _source(image)
    mime = sniff_mime(image)
    _check_decodes(image)
    identifier, title = identifier or image.stem, title or image.stem
    problem = text_problem(identifier, title)
    if problem is not None:
        raise UsageError(f"The record cannot be added: {problem}.")
    checksum, size = _hash_file(image)
    name = _SAFE_NAME.sub("_", image.name).strip("._") or "image"
    with records_db.adding(app.engine, identifier, title) as new:
        web_path = f"/uploads/r/{new.id}/"
        dest = safe_join(app.config.images_root, web_path, name)
        _copy_atomic(image, dest)
        try:
            new.add_file(
                usage_id=USAGE_MASTER,
                mime_type=mime,
                name=name,
                path=web_path,
                byte_size=size,
                checksum=checksum,
                checksum_type="sha256",
                parent_id=None,
                sequence=0,
            )
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    return get_record(app, new.id)


def _source(image: Path) -> Path:
    """The image file to add: NotFound when it is not there, UsageError for a folder."""
    image = Path(image).expanduser()
    if not image.exists():
        raise NotFound(f"{image} does not exist.", "Check the path of the image.")
    if image.is_dir():
        raise UsageError(
            f"{image} is a folder, not an image file.",
            "Give the path of one image file; to add many, list them in an AtoM CSV "
            "(identifier, title, digitalObjectPath) and use `imagear records import`.",
        )
    if not image.is_file():
        raise UsageError(f"{image} is not a file.", "Give the path of one image file.")
    return image


def find_identifier(app: App, identifier: str) -> int | None:
    """The id of a record with this identifier, or None."""
    return records_db.id_of_identifier(app.engine, identifier)


def add_unless_exists(
    app: App, image: Path, identifier: str | None = None, title: str | None = None
) -> tuple[Record, bool]:
    """:func:`add_record`, unless a record with its identifier (default: the file stem)
    exists: then that record and False, and nothing is copied or written (as
    :func:`import_csv` skips such a row). Refused on an AtoM/Heratio database, as adding is."""
    records_db.refuse_adding(app.engine)
    image = _source(image)
    key = identifier or image.stem
    # text no database can store (a NUL) is refused by add_record, before any query
    existing = None if text_problem(key, title) else find_identifier(app, key)
    if existing is not None:
        return get_record(app, existing), False
    return add_record(app, image, identifier, title), True


def _copy_atomic(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a hidden temporary file in its folder, renamed into
    place. The copy gets the permissions the umask gives a new file (0644 under umask 022),
    as ``cp`` does, so a web server reading images_root can serve it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".incoming-{secrets.token_hex(6)}"
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
            with src.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"Could not copy {src} to {dest}: {exc.strerror}.") from exc


def _check_utf8(path: Path) -> None:
    """Refuse a CSV that is not UTF-8 before importing any row (no half-imported files)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise UsageError(
                    f"{path} is not UTF-8 (line {line} has bytes that are not); nothing was imported.",
                    "Save the file as UTF-8 (AtoM's CSV format) and import it again.",
                ) from None
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} ends in the middle of a UTF-8 character; nothing was imported."
        ) from None


MAX_IDENTIFIER = 1024
"""information_object.identifier is VARCHAR(1024) in AtoM/Heratio and in imagear's schema."""


def text_problem(identifier: str, title: str | None, path: str | None = None) -> str | None:
    """Why a record's text cannot be stored the same way on every database, or None: a NUL
    character (PostgreSQL text cannot hold one), an identifier longer than its column."""
    for what, value in (("identifier", identifier), ("title", title), ("path", path)):
        if value and "\x00" in value:
            return f"the {what} contains a NUL character"
    if len(identifier) > MAX_IDENTIFIER:
        return (
            f"the identifier is {len(identifier):,} characters long; at most {MAX_IDENTIFIER:,} "
            "fit (information_object.identifier)"
        )
    return None


def _check_decodes(image: Path) -> None:
    """Decode the whole image now (as animating will), so a truncated or corrupt file is
    refused here rather than when it is animated (InvalidImage)."""
    from imagear.media import prepare_image

    prepare_image(image, (64, 64)).close()


def _rows(
    reader: csv.DictReader[str], report: ImportReport
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, row) of each readable row; an unreadable one (a field over the CSV
    module's limit, ...) is reported on its line and the import goes on."""
    rows = iter(reader)
    last = reader.line_num  # the bad row starts on the line after the last good one
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            report.errors.append(ImportFailure(last + 1, f"the row is not readable CSV ({exc})."))
            last = reader.line_num
            continue
        last = reader.line_num
        yield last, row


def import_csv(app: App, csv_path: Path, allow_duplicates: bool = False) -> ImportReport:
    """Import AtoM-style CSV (identifier, title, digitalObjectPath); bad rows are reported, not fatal.

    Relative ``digitalObjectPath`` values are relative to the CSV file's folder. A row whose
    identifier (default: the file stem) already exists, in the database or earlier in the file, is
    skipped and reported, so re-running a fixed file imports only what was missing. Refused
    (ReadOnlyRecords) on an AtoM/Heratio database before any row is read.
    """
    records_db.refuse_adding(app.engine)
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise NotFound(f"{csv_path} does not exist.", "Check the path of the CSV file.")
    _check_utf8(csv_path)
    report = ImportReport()
    seen: dict[str, int] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        try:
            fields = reader.fieldnames or []
        except csv.Error as exc:
            raise UsageError(f"{csv_path}: the header line is not readable CSV ({exc}).") from exc
        if "digitalObjectPath" not in fields:
            advice = (
                "Use AtoM's CSV columns: identifier, title, digitalObjectPath (comma-separated)."
            )
            if "digitalObjectURI" in fields:
                advice = "digitalObjectURI (remote files) is not supported: download the files and list their paths in digitalObjectPath."
            elif len(fields) == 1 and ";" in fields[0]:
                advice = "The header looks semicolon-separated; AtoM CSV uses commas."
            raise UsageError(
                f"{csv_path} has no digitalObjectPath column (found: {', '.join(fields) or 'none'}).",
                advice,
            )
        for line, row in _rows(reader, report):
            raw = (row.get("digitalObjectPath") or "").strip()
            if not raw:
                report.errors.append(ImportFailure(line, "digitalObjectPath is empty."))
                continue
            if _URL.match(raw):
                report.errors.append(
                    ImportFailure(
                        line,
                        f"{raw} is a URL; imagear imports local files: download it and give its path.",
                    )
                )
                continue
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = csv_path.parent / path
            identifier = (row.get("identifier") or "").strip() or path.stem
            problem = text_problem(identifier, row.get("title"), raw)
            if problem is not None:  # the same refusal on every database, before any query
                report.errors.append(ImportFailure(line, f"{problem}; the row was skipped."))
                continue
            if not allow_duplicates:
                existing = seen.get(identifier) or find_identifier(app, identifier)
                if existing:
                    report.skipped.append(
                        ImportSkip(
                            line, f"identifier {identifier!r} already exists (record {existing})."
                        )
                    )
                    continue
            try:
                rec = add_record(app, path, identifier, (row.get("title") or "").strip() or None)
            except ImagearError as err:
                report.errors.append(ImportFailure(line, err.message))
            else:
                report.added.append(rec)
                seen[identifier] = rec.id
    return report


def get_record(app: App, object_id: int) -> Record:
    """One record with its master image (if any) and its animation (if any)."""
    found = records_db.get(app.engine, object_id)
    if found is None:
        raise RecordNotFound(f"Record {object_id} does not exist.")
    try:
        master: MasterImage | None = master_image(app, object_id, found.master, check_file=False)
    except (NoMasterImage, UnsafePath):
        master = None
    return Record(
        id=found.id,
        identifier=found.identifier,
        title=found.title,
        master=master,
        animation=found.animation,
        has_master=master is not None,
        has_animation=found.animation is not None,
    )


def record_context(app: App, object_id: int) -> RecordContext:
    """The record's place in the hierarchy (AtoM) and its previous and next records."""
    return context_of(app.engine, object_id)


def list_records(app: App, limit: int = 100, offset: int = 0) -> tuple[list[RecordSummary], int]:
    """A page of records (with whether each has a master and an animation) and the total count."""
    return records_db.page(app.engine, limit, offset)


__all__ = [
    "ImportReport",
    "MasterImage",
    "Record",
    "RecordContext",
    "RecordSummary",
    "add_record",
    "add_unless_exists",
    "find_identifier",
    "find_master",
    "get_record",
    "import_csv",
    "list_records",
    "master_image",
    "record_context",
    "safe_join",
]
