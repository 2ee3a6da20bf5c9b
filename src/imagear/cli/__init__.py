"""The `imagear` command line: one Typer app assembled from one module per command group.

Start-up stays fast: importing this package loads Typer and the option declarations, never a
service (nor Rich, until something is printed). Each command imports the services it uses
(SQLAlchemy, SQLModel, pydantic models, httpx, PIL, numpy, av come with them) inside its
function, when it runs; tests/test_startup_cli.py checks this. The root group (:class:`~imagear.cli._common.GuardedGroup`)
turns any unexpected exception into one line on stderr and exit 1 (``--debug`` or
IMAGEAR_DEBUG=1: with the traceback).
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from typing import Annotated

import typer

from imagear.cli import animate as animate_cli
from imagear.cli import batch as batch_cli
from imagear.cli import config_cmd, records, settings
from imagear.cli import models as models_cli
from imagear.cli._common import DEBUG_ENV, GuardedGroup
from imagear.cli.serve import serve as serve_command

app = typer.Typer(
    name="imagear",
    cls=GuardedGroup,
    help="Turn archival master images into short looping MP4 clips (Heratio ahg:image-ar compatible).",
    no_args_is_help=False,
    # Plain click help: Typer's Rich help formatter imports markdown-it, pygments and
    # rich.traceback (~150 ms), which would make every `--help` twice as slow as the CLI itself.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,  # never Rich's long traceback: GuardedGroup says what failed
)


def _version(value: bool) -> None:
    if value:
        from imagear import __version__

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
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help=f"Show the full traceback when a command fails unexpectedly (or set {DEBUG_ENV}=1).",
        ),
    ] = False,
    # The mirror of `php artisan ahg:image-ar`: `imagear --object-id N ...`, `imagear --health`.
    object_id: animate_cli.ObjectIdOpt = None,
    model: animate_cli.ModelOpt = None,
    prompt: animate_cli.PromptOpt = None,
    frames: animate_cli.FramesOpt = None,
    fps: animate_cli.FpsOpt = None,
    motion: animate_cli.MotionOpt = None,
    seed: animate_cli.SeedOpt = None,
    force: animate_cli.ForceOpt = False,
    option: animate_cli.OptionPairs = None,
    health: animate_cli.HealthOpt = False,
    as_json: animate_cli.JsonOpt = False,
) -> None:
    ctx.obj = {"config_path": config, "debug": debug}
    mirror: dict[str, object] = dict(model=model, prompt=prompt, frames=frames, fps=fps)
    mirror.update(motion=motion, seed=seed, force=force, option=option, as_json=as_json)
    if animate_cli.root_mirror(ctx, object_id=object_id, health=health, **mirror):
        return
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


app.add_typer(config_cmd.app, name="config")
app.add_typer(settings.app, name="settings")
app.add_typer(records.app, name="records")
app.add_typer(models_cli.app, name="models")
app.add_typer(batch_cli.app, name="batch")
app.command("serve")(serve_command)
animate_cli.register(app)


def main() -> None:
    app()
