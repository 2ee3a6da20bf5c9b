"""`imagear serve`: run the Heratio-compatible image-to-video server (GET /health, POST /animate).

FastAPI and uvicorn are imported inside the command, so the rest of the CLI works without the
``server`` extra. The listening socket is bound before anything is loaded, so a taken port or a
bad --host is one clear error (exit 1 / 2), and uvicorn is handed that socket. SIGTERM and
SIGINT stop the server gracefully (the running generation finishes) and exit 0: for a service,
being told to stop is a normal end, and systemd counts it as a clean stop.
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
from pathlib import Path
from typing import Annotated, Any

import typer

from imagear.cli._common import console, get_app, handle_errors, warn
from imagear.errors import ConfigError, EngineUnavailable, Failure, UsageError

log = logging.getLogger("imagear.server")

DEVICE_RE = re.compile(r"cpu|mps|cuda(:\d+)?")

SERVER_HINT = "Install it with: pip install 'imagear[server]'"


def _import_server() -> tuple[Any, Any]:
    """(uvicorn, imagear.server) or EngineUnavailable naming the extra to install."""
    try:
        import uvicorn

        from imagear import server
    except ImportError as exc:
        raise EngineUnavailable(
            f"`imagear serve` needs FastAPI, uvicorn and python-multipart ({exc}).",
            advice=SERVER_HINT + ".",
        ) from exc
    return uvicorn, server


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _device(device: str | None) -> str | None:
    """--device checked: cpu, cuda, cuda:N, mps, or auto (None: the engine picks the best)."""
    if device is None:
        return None
    value = device.strip().lower()
    if value in ("", "auto"):
        return None
    if not DEVICE_RE.fullmatch(value):
        raise UsageError(
            f"--device must be cpu, cuda, cuda:N (a GPU index), mps or auto, not {device!r}."
        )
    return value


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
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
    where = _address(host, port)
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


def _serve_forever(uvicorn: Any, app: Any, sock: socket.socket, level: str) -> str | None:
    """Run uvicorn on the bound socket until SIGTERM or SIGINT; the signal's name, if any.

    uvicorn stops gracefully on either signal and then raises it again, which would end the
    process with 143 (SIGTERM) or a KeyboardInterrupt (SIGINT). Handlers set here receive that
    re-raised signal instead, so a requested stop returns normally and the command exits 0.
    """
    config = uvicorn.Config(app, log_level=level, access_log=False)
    server = uvicorn.Server(config)
    received: list[int] = []

    def stop(sig: int, _frame: Any) -> None:
        received.append(sig)
        server.should_exit = True  # a signal before uvicorn took over still stops it

    previous: dict[int, Any] = {}
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


def _token(token: str | None, token_env: str | None, configured: str) -> str:
    """--token, else the variable named by --token-env, else server_token from the config."""
    if token:
        return token
    if token_env:
        value = os.environ.get(token_env, "")
        if not value:
            raise ConfigError(
                f"--token-env names {token_env}, which is not set or empty.",
                advice=f"Export {token_env}=<token> or drop --token-env.",
            )
        return value
    return configured


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 for every interface (use a token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 5052,
    model: Annotated[
        str,
        typer.Option(
            help="Default model, for requests that name none. A host without weights: kenburns."
        ),
    ] = "svd",
    models_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of diffusers checkpoints (default: models_dir of the config)."),
    ] = None,
    low_vram: Annotated[
        bool | None,
        typer.Option(
            "--low-vram/--no-low-vram",
            help="CPU offload, forward chunking, small decode chunks (default: the config).",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="Torch device: cpu, cuda, cuda:N, mps or auto (default: the best)."),
    ] = None,
    queue_size: Annotated[
        int, typer.Option(help="Requests that may wait behind the running one; then 503.", min=1)
    ] = 4,
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest accepted upload, in MB; larger gets 413.", min=0.01)
    ] = 100.0,
    max_megapixels: Annotated[
        float | None,
        typer.Option(help="Largest image decoded, in megapixels (default 200); larger gets 413."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Require Authorization: Bearer TOKEN on every request. Visible in `ps`: prefer "
            "IMAGEAR_SERVER_TOKEN or --token-env."
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            help="Read the token from this environment variable (default: IMAGEAR_SERVER_TOKEN)."
        ),
    ] = None,
    preload: Annotated[
        bool,
        typer.Option(
            help="Load the default model at start (as Heratio's server does: /health lists it "
            "and the first request is not slow); --no-preload loads it on first use."
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve image-to-video over HTTP, speaking Heratio's protocol (GET /health, POST /animate,
    plus GET /models). One generation at a time; extra requests queue, then get 503.

    SIGTERM or Ctrl-C: graceful stop, exits 0. Port in use: exit 1. Bad option or --host: exit 2.
    """
    with handle_errors():
        uvicorn, server = _import_server()
        config = get_app(ctx).config
        from imagear.models import get_model

        default = get_model(model)  # an unknown name stops here, with the list of models
        level = log_level.strip().lower()
        if level not in ("debug", "info", "warning", "error"):
            raise UsageError(
                f"--log-level must be debug, info, warning or error, not {log_level!r}."
            )
        if max_megapixels is not None and max_megapixels <= 0:
            raise UsageError(
                f"--max-megapixels must be above 0, not {max_megapixels:g}.",
                "Leave it out for the default (200 megapixels).",
            )
        settings = server.ServerSettings(
            default_model=default.name,
            models_dir=models_dir or config.models_dir,
            low_vram=config.low_vram if low_vram is None else low_vram,
            device=_device(device),
            queue_size=queue_size,
            max_upload_bytes=int(max_upload_mb * server.MB),
            max_pixels=max(1, int(max_megapixels * 1_000_000)) if max_megapixels else None,
            token=_token(token, token_env, config.server_token),
            preload=preload,
        )
        sock = _listen(host, port)
        try:
            app = server.create_app(settings)
        except BaseException:
            sock.close()
            raise
        why = server.unavailable_reason(default, app.api.state.imagear.engine_config)
        if why:
            warn(
                f"The default model {default.name} cannot run on this host: {why} "
                "Requests that name no model will get 400; pass --model kenburns on a host "
                "without weights."
            )
        if not settings.token and not _loopback(host):
            warn(f"Listening on {host} without a token: anyone who can reach it can use it.")
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    auth = "bearer token required" if settings.token else "no token"
    console.print(
        f"imagear serve on http://{_address(host, port)} (default model {default.name}, {auth}, "
        f"queue {queue_size})",
        markup=False,
    )
    # One log line per request comes from imagear.server; uvicorn's access log would repeat it.
    with handle_errors():
        stopped_by = _serve_forever(uvicorn, app, sock, level)
    if stopped_by:
        log.info("stopped by %s", stopped_by)
