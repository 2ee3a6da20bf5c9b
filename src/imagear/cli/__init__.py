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
import os
from typing import Annotated

import typer

from imagear.cli import animate as animate_cli
from imagear.cli import batch as batch_cli
from imagear.cli import batch_admin as _batch_admin  # noqa: F401 - registers failures, status, reset
from imagear.cli import config_cmd, records, settings
from imagear.cli import gen_options as gen
from imagear.cli import iiif as iiif_cli
from imagear.cli import models as models_cli
from imagear.cli import users as users_cli
from imagear.cli._common import DEBUG_ENV, GuardedGroup, run_as_program
from imagear.cli.audit_cmd import audit as audit_command
from imagear.cli.check import check as check_command
from imagear.cli.demo import demo as demo_command
from imagear.cli.serve import serve as serve_command
from imagear.cli.verify import verify as verify_command
from imagear.cli.web import web as web_command

app = typer.Typer(
    name="imagear",
    cls=GuardedGroup,
    help="Turn archival master images into short looping MP4 clips, store them and log them, "
    "as Heratio's `php artisan ahg:image-ar` does.",
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
            metavar="PATH",
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Show the model libraries' own loading output: log lines, progress bars, "
            "warnings (or set IMAGEAR_VERBOSE=1).",
        ),
    ] = False,
    # The mirror of `php artisan ahg:image-ar`: `imagear --object-id N ...`, `imagear --health`.
    object_id: animate_cli.ObjectIdOpt = None,
    model: gen.ModelOpt = None,
    prompt: gen.PromptOpt = None,
    frames: gen.FramesOpt = None,
    fps: gen.FpsOpt = None,
    motion: gen.MotionOpt = None,
    seed: gen.SeedOpt = None,
    force: animate_cli.ForceOpt = False,
    option: gen.OptionPairs = None,
    health: animate_cli.HealthOpt = False,
    as_json: animate_cli.JsonOpt = False,
) -> None:
    given = ctx.obj if isinstance(ctx.obj, dict) else {}  # e.g. an App a caller hands in
    ctx.obj = {**given, "config_path": config, "debug": debug}
    if verbose:  # read by the engines (imagear.engines.diffusers_setup), in-process and served
        os.environ["IMAGEAR_VERBOSE"] = "1"
    mirror: dict[str, object] = dict(model=model, prompt=prompt, frames=frames, fps=fps)
    mirror.update(motion=motion, seed=seed, force=force, option=option, as_json=as_json)
    if animate_cli.root_mirror(ctx, object_id=object_id, health=health, **mirror):
        return
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


# `imagear --help` lists the commands in this order, each with its short help (a whole line)
animate_cli.register(app)
app.command("demo", short_help="Animate the bundled sample image (no GPU or server needed).")(
    demo_command
)
app.command("check", short_help="Re-check stored clips with the quality gate.")(check_command)
app.command("verify", short_help="Validate a clip's Content Credentials; show what made it.")(
    verify_command
)
app.command("serve", short_help="Serve image-to-video over HTTP, speaking Heratio's protocol.")(
    serve_command
)
app.command("web", short_help="Run the curator console: clips, animate, review, settings.")(
    web_command
)
app.add_typer(batch_cli.app, name="batch")
app.add_typer(records.app, name="records")
app.add_typer(settings.app, name="settings")
app.add_typer(models_cli.app, name="models")
app.add_typer(config_cmd.app, name="config")
app.add_typer(iiif_cli.app, name="iiif")
app.add_typer(users_cli.app, name="users")
app.command("audit", short_help="Who did what in the web console, and when.")(audit_command)


def main() -> None:
    run_as_program(app)
