"""``imagear iiif export``: the manifests and the collection the web console serves
(:mod:`imagear.web.iiif`), written as static files under the same paths
(``{out}/iiif/{id}/manifest.json``, ``{out}/iiif/collection.json``,
``{out}/iiif/collection/after-{id}.json``) for any web server to publish at ``base_url``.
Only records a guest may see; each file is written whole (a temporary file renamed)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from imagear.app import App
from imagear.domain import JSONObject
from imagear.errors import AnimationNotFound, StorageError
from imagear.iiif import service
from imagear.iiif.manifest import collection_page
from imagear.iiif.values import Site


@dataclass
class ExportReport:
    """What an export wrote: the folder, the manifests (record ids), the collection's pages."""

    out: Path
    manifests: list[int] = field(default_factory=list)
    pages: int = 0
    skipped: list[int] = field(default_factory=list)  # records whose clip file is missing


def _path_of(site: Site, out: Path, url: str) -> Path:
    return out / url[len(site.base_url) :].lstrip("/")


def _write(path: Path, doc: JSONObject) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".part-{secrets.token_hex(6)}"
    try:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"Could not write {path}: {exc.strerror}.") from exc


def export_one(app: App, site: Site, out: Path, object_id: int) -> ExportReport:
    """Record ``object_id``'s manifest (RecordNotFound / AnimationNotFound as the web's 404)."""
    report = ExportReport(out)
    _write(_path_of(site, out, site.manifest(object_id)), service.manifest(app, site, object_id))
    report.manifests.append(object_id)
    return report


def export_all(app: App, site: Site, out: Path) -> ExportReport:
    """Every manifest and every page of the collection."""
    report = ExportReport(out)
    after: int | None = None
    while True:
        page = service.collection_page(app, after)
        for item in page.items:
            oid = item.record_id
            try:
                doc = service.manifest(app, site, oid)
            except AnimationNotFound:
                report.skipped.append(oid)
                continue
            _write(_path_of(site, out, site.manifest(oid)), doc)
            report.manifests.append(oid)
        _write(_path_of(site, out, site.collection(after)), collection_page(site, page))
        report.pages += 1
        if page.next_after is None:
            return report
        after = page.next_after


__all__ = ["ExportReport", "export_all", "export_one"]
