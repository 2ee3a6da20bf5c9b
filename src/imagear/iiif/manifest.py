"""IIIF Presentation 3 documents built from typed values (:mod:`imagear.iiif.values`): a
record's Manifest (:func:`manifest`) and a page of the Collection (:func:`collection_page`).
Pure: no database, no files, no network; the same values give the same JSON.

A manifest has one Canvas (the clip's width, height and duration) whose painting annotation's
body is the clip (a Video, video/mp4); the poster is the canvas's thumbnail and its
``placeholderCanvas`` (what a viewer shows before playing); the master image is the
``accompanyingCanvas`` (with its IIIF Image service when it came from one). The metadata
says how the clip was made (:func:`disclosure`), and ``seeAlso`` points at the clip's
Content Credentials (:func:`credentials_link`) when it carries them.
"""

from __future__ import annotations

from imagear.domain import JSON, JSONObject
from imagear.iiif.values import (
    PRESENTATION_CONTEXT,
    CollectionPage,
    ImageService,
    ManifestSource,
    MasterView,
    Site,
)

KENBURNS = "kenburns"
C2PA_PROFILE = "https://c2pa.org/specifications/specifications/2.1/specs/C2PA_Specification.html"


def en(text: str) -> JSONObject:
    return {"en": [text]}


def none(text: str) -> JSONObject:
    return {"none": [text]}


def disclosure(model: str | None) -> str:
    """What the clip is, for the people who look at it: Ken Burns is a pan over the
    photograph; any other model invented the motion."""
    if (model or "").lower() == KENBURNS:
        return (
            "An animated pan over the photograph (Ken Burns effect): the picture is not "
            "changed, only framed in motion; no AI was used."
        )
    made = f" by {model}" if model else ""
    return (
        f"AI-generated clip: the motion was made{made} from the photograph and never "
        "happened; it is not a recording."
    )


def label_of(src: ManifestSource) -> JSONObject:
    """The record's titles as a language map (one entry per language)."""
    out: dict[str, list[JSON]] = {}
    for language, title in src.titles:
        if title:
            out.setdefault(language or "none", []).append(title)
    if not out:
        out["none"] = [src.identifier or f"Record {src.record_id}"]
    return dict(out)


def _pair(label: str, value: JSONObject) -> JSONObject:
    return {"label": en(label), "value": value}


def metadata(src: ManifestSource) -> list[JSON]:
    clip = src.clip
    pairs: list[JSON] = []
    if src.identifier:
        pairs.append(_pair("Identifier", none(src.identifier)))
    if clip.created_at is not None:
        pairs.append(_pair("Clip made", none(clip.created_at.isoformat())))
    if clip.ai_model:
        pairs.append(_pair("Model", none(clip.ai_model)))
    pairs.append(_pair("AI disclosure", en(disclosure(clip.ai_model))))
    return pairs


def _image_body(url: str, view: MasterView, service: ImageService | None) -> JSONObject:
    body: JSONObject = {
        "id": url,
        "type": "Image",
        "format": view.mime_type,
        "width": view.width,
        "height": view.height,
    }
    if service is not None:
        body["service"] = [image_service(service)]
    return body


def image_service(service: ImageService) -> JSONObject:
    """A IIIF Image service reference as Presentation 3 writes it."""
    return {
        "id": service.id,
        "type": "ImageService3" if service.version >= 3 else "ImageService2",
        "profile": f"level{service.level}",
    }


def _painted(canvas_id: str, name: str, body: JSONObject) -> JSONObject:
    """An AnnotationPage with one painting annotation of ``body`` on ``canvas_id``."""
    return {
        "id": f"{canvas_id}/page/{name}",
        "type": "AnnotationPage",
        "items": [
            {
                "id": f"{canvas_id}/annotation/{name}",
                "type": "Annotation",
                "motivation": "painting",
                "body": body,
                "target": canvas_id,
            }
        ],
    }


def credentials_link(site: Site, object_id: int) -> JSONObject:
    """``seeAlso``: the clip's Content Credentials (C2PA), which travel inside the MP4."""
    return {
        "id": site.video(object_id),
        "type": "Dataset",
        "format": "video/mp4",
        "profile": C2PA_PROFILE,
        "label": en("Content Credentials (C2PA) of the clip"),
    }


def manifest(site: Site, src: ManifestSource) -> JSONObject:
    """The record's IIIF Presentation 3 Manifest."""
    oid, clip = src.record_id, src.clip
    width, height = int(clip.mp4_width or 0), int(clip.mp4_height or 0)
    duration = float(clip.mp4_duration_secs or 0)
    manifest_id = site.manifest(oid)
    canvas_id = f"{site.url(f'/iiif/{oid}')}/canvas/clip"
    video: JSONObject = {
        "id": site.video(oid),
        "type": "Video",
        "format": "video/mp4",
        "width": width,
        "height": height,
        "duration": duration,
    }
    poster_view = MasterView(width, height, "image/jpeg")
    poster = _image_body(site.poster(oid), poster_view, None)
    placeholder_id = f"{canvas_id}/placeholder"
    canvas: JSONObject = {
        "id": canvas_id,
        "type": "Canvas",
        "label": en("Clip"),
        "width": width,
        "height": height,
        "duration": duration,
        "thumbnail": [dict(poster)],
        "placeholderCanvas": {
            "id": placeholder_id,
            "type": "Canvas",
            "width": width,
            "height": height,
            "items": [_painted(placeholder_id, "poster", dict(poster))],
        },
        "items": [_painted(canvas_id, "clip", video)],
    }
    if src.master is not None:
        canvas["accompanyingCanvas"] = master_canvas(site, oid, src.master)
    doc: JSONObject = {
        "@context": PRESENTATION_CONTEXT,
        "id": manifest_id,
        "type": "Manifest",
        "label": label_of(src),
        "summary": en(disclosure(clip.ai_model)),
        "metadata": metadata(src),
    }
    if site.attribution:
        doc["requiredStatement"] = _pair("Attribution", en(site.attribution))
    if site.rights:
        doc["rights"] = site.rights
    doc["homepage"] = [
        {
            "id": site.record_page(oid),
            "type": "Text",
            "label": en("The record"),
            "format": "text/html",
        }
    ]
    doc["provider"] = [provider(site)]
    doc["thumbnail"] = [dict(poster)]
    if src.credentials:
        doc["seeAlso"] = [credentials_link(site, oid)]
    doc["partOf"] = [{"id": site.collection(), "type": "Collection"}]
    doc["items"] = [canvas]
    return doc


def master_canvas(site: Site, object_id: int, view: MasterView) -> JSONObject:
    """The master image, as the clip canvas's ``accompanyingCanvas``."""
    canvas_id = f"{site.url(f'/iiif/{object_id}')}/canvas/master"
    url = view.service.full_image() if view.service else site.still(object_id)
    return {
        "id": canvas_id,
        "type": "Canvas",
        "label": en("The photograph"),
        "width": view.width,
        "height": view.height,
        "items": [_painted(canvas_id, "master", _image_body(url, view, view.service))],
    }


def provider(site: Site) -> JSONObject:
    home = site.provider_homepage or site.url("/")
    return {
        "id": home,
        "type": "Agent",
        "label": en(site.provider_label),
        "homepage": [
            {"id": home, "type": "Text", "label": en(site.provider_label), "format": "text/html"}
        ],
    }


def collection_page(
    site: Site, page: CollectionPage, label: str = "Animated records"
) -> JSONObject:
    """One page of the Collection of records a guest may see that have a clip. Pages are
    keyset pages (the records after an id), linked as ActivityStreams pages are: ``first`` on
    every page, ``next`` while more follow, ``partOf`` the first page on the later ones."""
    doc: JSONObject = {
        "@context": PRESENTATION_CONTEXT,
        "id": site.collection(page.after),
        "type": "Collection",
        "label": en(label),
        "provider": [provider(site)],
    }
    if site.attribution:
        doc["requiredStatement"] = _pair("Attribution", en(site.attribution))
    if site.rights:
        doc["rights"] = site.rights
    doc["first"] = {"id": site.collection(), "type": "Collection"}
    if page.next_after is not None:
        doc["next"] = {"id": site.collection(page.next_after), "type": "Collection"}
    if page.after is not None:
        doc["partOf"] = [{"id": site.collection(), "type": "Collection"}]
    doc["items"] = [
        {
            "id": site.manifest(item.record_id),
            "type": "Manifest",
            "label": none(item.title or item.identifier or f"Record {item.record_id}"),
            "thumbnail": [
                {"id": site.poster(item.record_id), "type": "Image", "format": "image/jpeg"}
            ],
        }
        for item in page.items
    ]
    return doc


__all__ = [
    "C2PA_PROFILE",
    "collection_page",
    "credentials_link",
    "disclosure",
    "image_service",
    "label_of",
    "manifest",
    "master_canvas",
    "metadata",
    "provider",
]
