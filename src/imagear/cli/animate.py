"""`imagear animate | health | delete | recent | demo`, and the root mirror of ``ahg:image-ar``.

``imagear --object-id N [...]`` and ``imagear --health`` (options on the root callback) run the
same code as ``imagear animate --object-id N`` and ``imagear health``. The service is
:class:`imagear.animate.Animator`; this module parses options and renders its progress.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imagear.cli._common import (
    console,
    err_console,
    fail,
    get_app,
    handle_errors,
    is_tty,
    print_json,
    warn,
)
from imagear.cli._render import (
    Renderer,
    outcome_json,
    sigterm_as_interrupt,
    size_text,
    table_order,
)
from imagear.cli.models import OptionPairs, parse_options
from imagear.errors import EXIT_INTERRUPTED, ImagearError, InvalidOption, ServerError, UsageError

if TYPE_CHECKING:
    from rich.panel import Panel

ObjectIdOpt = Annotated[
    int | None,
    typer.Option("--object-id", "--id", help="The record (information object) id.", min=1),
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model to use (default: ar_model).")
]
PromptOpt = Annotated[
    str | None, typer.Option("--prompt", help="Text prompt (prompt-aware models only).")
]
FramesOpt = Annotated[int | None, typer.Option("--frames", help="Frames to generate.")]
FpsOpt = Annotated[int | None, typer.Option("--fps", help="Frames per second.")]
MotionOpt = Annotated[
    str | None,
    typer.Option(
        "--motion",
        help="Motion: a number is SVD's motion bucket (1..255); a name is a Ken Burns motion "
        "(zoom_in, zoom_out, pan_lr, pan_rl, ken_burns_diagonal).",
    ),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed; 0 = random.", min=0)]
WidthOpt = Annotated[int | None, typer.Option("--width", help="Output width in pixels.")]
HeightOpt = Annotated[int | None, typer.Option("--height", help="Output height in pixels.")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Re-render even if the record already has an animation.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
HealthOpt = Annotated[
    bool, typer.Option("--health", help="Print the image-to-video server's health and exit.")
]


# -- animate ------------------------------------------------------------------------------------


def _overrides(
    frames: int | None,
    fps: int | None,
    motion: str | None,
    seed: int | None,
    prompt: str | None,
    width: int | None,
    height: int | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "num_frames": frames,
        "fps": fps,
        "seed": seed,
        "prompt": prompt,
        "width": width,
        "height": height,
    }
    lengths = {k.strip().lower().replace("-", "_") for k in extra}
    if "duration" in lengths and (frames is not None or "num_frames" in lengths):
        flag = "--frames" if frames is not None else "-o num_frames"
        raise InvalidOption(
            f"{flag} and -o duration both set the clip's length; "
            f"give either {flag} or -o duration, not both."
        )
    if motion is not None:
        if motion.strip().isdigit():
            overrides["motion_bucket_id"] = int(motion)
        elif "motion" in extra:
            raise InvalidOption("motion is given twice (--motion and -o motion); give it once.")
        else:
            extra["motion"] = motion.strip()
    return {k: v for k, v in overrides.items() if v is not None}


def _print_outcome(outcome: Any, as_json: bool) -> None:
    if as_json:
        print_json(outcome_json(outcome))
        return
    if outcome.status == "skipped":
        message = outcome.message or f"Record {outcome.object_id} was skipped."
        console.print(message, markup=False, soft_wrap=True)
        return
    a = outcome.animation or {}
    verb = "Created" if outcome.status == "created" else "Replaced"
    mp4 = outcome.mp4 or {}
    console.print(
        f"{verb} the animation of record {outcome.object_id}: {outcome.file}\n"
        f"  {size_text(a.get('mp4_size'))}, {a.get('mp4_width')}x{a.get('mp4_height')}, "
        f"{mp4.get('frames', '?')} frames at {a.get('mp4_fps'):g} fps "
        f"({a.get('mp4_duration_secs')} s); model {a.get('ai_model')}, seed {a.get('ai_seed')}, "
        f"generated in {a.get('generation_secs')} s",
        markup=False,
        soft_wrap=True,
    )


def run_animate(ctx: typer.Context, request: Any, as_json: bool, show: bool = True) -> Any:
    """Run one AnimateRequest with progress; render the outcome (``show``); map errors to exit
    codes (Ctrl-C / SIGTERM: 130, with the partial file removed)."""
    from imagear.animate import Animator

    renderer = Renderer(fancy=is_tty() and not as_json)
    with handle_errors():
        app = get_app(ctx)
        try:
            with (
                sigterm_as_interrupt(),
                Animator(app, progress=renderer) as animator,
                renderer.running(),
            ):
                outcome = animator.animate(request)
        except KeyboardInterrupt:
            err_console.print(
                "[red]Interrupted[/]: nothing was changed; the previous clip is kept.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except ImagearError as err:
            if as_json:  # scripts get the failure as JSON too (and the exit code)
                print_json(
                    {
                        "object_id": request.object_id,
                        "status": "failed",
                        "kind": err.kind,
                        "error": err.message,
                        "advice": err.advice,
                        "exit_code": err.exit_code,
                    }
                )
            raise
    if show:
        _print_outcome(outcome, as_json)
    return outcome


def animate(
    ctx: typer.Context,
    object_id: ObjectIdOpt = None,
    model: ModelOpt = None,
    prompt: PromptOpt = None,
    frames: FramesOpt = None,
    fps: FpsOpt = None,
    motion: MotionOpt = None,
    seed: SeedOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    force: ForceOpt = False,
    option: OptionPairs = None,
    as_json: JsonOpt = False,
) -> None:
    """Animate one record's master image into an MP4 (like `php artisan ahg:image-ar`)."""
    from imagear.animate import AnimateRequest

    with handle_errors():
        if object_id is None:
            raise UsageError("--object-id is required.", "e.g. imagear animate --object-id 42")
        extra: dict[str, Any] = dict(parse_options(option))
        overrides = _overrides(frames, fps, motion, seed, prompt, width, height, extra)
    request = AnimateRequest(object_id, model, overrides, extra, force)
    run_animate(ctx, request, as_json)


# -- health -------------------------------------------------------------------------------------


def _health_panel(h: Any, ar_model: str) -> "Panel":
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    if h.local:
        grid.add_row("Server", "none (ar_server_url is empty): in-process engines")
    else:
        grid.add_row("Server", f"{h.url}  [green]reachable[/] (status {h.status})")
    grid.add_row("Default model", str(h.default_model or "-"))
    grid.add_row("Loaded models", ", ".join(h.loaded_models) or "none")
    if h.available_models is not None and not h.local:
        grid.add_row("Available models", ", ".join(h.available_models) or "none")
    grid.add_row("CUDA", "yes" if h.cuda else "no")
    grid.add_row("Low-VRAM mode", "on" if h.low_vram_mode else "off")
    if h.cuda or h.device:
        vram = ""
        if h.vram_total_gb is not None:
            vram = f"  {h.vram_free_gb} GB free of {h.vram_total_gb} GB"
        grid.add_row("GPU", f"{h.device or '-'}{vram}")
    for engine in h.engines:
        state = "[green]can run here[/]" if engine["available"] else "[red]cannot run here[/]"
        reason = str(engine.get("reason") or "").split(";")[0].rstrip(".")
        grid.add_row(f"  {engine['name']}", f"{state}: {escape(reason)}" if reason else state)
    if any(not e["available"] for e in h.engines):
        grid.add_row(
            "", "[dim]`imagear health --json` says where imagear looked and what to do.[/]"
        )
    title = "In-process engines" if h.local else "Image-to-video server"
    return Panel(grid, title=title, expand=False)


def run_health(ctx: typer.Context, as_json: bool) -> None:
    """Report health; exit 5 when the server is unreachable."""
    from imagear.animate import Animator
    from imagear.generators import server_models
    from imagear.models import get_model

    with handle_errors():
        app = get_app(ctx)
        with Animator(app) as animator:
            settings = animator.settings()
            try:
                h = animator.health()
            except ServerError as err:
                if not as_json:
                    raise
                print_json(
                    {
                        "reachable": False,
                        "url": settings.ar_server_url,
                        "error": err.message,
                        "advice": err.advice,
                        "kind": err.kind,
                    }
                )
                raise typer.Exit(err.exit_code) from None
    if as_json:
        print_json(h.as_dict())
    else:
        console.print(_health_panel(h, settings.ar_model))
    ar_model = settings.ar_model
    try:
        wanted = get_model(ar_model).name
    except ImagearError:
        wanted = ar_model
    if wanted and wanted not in server_models(h):
        where = "in this process" if h.local else f"on the server at {h.url}"
        warn(
            f"ar_model is {ar_model!r}, which is not available {where}; generation with it "
            "will fail. Choose another with `imagear settings set ar_model NAME`."
        )


def health(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Is the image-to-video server reachable; its models, CUDA, low-VRAM mode and GPU memory."""
    run_health(ctx, as_json)


# -- delete / recent ----------------------------------------------------------------------------


def delete(ctx: typer.Context, object_id: ObjectIdOpt = None, as_json: JsonOpt = False) -> None:
    """Remove a record's animation: its object_image_ar row, then its MP4."""
    from imagear.animate import Animator

    with handle_errors():
        if object_id is None:
            raise UsageError("--object-id is required.", "e.g. imagear delete --object-id 42")
        with Animator(get_app(ctx)) as animator:
            result = animator.delete(object_id)
    if as_json:
        print_json(result)
        return
    gone = "and its file " if result.get("file_removed") else "(its file was already gone) "
    console.print(
        f"Deleted the animation of record {object_id} {gone}{result.get('file')}.",
        markup=False,
        soft_wrap=True,
    )


def recent(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("-n", "--limit", min=1, help="How many clips to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """The last clips: record, model, prompt, size, generation time and date."""
    from imagear.animate import Animator

    with handle_errors(), Animator(get_app(ctx)) as animator:
        rows, total = animator.recent(n)
    if as_json:
        print_json({"total": total, "clips": [table_order(r) for r in rows]})
        return
    from rich.table import Table

    table = Table(caption=f"{len(rows)} of {total} clip(s)")
    for name in ("record", "model", "prompt", "size", "frame size", "generated in", "date"):
        # a record, model name or date broken over two lines is unreadable: they never wrap (a
        # long identifier is cut with an ellipsis instead); the other columns give way first
        if name in ("record", "model", "date"):
            width = 20 if name == "record" else None
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=width)
        else:
            table.add_column(name, overflow="fold")
    for r in rows:
        label = f"{r['object_id']}" + (f" {r['identifier']}" if r.get("identifier") else "")
        table.add_row(
            label,
            str(r.get("ai_model") or "-"),
            str(r.get("ai_prompt") or "-"),
            size_text(r.get("mp4_size")),
            f"{r.get('mp4_width')}x{r.get('mp4_height')}",
            f"{r.get('generation_secs')} s",
            str(r.get("updated_at") or r.get("created_at") or "")[:19].replace("T", " "),
        )
    console.print(table)


# -- demo ---------------------------------------------------------------------------------------


def demo(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also copy the clip into this folder.")
    ] = None,
    option: OptionPairs = None,
    as_json: JsonOpt = False,
) -> None:
    """First run: animate the bundled sample image with kenburns in-process (no GPU, no server).

    Adds the sample as a new record, renders it with kenburns in this process whatever
    ar_model and ar_server_url say (settings are not changed), and prints where the MP4 is.
    """
    from importlib import resources

    from imagear.animate import AnimateRequest
    from imagear.errors import StorageError
    from imagear.records import add_record

    with handle_errors():
        extra = dict(parse_options(option))
        app = get_app(ctx)
        sample = resources.files("imagear") / "data" / "sample.jpg"
        with resources.as_file(sample) as sample_path:
            record = add_record(app, sample_path, "imagear-demo", "imagear demo (sample image)")
    request = AnimateRequest(record.id, "kenburns", {}, extra, force=True, in_process=True)
    outcome = run_animate(ctx, request, as_json, show=False)
    copied = None
    if out is not None and outcome.file is not None:
        with handle_errors():
            try:
                out.mkdir(parents=True, exist_ok=True)
                copied = Path(shutil.copy2(outcome.file, out / outcome.file.name))
            except OSError as exc:
                raise StorageError(f"Cannot copy the clip to {out}: {exc.strerror}.") from exc
    if as_json:
        print_json({**outcome_json(outcome), "copied_to": str(copied) if copied else None})
        return
    mp4 = outcome.mp4 or {}
    console.print(
        f"Demo clip of record {record.id}: {outcome.file}\n"
        f"  {size_text(mp4.get('size_bytes'))}, {mp4.get('width')}x{mp4.get('height')}, "
        f"{mp4.get('frames')} frames at {mp4.get('fps')} fps ({mp4.get('duration_secs')} s)"
        + (f"\n  copied to {copied}" if copied else ""),
        markup=False,
        soft_wrap=True,
    )


# -- registration and the root mirror ---------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add animate, health, delete, recent and demo to the root app."""
    app.command("animate")(animate)
    app.command("health")(health)
    app.command("delete")(delete)
    app.command("recent")(recent)
    app.command("demo")(demo)


def root_mirror(ctx: typer.Context, *, object_id: int | None, health: bool, **opts: Any) -> bool:
    """``imagear --object-id N ...`` / ``imagear --health``: True when it handled the call."""
    given = object_id is not None or health
    if not given:
        if any(v not in (None, False) for v in opts.values()):
            fail(UsageError("These options need --object-id N (or use `imagear animate`)."))
        return False
    if ctx.invoked_subcommand is not None:
        fail(
            UsageError(
                f"--object-id / --health cannot be combined with `{ctx.invoked_subcommand}`.",
                "Give them either to the root (`imagear --object-id N`) or use `imagear animate`.",
            )
        )
    if health:
        run_health(ctx, bool(opts.get("as_json")))
        return True
    animate(ctx, object_id=object_id, **opts)
    return True
