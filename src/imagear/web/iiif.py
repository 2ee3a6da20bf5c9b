"""IIIF Presentation 3 over HTTP, without sign-in, for the records a guest may see
(:mod:`imagear.publication`): ``GET /iiif/{id}/manifest.json`` (a record's Manifest),
``GET /iiif/collection.json`` (the first page of the Collection) and
``GET /iiif/collection/after-{id}.json`` (the page after a record id). Served as the IIIF media
type, with ``Access-Control-Allow-Origin: *`` so that a viewer on another site (Mirador, the
Universal Viewer) may read them; a record a guest may not see is a 404, as a missing one.
The documents are built by :mod:`imagear.iiif.service`; ids are the site's own address (the
request's base URL)."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from imagear.domain import JSONObject
from imagear.iiif import service
from imagear.iiif.values import MEDIA_TYPE
from imagear.limits import MAX_ID
from imagear.web.deps import AppDep, RecordId

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Accept-Ranges, Content-Length",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Range, Content-Type",
    "Access-Control-Max-Age": "86400",
}

router = APIRouter()


def _document(doc: JSONObject) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {**CORS, "Cache-Control": "no-cache"}
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/iiif/{object_id}/manifest.json")
def manifest(object_id: RecordId, request: Request, app: AppDep) -> Response:
    site = service.site_of(app, _base(request))
    return _document(service.manifest(app, site, object_id))


@router.get("/iiif/collection.json")
def collection(request: Request, app: AppDep) -> Response:
    return _document(service.collection(app, service.site_of(app, _base(request))))


@router.get("/iiif/collection/{page}.json")
def collection_after(page: str, request: Request, app: AppDep) -> Response:
    found = re.fullmatch(r"after-([0-9]{1,10})", page)
    if found is None or int(found.group(1)) > MAX_ID:
        raise HTTPException(404, "There is no such page of the collection.")
    site = service.site_of(app, _base(request))
    return _document(service.collection(app, site, int(found.group(1))))


@router.options("/iiif/{rest:path}")
@router.options("/image-ar/{object_id}/{what}")
def preflight() -> Response:
    """CORS preflight of a viewer on another site (a Range request, an Accept header)."""
    return Response(status_code=204, headers=PREFLIGHT)


__all__ = ["CORS", "router"]
