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

import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path

from imagear.app import App
from imagear.db import clips as clips_db
from imagear.db import records as records_db
from imagear.db.rows import FileRow
from imagear.db.schema import TITLE_LENGTH, USAGE_EXTERNAL, USAGE_MASTER
from imagear.domain import (
    ImportReport,
    MasterImage,
    Record,
    RecordSummary,
)
from imagear.errors import (
    ImageMissing,
    NoMasterImage,
    NotFound,
    RecordNotFound,
    StorageError,
    UnsafePath,
    UsageError,
)

_SAFE_NAME = re.compile(r"[^\w.-]+")  # \w is Unicode-aware: "Hafen ü.jpg" keeps its ü


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
        heratio = clips_db.is_heratio(app.engine)  # records' files are AtoM's to add there
        raise NoMasterImage(
            f"Record {object_id} has no master image (no top-level image/* digital object).",
            "Attach an image to the record in Heratio; imagear does not add files to "
            "an AtoM/Heratio database."
            if heratio
            else "Attach an image with {add:IMAGE}.",
        )
    from imagear.iiif import is_remote

    if is_remote(row.get("path")):  # a IIIF service (AtoM's external object, usage 166)
        from imagear.iiif import fetch

        url = str(row.get("path")).strip()
        file = fetch.cached_file(app.config, url)
        if check_file and not file.is_file():
            file = fetch.fetch_master(app.config, url).file
        return _master(row, file)
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
    return _master(row, file)


def _master(row: FileRow, file: Path) -> MasterImage:
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


def add_iiif(app: App, url: str, identifier: str | None = None, title: str | None = None) -> Record:
    """A new record whose master is the image of the IIIF Image service at ``url`` (its base
    URI or info.json): fetched now at the size the models need (MediaError: unreachable, not
    IIIF, too big, needs IIIF Auth; nothing is added), kept in the cache, and named by an
    external digital object (usage 166, as AtoM names a remote file) whose path is the URL."""
    from imagear.iiif import fetch
    from imagear.media import sniff_mime

    records_db.refuse_adding(app.engine)
    if not fetch.is_remote(url):
        raise UsageError(f"{url!r} is not an http(s) URL of a IIIF Image service.")
    got = fetch.fetch_master(app.config, url)
    _check_decodes(got.file)
    stem = got.info.id.rstrip("/").rsplit("/", 1)[-1] or "iiif"
    identifier, title = identifier or stem, title or stem
    problem = text_problem(identifier, title, url)
    if problem is not None:
        raise UsageError(f"The record cannot be added: {problem}.")
    checksum, size = _hash_file(got.file)
    with records_db.adding(app.engine, identifier, title) as new:
        new.add_file(
            usage_id=USAGE_EXTERNAL,
            mime_type=sniff_mime(got.file),
            name=(_SAFE_NAME.sub("_", stem).strip("._") or "iiif") + ".jpg",
            path=got.info.id,
            byte_size=size,
            checksum=checksum,
            checksum_type="sha256",
            parent_id=None,
            sequence=0,
        )
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


MAX_IDENTIFIER = 1024
"""information_object.identifier is VARCHAR(1024) in AtoM/Heratio and in imagear's schema."""
MAX_TITLE = TITLE_LENGTH
"""A title is VARCHAR(1024) in AtoM/Heratio, and in imagear's schema on MySQL/MariaDB."""


def text_problem(identifier: str, title: str | None, path: str | None = None) -> str | None:
    """Why a record's text cannot be stored the same way on every database, or None: a NUL
    character (PostgreSQL text cannot hold one), an identifier or title longer than its
    column."""
    for what, value in (("identifier", identifier), ("title", title), ("path", path)):
        if value and "\x00" in value:
            return f"the {what} contains a NUL character"
    for what, value, most in (
        ("identifier", identifier, MAX_IDENTIFIER),
        ("title", title, MAX_TITLE),
    ):
        if value and len(value) > most:
            return (
                f"the {what} is {len(value):,} characters long; at most {most:,} fit "
                f"(information_object.{what}, as in AtoM)"
            )
    return None


def _check_decodes(image: Path) -> None:
    """Decode the whole image now (as animating will), so a truncated or corrupt file is
    refused here rather than when it is animated (InvalidImage)."""
    from imagear.media import prepare_image

    prepare_image(image, (64, 64)).close()


def get_record(app: App, object_id: int, *, check_file: bool = False) -> Record:
    """One record with its master image (if any) and its animation (if any, with a video).
    ``check_file``: a master whose file is not on disk is ImageMissing (every place looked
    at), as ``records show`` promises (exit 3)."""
    found = records_db.get(app.engine, object_id)
    if found is None:
        raise RecordNotFound(f"Record {object_id} does not exist.")
    try:
        master: MasterImage | None = master_image(
            app, object_id, found.master, check_file=check_file
        )
    except (NoMasterImage, UnsafePath):
        master = None
    return Record(
        id=found.id,
        identifier=found.identifier,
        title=found.title,
        master=master,
        animation=found.animation,
        has_master=master is not None,
        has_animation=found.animation is not None and found.animation.has_video,
    )


def list_records(app: App, limit: int = 100, offset: int = 0) -> tuple[list[RecordSummary], int]:
    """A page of records (with whether each has a master and an animation) and the total count."""
    return records_db.page(app.engine, limit, offset)


__all__ = [
    "ImportReport",
    "MasterImage",
    "Record",
    "RecordSummary",
    "add_record",
    "add_unless_exists",
    "find_identifier",
    "find_master",
    "get_record",
    "list_records",
    "master_image",
    "safe_join",
]
