"""Records and their master images.

A record is an ``information_object``; its master image is the top-level ``image/*``
``digital_object`` preferring usage 140 (master), then 141 (reference), then 142 (thumbnail),
exactly as Heratio picks it. On disk a digital object lives at
``{images_root}/{path without leading slash}/{name}``; a stored path or name that would leave the
images root (``..``, an absolute name, a symlink pointing out) is refused.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagear.app import App
from imagear.db import records as records_db
from imagear.db.schema import USAGE_MASTER
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


@dataclass
class MasterImage:
    digital_object_id: int
    usage_id: int | None
    mime_type: str | None
    name: str
    path: str
    byte_size: int | None
    checksum: str | None
    file: Path  # where it is on disk (checked to be inside images_root)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["file"] = str(self.file)
        return data


@dataclass
class Record:
    id: int
    identifier: str | None
    title: str | None
    master: MasterImage | None = None
    animation: dict[str, Any] | None = None
    has_master: bool = False
    has_animation: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["master"] = self.master.as_dict() if self.master else None
        return data

    def summary(self) -> dict[str, Any]:
        """The listing's view: no master/animation detail (see ``as_dict`` for `show`)."""
        keys = ("id", "identifier", "title", "has_master", "has_animation")
        return {k: getattr(self, k) for k in keys}


@dataclass
class ImportReport:
    added: list[Record] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (CSV line number, message)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # already imported

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [r.as_dict() for r in self.added],
            "errors": [{"line": line, "error": msg} for line, msg in self.errors],
            "skipped": [{"line": line, "reason": msg} for line, msg in self.skipped],
        }


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


def master_image(
    app: App, object_id: int, row: dict[str, Any] | None, *, check_file: bool = True
) -> MasterImage:
    """The master image of a record from its digital_object ``row`` (None: it has none),
    located on disk; raises NoMasterImage, UnsafePath or (``check_file``) ImageMissing."""
    if row is None or row.get("id") is None:
        raise NoMasterImage(
            f"Record {object_id} has no master image (no top-level image/* digital object)."
        )
    file = safe_join(app.config.images_root, row.get("path"), row.get("name"))
    if check_file and not file.is_file():
        raise ImageMissing(
            f"The master image of record {object_id} should be at {file} but is not there.",
            "Check images_root (`imagear config show`) or restore the file.",
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
    """Copy ``image`` under the images root and make it a new record's master (usage 140)."""
    from imagear.media import sniff_mime

    image = Path(image).expanduser()
    if not image.exists():
        raise NotFound(f"{image} does not exist.", "Check the path of the image.")
    if not image.is_file():
        raise UsageError(f"{image} is not a file.")
    mime = sniff_mime(image)
    checksum, size = _hash_file(image)
    name = _SAFE_NAME.sub("_", image.name).strip("._") or "image"
    with records_db.adding(app.engine, identifier or image.stem, title or image.stem) as new:
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


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".incoming-")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
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


def _identifier_exists(app: App, identifier: str) -> int | None:
    return records_db.id_of_identifier(app.engine, identifier)


def import_csv(app: App, csv_path: Path, allow_duplicates: bool = False) -> ImportReport:
    """Import AtoM-style CSV (identifier, title, digitalObjectPath); bad rows are reported, not fatal.

    Relative ``digitalObjectPath`` values are relative to the CSV file's folder. A row whose
    identifier (default: the file stem) already exists, in the database or earlier in the file, is
    skipped and reported, so re-running a fixed file imports only what was missing.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise NotFound(f"{csv_path} does not exist.", "Check the path of the CSV file.")
    _check_utf8(csv_path)
    report = ImportReport()
    seen: dict[str, int] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
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
        for row in reader:
            line = reader.line_num
            raw = (row.get("digitalObjectPath") or "").strip()
            if not raw:
                report.errors.append((line, "digitalObjectPath is empty."))
                continue
            if _URL.match(raw):
                report.errors.append(
                    (
                        line,
                        f"{raw} is a URL; imagear imports local files: download it and give its path.",
                    )
                )
                continue
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = csv_path.parent / path
            identifier = (row.get("identifier") or "").strip() or path.stem
            if not allow_duplicates:
                existing = seen.get(identifier) or _identifier_exists(app, identifier)
                if existing:
                    report.skipped.append(
                        (line, f"identifier {identifier!r} already exists (record {existing}).")
                    )
                    continue
            try:
                rec = add_record(app, path, identifier, (row.get("title") or "").strip() or None)
            except ImagearError as err:
                report.errors.append((line, err.message))
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
        id=int(found.record["id"]),
        identifier=found.record.get("identifier"),
        title=found.record.get("title"),
        master=master,
        animation=found.animation,
        has_master=master is not None,
        has_animation=found.animation is not None,
    )


def list_records(app: App, limit: int = 100, offset: int = 0) -> tuple[list[Record], int]:
    """A page of records (with whether each has a master and an animation) and the total count."""
    rows, total = records_db.page(app.engine, limit, offset)
    return [
        Record(
            id=int(r["id"]),
            identifier=r["identifier"],
            title=r["title"],
            has_master=r["has_master"],
            has_animation=r["has_animation"],
        )
        for r in rows
    ], total


__all__ = [
    "ImportReport",
    "MasterImage",
    "Record",
    "add_record",
    "find_master",
    "get_record",
    "import_csv",
    "list_records",
    "master_image",
    "safe_join",
]
