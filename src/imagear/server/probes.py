"""`imagear serve`'s probes and what /health says of the server itself.

``GET /livez`` (the process answers; no token, no work) and ``GET /readyz`` (the default model
can run here: loaded, or its packages and weights are found; 503 with a one-line reason
otherwise) answer without the bearer token (:data:`OPEN`): they say nothing secret. /health
keeps Heratio's shape, but its ``status`` is ``"degraded"`` with that ``reason`` when the default
model cannot run here (:func:`status`), and it reports ``busy_slots`` and ``uptime_secs``
(:func:`ops`) beside ``queue_length`` and ``version``.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from imagear.engines import runtime
from imagear.models import get_model
from imagear.server import ServerSettings
from imagear.server.openapi import public_reason
from imagear.server.worker import Worker

OPEN = ("/livez", "/readyz")  # answered without the token


def not_ready(settings: ServerSettings, worker: Worker) -> str | None:
    """None when the default model can run here, else why not and what to do (one line, no
    local paths: it goes on the wire)."""
    desc = get_model(settings.default_model)
    if worker.is_loaded(desc):
        return None
    why = runtime.unavailable_reason(desc, settings.models_dir)
    if why is None:
        return None
    return (
        f"The default model {desc.name!r} cannot run on this server: {public_reason(why)} "
        "Install it here or start the server with another --model (GET /models)."
    )


def status(settings: ServerSettings, worker: Worker) -> dict[str, object]:
    """/health's ``status``: "ok", or "degraded" and the ``reason``."""
    reason = not_ready(settings, worker)
    return {"status": "ok"} if reason is None else {"status": "degraded", "reason": reason}


def ops(worker: Worker, started: float) -> dict[str, object]:
    """/health's ``busy_slots`` (one worker: one slot generates) and ``uptime_secs``."""
    return {
        "busy_slots": 1 if worker.busy else 0,
        "uptime_secs": round(time.monotonic() - started, 1),
    }


def router(settings: ServerSettings, worker: Worker) -> APIRouter:
    """The /livez and /readyz routes of one server."""
    probes = APIRouter()

    @probes.get("/livez")
    def livez() -> dict[str, str]:
        """Liveness: the process answers (no token, no work)."""
        return {"status": "alive"}

    @probes.get("/readyz")
    def readyz() -> JSONResponse:
        """Readiness: the default model can run here; 503 with the reason otherwise."""
        reason = not_ready(settings, worker)
        if reason is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)

    return probes


__all__ = ["OPEN", "not_ready", "ops", "router", "status"]
