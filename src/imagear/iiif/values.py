"""What the IIIF builders are handed: typed, already read (no I/O here), so that the web
console, ``imagear iiif export`` and the tests build the same documents from the same values.

URLs follow one layout (:class:`Site`): ``{base}/iiif/{id}/manifest.json``,
``{base}/iiif/collection.json`` (the first page of the collection) and
``{base}/iiif/collection/after-{id}.json`` (the page of the records after ``id``), the clip,
poster and master at the console's own addresses (``{base}/image-ar/{id}/video`` ...), the
record page at ``{base}/records/{id}``. The static export writes the same paths as files.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from imagear.domain import Clip

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
MEDIA_TYPE = f'application/ld+json;profile="{PRESENTATION_CONTEXT}"'
"""The IIIF Presentation 3 media type manifests and collections are served as."""

PAGE_SIZE = 500
"""Manifests per collection page."""


@dataclass(frozen=True)
class Site:
    """Where the documents live and what the install says about itself (config keys
    ``iiif_attribution``, ``iiif_rights``, ``iiif_provider``, ``iiif_provider_homepage``)."""

    base_url: str
    attribution: str = ""
    rights: str = ""
    provider: str = ""
    provider_homepage: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def manifest(self, object_id: int) -> str:
        return self.url(f"/iiif/{object_id}/manifest.json")

    def collection(self, after: int | None = None) -> str:
        if after is None:
            return self.url("/iiif/collection.json")
        return self.url(f"/iiif/collection/after-{after}.json")

    def video(self, object_id: int) -> str:
        return self.url(f"/image-ar/{object_id}/video")

    def poster(self, object_id: int) -> str:
        return self.url(f"/image-ar/{object_id}/poster")

    def still(self, object_id: int) -> str:
        """The master as guests may see it: a derivative (the master route is for signed-in
        users only)."""
        return self.url(f"/image-ar/{object_id}/still")

    def record_page(self, object_id: int) -> str:
        return self.url(f"/records/{object_id}")

    @property
    def provider_label(self) -> str:
        return self.provider or urlsplit(self.base_url).hostname or "imagear"


@dataclass(frozen=True)
class ImageService:
    """A IIIF Image API service a master came from: its id (base URI), API version (2 or
    3) and compliance level (0, 1 or 2)."""

    id: str
    version: int
    level: int

    def full_image(self) -> str:
        return f"{self.id}/full/{'max' if self.version >= 3 else 'full'}/0/default.jpg"


@dataclass(frozen=True)
class MasterView:
    """The master image as the manifest shows it: its size and type, and the IIIF Image
    service it came from (None: a derivative served by the console at ``/image-ar/{id}/still``)."""

    width: int
    height: int
    mime_type: str = "image/jpeg"
    service: ImageService | None = None


@dataclass(frozen=True)
class ManifestSource:
    """One record's manifest: its titles (language, title; language ``none`` where the
    database keeps no culture), its clip (an ``object_image_ar`` row with width, height and
    duration), its master and whether the clip carries Content Credentials (C2PA)."""

    record_id: int
    identifier: str | None
    titles: tuple[tuple[str, str], ...]
    clip: Clip
    master: MasterView | None = None
    credentials: bool = False


@dataclass(frozen=True)
class CollectionItem:
    """A record of the collection: its id and its title (or None)."""

    record_id: int
    title: str | None
    identifier: str | None = None


@dataclass(frozen=True)
class CollectionPage:
    """One page of the collection: the records after ``after`` (None: the first page), and
    ``next_after`` (the id the next page starts after; None: this is the last page)."""

    items: tuple[CollectionItem, ...]
    after: int | None = None
    next_after: int | None = None


__all__ = [
    "MEDIA_TYPE",
    "PAGE_SIZE",
    "PRESENTATION_CONTEXT",
    "CollectionItem",
    "CollectionPage",
    "ImageService",
    "ManifestSource",
    "MasterView",
    "Site",
]
