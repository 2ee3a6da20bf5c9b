"""Run the web console: check the extra, bind the socket, build the app, serve with uvicorn
until SIGTERM or SIGINT (the socket and signal helpers of :mod:`imagear.server.run`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from imagear.app import App
from imagear.errors import EngineUnavailable
from imagear.server.run import SERVER_HINT, address, listen, log_level_name, serve_forever

Progress = Callable[[str, str], None]


def serve(
    app: App,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8470,
    log_level: str = "info",
    progress: Progress | None = None,
) -> str | None:
    """Serve the console until stopped; the name of the signal that stopped it, if any.
    EngineUnavailable without the ``server`` extra; UsageError / Failure for the socket."""
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
    _ = app.engine  # the database opens (created, upgraded) before the port is taken
    sock = listen(host, port)
    try:
        web = create_app(app, token)
    except BaseException:
        sock.close()
        raise
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if progress is not None:
        progress("listening", f"imagear web on http://{address(host, port)}/")
    return serve_forever(uvicorn, web, sock, level)


__all__ = ["serve"]
