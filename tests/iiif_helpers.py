"""Shared by the IIIF tests: validation with the iiif-prezi3 models (pydantic, strict)."""

from __future__ import annotations

from typing import Any

MEDIA_TYPE = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
CONTEXT = "http://iiif.io/api/presentation/3/context.json"


def valid_manifest(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` validated as a IIIF Presentation 3 Manifest (raises on any error)."""
    import iiif_prezi3

    iiif_prezi3.Manifest.model_validate(doc)
    assert doc["@context"] == CONTEXT
    return doc


def valid_collection(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` validated as a Collection, each item as a reference to a Manifest."""
    import iiif_prezi3

    iiif_prezi3.Collection.model_validate(doc)
    for item in doc["items"]:
        iiif_prezi3.ManifestRef.model_validate(item)
    assert doc["@context"] == CONTEXT
    return doc
