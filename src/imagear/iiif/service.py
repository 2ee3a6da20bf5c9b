"""The IIIF documents of an install: reads what the builders need (the record, its titles,
its clip and its files, whether a guest may see it) and hands it to
:mod:`imagear.iiif.manifest`. Used by the web console (``/iiif/...``) and ``imagear iiif
export``; both show only records a guest may see (:mod:`imagear.publication`), and a record
a guest may not see is "not found", as one that does not exist."""

from __future__ import annotations

import struct
from pathlib import Path

from imagear import store
from imagear.app import App
from imagear.db import iiif as iiif_db
from imagear.domain import JSONObject, MasterImage
from imagear.errors import AnimationNotFound, ImagearError, NoMasterImage, UnsafePath
from imagear.iiif import manifest as build
from imagear.iiif.values import (
    PAGE_SIZE,
    CollectionItem,
    CollectionPage,
    ManifestSource,
    MasterView,
    Site,
)
from imagear.publication import public
from imagear.records import master_image

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
"""The ``uuid`` box type of a C2PA manifest store embedded in an MP4 (BMFF)."""


def site_of(app: App, base_url: str) -> Site:
    """The :class:`Site` of this install at ``base_url`` (the config's ``iiif_*`` keys)."""
    c = app.config
    return Site(
        base_url,
        attribution=c.iiif_attribution,
        rights=c.iiif_rights,
        provider=c.iiif_provider,
        provider_homepage=c.iiif_provider_homepage,
    )


def manifest_source(app: App, object_id: int) -> ManifestSource:
    """What record ``object_id``'s manifest shows; AnimationNotFound when a guest may not
    see it, it does not exist or it has no playable clip (one answer for all three, so that a
    hidden record cannot be told from a missing one)."""
    rows = iiif_db.manifest_rows(app.engine, object_id, public(app))
    clip = rows.clip if rows is not None else None
    file = store.file_of(app.config, clip) if clip is not None else None
    if (
        rows is None
        or clip is None
        or file is None
        or not file.is_file()
        or not (clip.mp4_width and clip.mp4_height and clip.mp4_duration_secs)
    ):
        raise AnimationNotFound(
            f"Record {object_id} has no clip that can be shown.", params={"object_id": object_id}
        )
    try:
        master = master_image(app, object_id, rows.master, check_file=False)
    except (NoMasterImage, UnsafePath):
        master = None
    return ManifestSource(
        record_id=object_id,
        identifier=rows.identifier,
        titles=tuple(rows.titles),
        clip=clip,
        master=master_view(app, master),
        credentials=has_content_credentials(file),
    )


def manifest(app: App, site: Site, object_id: int) -> JSONObject:
    """Record ``object_id``'s IIIF Presentation 3 Manifest."""
    return build.manifest(site, manifest_source(app, object_id))


def collection_page(app: App, after: int | None = None, limit: int | None = None) -> CollectionPage:
    """The records a guest may see that have a clip, after id ``after`` (:data:`PAGE_SIZE`
    of them unless ``limit``)."""
    rows, more = iiif_db.collection_page(app.engine, after, limit or PAGE_SIZE, public(app))
    items = tuple(CollectionItem(r.id, r.title, r.identifier) for r in rows)
    next_after = items[-1].record_id if more and items else None
    return CollectionPage(items, after, next_after)


def collection(app: App, site: Site, after: int | None = None) -> JSONObject:
    """One page of the IIIF Collection."""
    return build.collection_page(site, collection_page(app, after))


def master_view(app: App, master: MasterImage | None) -> MasterView | None:
    """The master as the manifest shows it: its size read from the file's header (None when
    it has none, or its file is missing or unreadable)."""
    if master is None:
        return None
    from imagear.iiif.fetch import service_of

    service = service_of(app, master)
    if service is not None:
        return service
    size = image_size(master.file)
    if size is None:
        return None
    return MasterView(size[0], size[1], master.mime_type or "image/jpeg")


def image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (OSError, ValueError, ImagearError):
        return None


def has_content_credentials(path: Path) -> bool:
    """Whether the MP4 carries a C2PA manifest store: a top-level ``uuid`` box with the C2PA
    UUID (only the box headers are read)."""
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            at = 0
            while at + 8 <= size:
                fh.seek(at)
                head = fh.read(8)
                length, kind = struct.unpack(">I4s", head)
                header = 8
                if length == 1:
                    length = struct.unpack(">Q", fh.read(8))[0]
                    header = 16
                elif length == 0:
                    length = size - at
                if kind == b"uuid" and fh.read(16) == C2PA_UUID:
                    return True
                if length < header:
                    return False
                at += length
    except (OSError, struct.error):
        return False
    return False


__all__ = [
    "collection",
    "collection_page",
    "has_content_credentials",
    "manifest",
    "manifest_source",
    "master_view",
    "site_of",
]
