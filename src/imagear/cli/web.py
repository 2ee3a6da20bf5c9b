"""`imagear web`: the curator console (grid of clips, record pages, animate, review, settings).

A thin command: it reads the admin token and hands over to :func:`imagear.web.run.serve`
(imported here, when the command runs: the ``server`` extra). Without --token-env a token is
drawn for this run and printed once.
"""

import secrets
from typing import Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, warn
from imagear.cli._text import text


def web(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; the default is this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8470,
    token_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding the admin token (default: a token drawn for "
            "this run, printed once)."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level: debug, info, warning or error.")
    ] = "warning",
    log_format: Annotated[
        str, typer.Option(help="text (timestamped lines) or json (one object per line).")
    ] = "text",
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            envvar="IMAGEAR_WEB_ALLOWED_HOSTS",
            help="A name the console is reached by (Host header), besides localhost, IP "
            "addresses and --host; repeat for more. Other names get 400.",
        ),
    ] = None,
    behind_https: Annotated[
        bool,
        typer.Option(
            "--behind-https", help="The console is reached over https: mark the cookie Secure."
        ),
    ] = False,
    session_hours: Annotated[
        float, typer.Option(help="Hours a sign-in lasts.", min=0.01, max=24 * 365)
    ] = 12.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            help="Also serve GET /metrics (Prometheus) on this port of --host, without the "
            "token; /metrics on --port needs the admin token.",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run the curator console: browse clips, animate, approve or reject, and change settings.

    Guests see published records (web_public); curators and admins sign in with the accounts
    of `imagear users`, or with the admin token, 16 characters or more (or send it as a Bearer
    header). Sessions survive a restart; signing out or a password change ends them. SIGTERM
    or Ctrl-C: graceful stop, exits 0.
    """
    with handle_errors():
        from imagear.logs import log_format_name, progress_logger
        from imagear.metrics import check_port
        from imagear.server.run import loopback, read_token
        from imagear.web.run import serve
        from imagear.web.security import WebOptions

        check_port(host, metrics_port, port)  # a taken port: one clear error now
        fmt = log_format_name(log_format)
        token = read_token(env=token_env)
        if not token:
            token = secrets.token_urlsafe(24)
            console.print(text(f"Admin token for this run: {token}"), soft_wrap=True)
        if not loopback(host):
            warn(f"Listening on {host}: anyone who can reach it can read the records and clips.")

        def progress(_event: str, message: str) -> None:
            console.print(text(message), soft_wrap=True)

        options = WebOptions(
            hosts=(host, *(allowed_host or ())),
            behind_https=behind_https,
            session_hours=session_hours,
            metrics_listen=None if metrics_port is None else (host, metrics_port),
        )
        say = progress if fmt == "text" else progress_logger("imagear.web")
        serve(get_app(ctx), token, host, port, log_level, say, options=options, log_format=fmt)
