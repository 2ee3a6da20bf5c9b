"""The console's probes: ``GET /livez`` (the process answers: no sign-in, no work) and
``GET /readyz`` (the database answers and ``ar_model`` can run here or on the configured
server; 503 with a one-line reason otherwise). Neither needs a session or the token; the Host
check and the security headers of :class:`~imagear.web.security.Guard` still apply."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from imagear.errors import ImagearError
from imagear.web.deps import ConsoleDep
from imagear.web.wording import one_line

if TYPE_CHECKING:
    from imagear.animate import Animator
    from imagear.wire import Health

log = logging.getLogger("imagear.web")

READY_TIMEOUT = 5.0  # seconds /readyz waits for the image-to-video server's /health

router = APIRouter()


@router.get("/livez")
def livez() -> dict[str, str]:
    """Liveness: the console answers."""
    return {"status": "alive"}


@router.get("/readyz")
def readyz(console: ConsoleDep) -> JSONResponse:
    """Readiness: the database and ``ar_model`` (503 with the reason when not ready)."""
    reason = not_ready(console.worker.animator, READY_TIMEOUT)
    if reason is None:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)


def not_ready(animator: Animator, timeout: float) -> str | None:
    """None when a clip can be made, else why not (one line, what to do, no secrets)."""
    from imagear.generators import default_model_problem, server_models
    from imagear.models import get_model

    try:
        settings = animator.settings()  # reads image_ar_settings: the database answers
    except ImagearError as err:
        return one_line(err)
    except Exception as exc:  # the driver's error may name the database URL: log it only
        log.warning("readyz: the database did not answer: %s", exc)
        return (
            "The database cannot be reached: check that it runs and the database settings "
            "of imagear.toml (the console's log has the driver's error)."
        )
    try:
        desc = get_model(settings.ar_model)
        health = _health(animator, timeout)
    except ImagearError as err:
        return one_line(err)
    if health.local:
        problem = default_model_problem(desc, animator.app.config)
        return one_line(problem) if problem is not None else None
    if health.degraded and health.default_model == desc.name:
        why = health.extra.get("reason") or "its default model cannot run there."
        return f"The image-to-video server at {health.url} is up but degraded: {why}"
    if desc.name not in server_models(health):
        return (
            f"The image-to-video server at {health.url} cannot serve model {desc.name} "
            "(ar_model): load it there, or set ar_model to a model it offers."
        )
    return None


def _health(animator: Animator, timeout: float) -> Health:
    """The server's /health (or the in-process engines'), given up on after ``timeout``."""
    from imagear.errors import ServerTimeout

    box: dict[str, object] = {}

    def ask() -> None:
        try:
            box["health"] = animator.health()
        except BaseException as exc:  # handed to the waiting request below
            box["error"] = exc

    thread = threading.Thread(target=ask, name="imagear-readyz", daemon=True)
    thread.start()
    thread.join(timeout)
    error = box.get("error")
    if isinstance(error, ImagearError):
        raise error
    if error is not None:  # unexpected: its text (hosts, URLs) goes to the log only
        log.warning("readyz: checking ar_model failed: %r", error)
        raise ServerTimeout("Checking ar_model failed unexpectedly (the console's log says why).")
    health = box.get("health")
    if health is None:
        raise ServerTimeout(
            f"The image-to-video server did not answer /health within {timeout:g} s.",
            "Check that it runs and is not stuck ({see:health}).",
        )
    return cast("Health", health)


__all__ = ["READY_TIMEOUT", "not_ready", "router"]
