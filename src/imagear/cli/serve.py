"""`imagear serve`: run the Heratio-compatible image-to-video server (GET /health, POST /animate).

FastAPI and uvicorn are imported inside the command, so the rest of the CLI works without the
``server`` extra.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from imagear.cli._common import console, get_app, handle_errors, warn
from imagear.errors import ConfigError, EngineUnavailable, UsageError

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
        str | None, typer.Option(help="Torch device (cuda, cuda:1, cpu); default: the best.")
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
    plus GET /models). One generation at a time; extra requests queue, then get 503."""
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
        settings = server.ServerSettings(
            default_model=default.name,
            models_dir=models_dir or config.models_dir,
            low_vram=config.low_vram if low_vram is None else low_vram,
            device=device,
            queue_size=queue_size,
            max_upload_bytes=int(max_upload_mb * server.MB),
            max_pixels=int(max_megapixels * 1_000_000) if max_megapixels else None,
            token=_token(token, token_env, config.server_token),
            preload=preload,
        )
        app = server.create_app(settings)
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
        f"imagear serve on http://{host}:{port} (default model {default.name}, {auth}, "
        f"queue {queue_size})",
        markup=False,
    )
    # One log line per request comes from imagear.server; uvicorn's access log would repeat it.
    uvicorn.run(app, host=host, port=port, log_level=level, access_log=False)
