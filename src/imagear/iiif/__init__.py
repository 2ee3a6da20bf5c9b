"""IIIF: clips as IIIF Presentation 3 manifests and a paged collection (:mod:`.manifest`,
pure builders over :mod:`.values`; :mod:`.service` reads what they need), and masters read
from IIIF Image API services (:mod:`.image`: info.json and the size to fetch, pure;
:mod:`.fetch`: HTTP and the cache)."""
