"""IIIF: clips as IIIF Presentation 3 manifests and a paged collection (:mod:`.manifest`,
pure builders over :mod:`.values`; :mod:`.service` reads what they need), and masters read
from IIIF Image API services (:mod:`.image`: info.json and the size to fetch, pure;
:mod:`.fetch`: HTTP and the cache)."""

import re

URL = re.compile(r"^https?://", re.IGNORECASE)


def is_remote(path: str | None) -> bool:
    """Whether a digital object's stored path is a URL (AtoM's external objects, usage 166,
    and records added from a IIIF service). Here, not in :mod:`.fetch`: every record's master
    is asked this, and a local one then never imports the HTTP side."""
    return bool(path and URL.match(path.strip()))


__all__ = ["URL", "is_remote"]
