"""Running `imagear serve` and `imagear web`: read the token, bind the socket, build the app,
run uvicorn, stop on a signal. :func:`start` is the start-up both share (:func:`serve` here,
:func:`imagear.web.run.serve`); :func:`read_token` is their one token reader.

The listening socket is bound before anything is loaded, so a taken port or a bad host is one
clear error (:class:`~imagear.errors.Failure`, exit 1, or :class:`~imagear.errors.UsageError`,
exit 2), and uvicorn is handed that socket. SIGTERM and SIGINT stop the server gracefully (the
running generation finishes) and :func:`serve` returns normally: for a service, being told to
stop is a normal end, and systemd counts it as a clean stop.

Nothing here prints: warnings and the "listening" line go to the caller's ``progress`` callback
(the CLI renders them). Importing this module is cheap; uvicorn and the app (FastAPI) are
imported by :func:`load`, which names the extra to install when they are missing.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import TYPE_CHECKING

from imagear.errors import ConfigError, EngineUnavailable, Failure, UsageError
from imagear.server import ServerSettings

log = logging.getLogger("imagear.server")

SERVER_HINT = "Install it with: pip install 'imagear[server]'"
LOG_LEVELS = ("debug", "info", "warning", "error")
MIN_TOKEN = 16
"""The shortest token `imagear serve` and `imagear web` accept."""

if TYPE_CHECKING:
    from starlette.types import ASGIApp

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
"""A signal's handler, as :func:`signal.signal` takes and gives it back."""

Progress = Callable[[str, str], None]
"""``progress(event, message)``: event is "warning" or "listening"."""


def load() -> tuple[ModuleType, ModuleType]:
    """(uvicorn, imagear.server.app) or EngineUnavailable naming the extra to install."""
    try:
        import uvicorn

        from imagear.server import app
    except ImportError as exc:
        raise EngineUnavailable(
            f"`imagear serve` needs FastAPI, uvicorn and python-multipart ({exc}).",
            advice=SERVER_HINT + ".",
        ) from exc
    return uvicorn, app


def log_level_name(value: str) -> str:
    """``value`` as one of LOG_LEVELS, or UsageError (exit 2)."""
    level = value.strip().lower()
    if level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be debug, info, warning or error, not {value!r}.")
    return level


def loopback(host: str) -> bool:
    """True when ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """Bind host:port now, before any model is loaded, so a taken port or a bad address is one
    clear error: UsageError (exit 2) for a host this machine cannot listen on, Failure (exit 1)
    for a port that is in use or not allowed."""
    if re.fullmatch(r"[\d.]+|.*:.*", host):  # looks numeric: never ask DNS about it
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise _bad_host(host, "it is not a valid IP address") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise _bind_error(exc, host, port) from exc
    return sock


def _bad_host(host: str, why: str) -> UsageError:
    return UsageError(
        f"--host {host!r} is not an address this machine can listen on: {why}.",
        "Use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an IP address of this "
        "host.",
    )


def _bind_error(exc: OSError, host: str, port: int) -> UsageError | Failure:
    where = address(host, port)
    why = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return _bad_host(host, why)
    if exc.errno == errno.EADDRINUSE:
        return Failure(
            f"Cannot listen on {where}: address already in use.",
            "Pick another --port or stop the other server.",
        )
    if exc.errno == errno.EACCES:
        return Failure(
            f"Cannot listen on {where}: permission denied.",
            "Ports below 1024 need extra privileges: pick --port 1024 or above.",
        )
    return Failure(f"Cannot listen on {where}: {why}.")


def serve_forever(uvicorn: ModuleType, app: ASGIApp, sock: socket.socket, level: str) -> str | None:
    """Run uvicorn on the bound socket until SIGTERM or SIGINT; the signal's name, if any.

    uvicorn stops gracefully on either signal and then raises it again, which would end the
    process with 143 (SIGTERM) or a KeyboardInterrupt (SIGINT). Handlers set here receive that
    re-raised signal instead, so a requested stop returns normally and the command exits 0.
    The socket is closed when this returns.
    """
    config = uvicorn.Config(app, log_level=level, access_log=False, log_config=None)
    server = uvicorn.Server(config)
    received: list[int] = []

    def stop(sig: int, _frame: FrameType | None) -> None:
        received.append(sig)
        server.should_exit = True  # a signal before uvicorn took over still stops it

    previous: dict[int, Handler] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits 3 when the app cannot start
        if server.started:
            raise
        raise Failure(
            "The server could not start (see the log above).",
            "Fix what the log says, or try --no-preload.",
        ) from exc
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sock.close()
    return signal.Signals(received[0]).name if received else None


def read_token(given: str | None = None, env: str | None = None, configured: str = "") -> str:
    """The token of `imagear serve` or `imagear web`: ``given`` (``--token``), else the
    variable ``env`` names (``--token-env``; ConfigError when it is unset or empty), else
    ``configured`` (imagear.toml's ``server_token``); "" for none. ConfigError (exit 2) for a
    token that no client could send as a bearer token or one shorter than MIN_TOKEN
    characters."""
    from imagear.urls import token_problem

    value = given or ""
    if not value and env:
        value = os.environ.get(env, "")
        if not value:
            raise ConfigError(
                f"--token-env names {env}, which is not set or empty.",
                advice=f"Export {env}=<token> (e.g. $(openssl rand -hex 32)) or drop --token-env.",
            )
    elif not value:
        value = configured
    problem = token_problem(value)
    if problem is not None:
        where = f" in {env}" if env and not given else ""
        raise ConfigError(
            f"The token{where} cannot be a bearer token: {problem}.",
            "Use printable ASCII without spaces (e.g. `openssl rand -hex 32`).",
        )
    if value and len(value) < MIN_TOKEN:
        where = f" in {env}" if env and not given else ""
        raise ConfigError(
            f"The token{where} is too short: use at least {MIN_TOKEN} characters.",
            "Draw one with `openssl rand -hex 32`.",
        )
    return value


def start(
    build: Callable[[], ASGIApp],
    uvicorn: ModuleType,
    host: str,
    port: int,
    level: str,
    ready: Callable[[], None] | None = None,
    log_format: str = "text",
) -> str | None:
    """The start-up `imagear serve` and `imagear web` share: bind ``host:port`` first (a taken
    port is one clear error before anything loads), ``build`` the app (the socket is closed if
    that fails), set up logging, call ``ready`` (warnings, the "listening" line), then serve
    until SIGTERM / SIGINT; the name of the signal that stopped it, if any. Logging is
    :func:`imagear.logs.configure` (``log_format`` text or json) and every request is logged
    once by :class:`imagear.logs.RequestLog`."""
    from imagear import logs
    from imagear.server.arenas import bound_arenas

    arenas = bound_arenas()  # first: before any thread exists (see server/arenas.py)
    sock = listen(host, port)
    logs.configure(log_format, level)
    if arenas is not None:
        log.info("glibc malloc arenas bounded to %d (MALLOC_ARENA_MAX)", arenas)
    try:
        app = logs.RequestLog(build())
    except BaseException:
        sock.close()
        raise
    if ready is not None:
        ready()
    return serve_forever(uvicorn, app, sock, level)


def serve(
    settings: ServerSettings,
    host: str = "127.0.0.1",
    port: int = 5052,
    log_level: str = "info",
    progress: Progress | None = None,
    log_format: str = "text",
) -> str | None:
    """Serve until stopped: bind, build the app, warn, then run uvicorn on the bound socket.

    Returns the name of the signal that stopped the server (None when it stopped otherwise).
    Raises EngineUnavailable without the ``server`` extra, UsageError for a bad host or log
    level, Failure for a port that cannot be bound or an app that cannot start.
    """
    from imagear.engines.runtime import unavailable_reason
    from imagear.models import get_model

    def say(event: str, message: str) -> None:
        if progress is not None:
            progress(event, message)

    level = log_level_name(log_level)
    uvicorn, app_module = load()
    default = get_model(settings.default_model)

    def ready() -> None:
        why = unavailable_reason(default, settings.models_dir)
        if why:
            say(
                "warning",
                f"The default model {default.name} cannot run on this host: {why} "
                "Requests that name no model will get 400; pass --model kenburns on a host "
                "without weights.",
            )
        if settings.c2pa is not None and settings.c2pa.made:  # said once, in the log
            from imagear.provenance.identity import UNTRUSTED_NOTICE

            log.warning(UNTRUSTED_NOTICE.format(folder=settings.c2pa.folder))
        if not settings.token and not loopback(host):
            say(
                "warning",
                f"Listening on {host} without a token: anyone who can reach it can use it.",
            )
        auth = "bearer token required" if settings.token else "no token"
        say(
            "listening",
            f"imagear serve on http://{address(host, port)} (default model {default.name}, "
            f"{auth}, queue {settings.queue_size})",
        )

    # One log line per request comes from imagear.logs.RequestLog; uvicorn's access log is off.
    stopped_by = start(
        lambda: app_module.create_app(settings), uvicorn, host, port, level, ready, log_format
    )
    if stopped_by:
        log.info("stopped by %s", stopped_by)
    return stopped_by


__all__ = [
    "LOG_LEVELS",
    "MIN_TOKEN",
    "SERVER_HINT",
    "address",
    "listen",
    "load",
    "log_level_name",
    "loopback",
    "read_token",
    "serve",
    "serve_forever",
    "start",
]
