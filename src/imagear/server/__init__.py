"""`imagear serve`: Heratio's image-to-video wire protocol over HTTP (REFERENCE.md section 1).

Modules:

- :mod:`imagear.server.app`: the ASGI app (auth/log gate, routes, :class:`ServerState`);
- :mod:`imagear.server.upload`: the streamed multipart upload, form fields -> options, image checks;
- :mod:`imagear.server.worker`: the single generation thread behind a bounded queue;
- :mod:`imagear.server.run`: binding the socket, running uvicorn, stopping on a signal.

What this host can run and what its GPU is come from :mod:`imagear.engines.runtime`, shared with
the in-process path. Importing this package is cheap: FastAPI, Starlette, uvicorn and
python-multipart (``pip install 'imagear[server]'``) are imported by the modules that need them,
and ``create_app`` / ``ServerState`` are looked up from :mod:`imagear.server.app` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagear.quality import Thresholds

if TYPE_CHECKING:
    from imagear.provenance.identity import Identity

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """How `imagear serve` runs; every field has a command-line option."""

    default_model: str = "svd"
    models_dir: Path | None = None
    low_vram: bool = False
    device: str | None = None  # "cuda", "cpu", ...; None: the engine picks
    queue_size: int = 4  # requests that may wait behind the one being generated
    max_upload_bytes: int = 100 * MB
    # Seconds for a whole upload to arrive (then 408). Uploads are read before a queue slot is
    # taken, so a slow or stalled client never holds a slot, only its own connection.
    upload_timeout: float | None = 120.0
    max_pixels: int | None = None  # None: imagear.media.MAX_IMAGE_PIXELS
    # Memory for decoded pixels (imagear.server.budget): an image needing more than all of it
    # is refused with 413 before it is queued; a queued request holds only its upload on disk,
    # decoded by the worker when its turn comes (one image at a time).
    decode_budget_bytes: int = 1024 * MB
    token: str = ""  # when set, every request needs Authorization: Bearer <token>
    # Uploads and clips in flight. None: a fresh temp folder, made when the server starts (in
    # its lifespan) and removed when it stops; nothing is made by merely building the app.
    tmp_dir: Path | None = None
    preload: bool = False  # load the default model at start (`imagear serve` turns it on)
    # every clip passes imagear's quality gate before it is sent; a refused one gets a 500
    # {"error": ..., "type": "QualityRejected"} (see imagear.quality)
    quality: Thresholds = field(default_factory=Thresholds)
    # (host, port) of a second listener serving only /metrics, without auth (--metrics-port)
    metrics_listen: tuple[str, int] | None = None
    # signs the Content Credentials of every clip sent (imagear.server.signing); None: unsigned
    c2pa: Identity | None = None


_LAZY = {"ServerState": "imagear.server.app", "create_app": "imagear.server.app"}


def __getattr__(name: str) -> Any:
    """``create_app`` and ``ServerState``, imported (with FastAPI) only when asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["MB", "ServerSettings", "ServerState", "create_app"]
