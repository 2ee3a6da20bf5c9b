"""The `imagear` command line: one Typer app assembled from one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from imagear import __version__
from imagear.cli import config_cmd, records, settings

app = typer.Typer(
    name="imagear",
    help="Turn archival master images into short looping MP4 clips (Heratio ahg:image-ar compatible).",
    no_args_is_help=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagear {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Path of imagear.toml (else IMAGEAR_CONFIG, ./imagear.toml, user config dir).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {"config_path": config}
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


app.add_typer(config_cmd.app, name="config")
app.add_typer(settings.app, name="settings")
app.add_typer(records.app, name="records")


def main() -> None:
    app()
