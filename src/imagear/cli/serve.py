"""`imagear serve`: run the Heratio-compatible image-to-video server (GET /health, POST /animate).

A thin command: it checks the options and hands them to :func:`imagear.server.run.serve`, which
binds the socket, builds the app and runs uvicorn until SIGTERM or SIGINT (a graceful stop, exit
0). The server package is imported inside the command, so the rest of the CLI works without the
``server`` extra, and without it this command says what to install (exit 6).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, warn
from imagear.cli._text import text
from imagear.errors import UsageError
from imagear.settings_spec import DEFAULTS, SPECS

if TYPE_CHECKING:
    from imagear.config import Config
    from imagear.provenance.identity import Identity

DEVICE_RE = re.compile(r"cpu|mps|cuda(:\d+)?")

# the quality gate's options: defaults and bounds are the ar_quality_* settings' (declared once)
_BRIGHTNESS = SPECS["ar_quality_min_brightness"]
_CONTRAST = SPECS["ar_quality_min_contrast"]
_MOTION = SPECS["ar_quality_min_motion"]
_RESEMBLANCE = SPECS["ar_quality_min_resemblance"]


def _identity(config: Config) -> Identity:
    """The identity that signs the served clips (a new per-install one is said in the log)."""
    from imagear.provenance.identity import load_identity

    return load_identity(config)


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


def _finite(value: float, flag: str) -> float:
    """``value``, or UsageError for NaN (which passes click's range checks)."""
    if value != value:
        raise UsageError(f"{flag} must be a number, not nan.")
    return value


def _progress(event: str, message: str) -> None:
    if event == "warning":
        warn(message)
    else:
        console.print(text(message), soft_wrap=True)


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
        int,
        typer.Option(
            help="Requests that may wait behind the running one; then 503.", min=1, max=10_000
        ),
    ] = 4,
    max_upload_mb: Annotated[
        float,
        typer.Option(
            help="Largest accepted upload, in MB; larger gets 413.", min=0.01, max=1024 * 1024
        ),
    ] = 100.0,
    upload_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds for a whole upload to arrive; a slower one gets 408 and is cut off "
            "(uploads are read before they take a queue slot).",
            min=1,
            max=86400,
        ),
    ] = 120.0,
    max_megapixels: Annotated[
        float | None,
        typer.Option(
            help="Largest image decoded, in megapixels (default 200); larger gets 413.",
            max=1_000_000,
        ),
    ] = None,
    decode_budget_mb: Annotated[
        float,
        typer.Option(
            help="Memory for one image's decoded pixels, in MB; an image that needs more gets "
            "413. Queued requests hold only their upload: each is decoded when its turn comes.",
            min=1,
            max=1024 * 1024,
        ),
    ] = 1024.0,
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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            help="Also serve GET /metrics (Prometheus) on this port of --host, without the "
            "token; /metrics on --port needs the token when one is set.",
            min=1,
            max=65535,
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="text (timestamped lines) or json (one object per line).")
    ] = "text",
    quality_gate: Annotated[
        bool,
        typer.Option(
            "--quality-gate/--no-quality-gate",
            help="Refuse (500, type QualityRejected) a black, blank, frozen, unrelated or "
            "not-as-asked clip instead of sending it.",
        ),
    ] = DEFAULTS.ar_quality_gate,
    min_brightness: Annotated[
        float,
        typer.Option(
            help="Quality gate: frames darker than this mean grey "
            f"({_BRIGHTNESS.allowed()}) are black.",
            min=_BRIGHTNESS.low,
            max=_BRIGHTNESS.high,
        ),
    ] = DEFAULTS.ar_quality_min_brightness,
    min_contrast: Annotated[
        float,
        typer.Option(
            help="Quality gate: frames varying less than this (grey std) are blank.",
            min=_CONTRAST.low,
            max=_CONTRAST.high,
        ),
    ] = DEFAULTS.ar_quality_min_contrast,
    min_motion: Annotated[
        float,
        typer.Option(
            help="Quality gate: clips changing less than this (grey levels) are frozen.",
            min=_MOTION.low,
            max=_MOTION.high,
        ),
    ] = DEFAULTS.ar_quality_min_motion,
    min_resemblance: Annotated[
        float,
        typer.Option(
            help="Quality gate: the first frame's least correlation "
            f"({_RESEMBLANCE.allowed()}) with the image; 0: off.",
            min=_RESEMBLANCE.low,
            max=_RESEMBLANCE.high,
        ),
    ] = DEFAULTS.ar_quality_min_resemblance,
) -> None:
    """Serve image-to-video over HTTP, speaking Heratio's protocol (GET /health, POST /animate,
    plus GET /models). One generation at a time; extra requests queue, then get 503.

    SIGTERM or Ctrl-C: graceful stop, exits 0. Port in use: exit 1. Bad option or --host: exit 2.
    """
    with handle_errors():
        from imagear.server import MB, ServerSettings
        from imagear.server import run as server_run

        server_run.load()  # without the server extra: say what to install, before anything else
        config = get_app(ctx).config
        from imagear.models import get_model

        default = get_model(model)  # an unknown name stops here, with the list of models
        level = server_run.log_level_name(log_level)
        from imagear.logs import log_format_name, progress_logger

        fmt = log_format_name(log_format)
        if max_megapixels is not None and not max_megapixels > 0:  # also NaN
            raise UsageError(
                f"--max-megapixels must be above 0, not {max_megapixels:g}.",
                "Leave it out for the default (200 megapixels).",
            )
        from imagear.metrics import check_port

        check_port(host, metrics_port, port)  # a taken port: one clear error now
        from imagear.quality import Thresholds

        quality = Thresholds(
            enabled=quality_gate,
            min_brightness=min_brightness,
            min_contrast=min_contrast,
            min_motion=min_motion,
            min_resemblance=min_resemblance,
        )
        settings = ServerSettings(
            default_model=default.name,
            models_dir=models_dir or config.models_dir,
            low_vram=config.low_vram if low_vram is None else low_vram,
            device=_device(device),
            queue_size=queue_size,
            max_upload_bytes=int(_finite(max_upload_mb, "--max-upload-mb") * MB),
            upload_timeout=_finite(upload_timeout, "--upload-timeout"),
            max_pixels=max(1, int(max_megapixels * 1_000_000)) if max_megapixels else None,
            decode_budget_bytes=int(_finite(decode_budget_mb, "--decode-budget-mb") * MB),
            token=server_run.read_token(token, token_env, config.server_token),
            preload=preload,
            quality=quality,
            metrics_listen=None if metrics_port is None else (host, metrics_port),
            c2pa=_identity(config),
        )
        say = _progress if fmt == "text" else progress_logger("imagear.server")
        server_run.serve(settings, host, port, level, progress=say, log_format=fmt)
