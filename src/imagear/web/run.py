"""Run the web console: check the extra, then the start-up `imagear serve` uses too
(:func:`imagear.server.run.start`: bind the socket, build the app, serve with uvicorn until
SIGTERM or SIGINT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from imagear.app import App
from imagear.errors import EngineUnavailable
from imagear.server.run import SERVER_HINT, address, log_level_name, start

if TYPE_CHECKING:
    from imagear.web.security import WebOptions

Progress = Callable[[str, str], None]


def serve(
    app: App,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8470,
    log_level: str = "info",
    progress: Progress | None = None,
    options: WebOptions | None = None,
    log_format: str = "text",
) -> str | None:
    """Serve the console until stopped; the name of the signal that stopped it, if any.
    EngineUnavailable without the ``server`` extra; UsageError / Failure for the socket.
    ``options``: Host names, sessions, body cap (:class:`~imagear.web.security.WebOptions`)."""
    level = log_level_name(log_level)
    try:
        import jinja2  # noqa: F401
        import uvicorn

        from imagear.web.app import create_app
    except ImportError as exc:
        raise EngineUnavailable(
            f"`imagear web` needs FastAPI, Jinja2, uvicorn and python-multipart ({exc}).",
            advice=SERVER_HINT + ".",
        ) from exc
    from dataclasses import replace

    from imagear.web.security import WebOptions

    given = options or WebOptions()
    options = replace(given, hosts=(host, *given.hosts))  # the bound name is always allowed
    _ = app.engine  # the database opens (created, upgraded) before the port is taken

    def ready() -> None:
        if progress is not None:
            progress("listening", f"imagear web on http://{address(host, port)}/")

    return start(
        lambda: create_app(app, token, options=options),
        uvicorn,
        host,
        port,
        level,
        ready,
        log_format,
    )


__all__ = ["serve"]
