"""`imagear animate | health | delete | recent`, and the root mirror of ``ahg:image-ar``.

``imagear --object-id N [...]`` and ``imagear --health`` (options on the root callback) run the
same code as ``imagear animate --object-id N`` and ``imagear health``. The service is
:class:`imagear.animate.Animator`; this module parses options and renders its progress.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imagear.cli._common import (
    Said,
    console,
    err_console,
    fail,
    failure_json,
    get_app,
    handle_errors,
    is_tty,
    print_json,
    report,
    said,
    warn,
)
from imagear.cli._render import (
    Renderer,
    outcome_json,
    sigterm_as_interrupt,
    size_text,
)
from imagear.cli._text import text, visible
from imagear.cli.gen_options import (
    FpsOpt,
    FramesOpt,
    HeightOpt,
    ModelOpt,
    MotionOpt,
    OptionPairs,
    PromptOpt,
    SeedOpt,
    WidthOpt,
    generation_values,
)
from imagear.cli.wording import CLI
from imagear.errors import EXIT_INTERRUPTED, ImagearError, ServerError, UsageError
from imagear.limits import MAX_COUNT, MAX_ID

if TYPE_CHECKING:
    from rich.panel import Panel
    from rich.table import Table

    from imagear.animate import AnimateOutcome, AnimateRequest, Animator
    from imagear.heratio import Route
    from imagear.wire import Health

ObjectIdOpt = Annotated[
    int | None,
    typer.Option(
        "--object-id",
        "--id",
        metavar="ID",
        help="The record (information object) id.",
        min=1,
        max=MAX_ID,
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Re-render even if the record already has an animation.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
HealthOpt = Annotated[
    bool, typer.Option("--health", help="Print the image-to-video server's health and exit.")
]


# -- animate ------------------------------------------------------------------------------------


def _interrupted(object_id: int, replacing: bool | None, as_json: bool) -> None:
    """Ctrl-C / SIGTERM while animating: nothing was changed; say what the record still has
    (``replacing`` None: interrupted before it was known)."""
    kept = {
        True: "; the previous clip is kept",
        False: f"; record {object_id} still has no animation",
        None: "",
    }[replacing]
    message = f"Interrupted: nothing was changed{kept}."
    if as_json:
        print_json(failure_json("Interrupted", message, None, EXIT_INTERRUPTED))
    err_console.print(text(("Interrupted", "red"), message[len("Interrupted") :]), soft_wrap=True)
    raise typer.Exit(EXIT_INTERRUPTED) from None


def _dimensions(width: object, height: object) -> str:
    """``WxH`` of a clip row, ``-`` when the row does not say (Heratio writes such rows)."""
    return f"{width}x{height}" if width and height else "-"


def _print_outcome(outcome: "AnimateOutcome", as_json: bool) -> None:
    if as_json:
        print_json(outcome_json(outcome))
        return
    if outcome.status == "skipped":
        message = outcome.message or f"Record {outcome.object_id} was skipped."
        console.print(text(message), soft_wrap=True)
        return
    a = outcome.animation
    assert a is not None  # a created or replaced outcome carries its clip
    verb = "Created" if outcome.status == "created" else "Replaced"
    mp4 = outcome.mp4 or {}
    console.print(
        text(f"{verb} the animation of record {outcome.object_id}: {outcome.file}"),
        soft_wrap=True,
    )
    console.print(
        text(
            f"  {size_text(a.mp4_size)}, {a.dimensions or 'size unknown'}, "
            f"{mp4.get('frames', '?')} frames at {a.mp4_fps:g} fps "
            f"({a.mp4_duration_secs} s); model {a.ai_model}, "
            f"seed {a.ai_seed}, generated in {a.generation_secs} s"
        ),
        soft_wrap=True,
    )


def run_animate(
    ctx: typer.Context, request: "AnimateRequest", as_json: bool, show: bool = True
) -> "AnimateOutcome":
    """Run one AnimateRequest with progress; render the outcome (``show``); map errors to exit
    codes (Ctrl-C / SIGTERM: 130, with the partial file removed)."""
    from imagear.animate import Animator

    renderer = Renderer(fancy=is_tty() and not as_json)
    # with --json the failure's document names the record (QualityRejected: its checks too)
    with handle_errors(as_json, wrap={"object_id": request.object_id}):
        app = get_app(ctx)
        try:
            with (
                sigterm_as_interrupt(),
                Animator(app, progress=renderer) as animator,
                renderer.running(),
            ):
                outcome = animator.animate(request)
        except KeyboardInterrupt:
            _interrupted(request.object_id, renderer.replacing, as_json)
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
    """Animate one record's master image into an MP4 clip, as Heratio's `php artisan
    ahg:image-ar` does.

    A record that already has a clip is skipped (exit 0) unless --force; the options are
    checked first either way, so a typo fails whatever the record's state.
    """
    from imagear.animate import AnimateRequest

    with handle_errors(as_json):
        if object_id is None:
            raise UsageError("--object-id is required.", "e.g. imagear animate --object-id 42")
        overrides, extra = generation_values(
            option, frames, fps, motion, seed, prompt, width, height
        )
    request = AnimateRequest(object_id, model, overrides, extra, force, wording=CLI)
    run_animate(ctx, request, as_json)


# -- health -------------------------------------------------------------------------------------


def _health_panel(h: "Health", ar_model: str, route: "Route | None" = None) -> "Panel":
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    if h.local:
        grid.add_row("Server", "none: in-process engines")
    else:
        grid.add_row("Server", text(h.url, "  ", ("reachable", "green"), f" (status {h.status})"))
        if h.degraded:  # up, but its default model cannot run there
            why = h.extra.get("reason") or "its default model cannot run there."
            grid.add_row("Degraded", text((f"The server is up but degraded: {why}", "yellow")))
    if route is not None:  # server_url in imagear.toml, or the database's ar_server_url
        grid.add_row("Chosen by", text(route.source))
    grid.add_row("Default model", text(h.default_model or "-"))
    grid.add_row("Loaded models", text(", ".join(map(str, h.loaded_models)) or "none"))
    if h.available_models is not None and not h.local:
        grid.add_row("Available models", text(", ".join(map(str, h.available_models)) or "none"))
    grid.add_row("CUDA", "yes" if h.cuda else "no")
    grid.add_row("Low-VRAM mode", "on" if h.low_vram_mode else "off")
    if h.cuda or h.device:
        vram = ""
        if h.vram_total_gb is not None:
            vram = f"  {h.vram_free_gb} GB free of {h.vram_total_gb} GB"
        grid.add_row("GPU", text(f"{h.device or '-'}{vram}"))
    _ops_rows(grid, h)
    for engine in h.engines:
        state = ("can run here", "green") if engine["available"] else ("cannot run here", "red")
        reason = str(engine.get("reason") or "").split(";")[0].rstrip(".")
        grid.add_row(
            text(f"  {engine['name']}"), text(state, ": ", reason) if reason else text(state)
        )
    if any(not e["available"] for e in h.engines):
        grid.add_row(
            "", text(("`imagear health --json` says where imagear looked and what to do.", "dim"))
        )
    title = "In-process engines" if h.local else "Image-to-video server"
    return Panel(grid, title=title, expand=False)


def _ops_rows(grid: "Table", h: "Health") -> None:
    """Queue length, busy slots, version and uptime, each when the server reports it."""
    ops = h.ops()
    labels = {"queue_length": "Queue length", "busy_slots": "Busy slots", "version": "Version"}
    for key, label in labels.items():
        if ops[key] is not None:
            grid.add_row(label, text(str(ops[key])))
    uptime = h.uptime()
    if uptime is not None:
        grid.add_row("Uptime", text(uptime))


def _not_circular(s: Said) -> Said:
    """The error as `imagear health` says it: advice that sends the user to `imagear health`
    (the command just run) loses that part."""
    if s.advice:
        advice = re.sub(r"\s*\(`imagear health`\)|\s*Run `imagear health`[^.]*\.", "", s.advice)
        return replace(s, advice=advice.strip() or None)
    return s


def _model_problem(animator: "Animator", ar_model: str, h: "Health") -> ImagearError | None:
    """Why ar_model cannot be served where generation requests go (None: it can): in this
    process (EngineUnavailable, exit 6) or by the server (ModelNotAvailable, exit 5)."""
    from imagear.generators import default_model_problem, server_models
    from imagear.models import get_model

    try:
        desc = get_model(ar_model)
    except ImagearError as err:
        return err
    if desc.name in server_models(h):
        return None
    if h.local:
        return default_model_problem(desc, animator.app.config, CLI)
    try:
        animator.check_ready()  # the server's own answer (ModelNotAvailable, ...)
    except ImagearError as err:
        return err
    return None


def run_health(ctx: typer.Context, as_json: bool) -> None:
    """Report health. Exit 5 when the server is unreachable or cannot serve ar_model, 6 when
    ar_model cannot run in this process (no server set)."""
    from imagear.animate import Animator
    from imagear.domain import json_object
    from imagear.pool import pool_lines
    from imagear.settings import warnings as settings_warnings
    from imagear.urls import redact_url

    with handle_errors(as_json, reword=lambda s, _err: _not_circular(s)):
        app = get_app(ctx, read_only=True)
        with Animator(app) as animator:
            settings = animator.settings()
            stored_warnings = settings_warnings(app.engine)
            route = animator.route(settings)  # where requests go, and why
            route_json = {**json_object(route), "url": redact_url(route.url) if route.url else None}
            try:
                h = animator.health()
            except ServerError as err:
                for stored in stored_warnings:
                    warn(visible(stored))
                url = redact_url(route.url or "")
                unreachable = {"reachable": False, "url": url, "route": route_json}
                report(_not_circular(said(err)), as_json, wrap=unreachable)
            problem = _model_problem(animator, settings.ar_model, h)
    pool = h.extra.get("pool")  # a pool of servers (ar_server_pool): every server's state
    data: dict[str, object] = {}
    if as_json:
        model = {"name": settings.ar_model, "available": problem is None}
        data = {**h.as_dict(), "route": route_json, **({"pool": pool} if pool else {})}
        data.update(ar_model=model, settings_warnings=stored_warnings, exit_code=0)
        if problem is None:
            print_json(data)
    else:
        console.print(_health_panel(h, settings.ar_model, route))
        for line in pool_lines(h):
            console.print(text(line))
    for stored in stored_warnings:  # settings imagear does not use as stored
        warn(visible(stored))
    if problem is not None:  # the report, then the failure (in the same JSON document)
        report(_not_circular(said(problem)), as_json, wrap=data)


def health(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Is the image-to-video server reachable; its models, CUDA, low-VRAM mode and GPU memory.

    With no server set, the same for the in-process engines. Exits 5 when the server cannot be
    reached or cannot serve ar_model, 6 when ar_model cannot run in this process: a monitoring
    check reads "healthy" only when a clip can be made.
    """
    run_health(ctx, as_json)


# -- delete / recent ----------------------------------------------------------------------------


def delete(ctx: typer.Context, object_id: ObjectIdOpt = None, as_json: JsonOpt = False) -> None:
    """Remove a record's animation: its object_image_ar row, then its MP4."""
    from imagear.animate import Animator

    with handle_errors(as_json):
        if object_id is None:
            raise UsageError("--object-id is required.", "e.g. imagear delete --object-id 42")
        with Animator(get_app(ctx)) as animator:
            result = animator.delete(object_id)
    if as_json:  # the row's columns in table order, then file, file_removed, removed
        print_json({"status": "deleted", **result})
        return
    if result.get("file") is None:  # its stored path would leave storage_root: not touched
        line = (
            f"Deleted the animation of record {object_id}; its stored path "
            f"{result.get('mp4_path')!r} is outside storage_root or not this record's clip "
            "file, so no file was removed."
        )
    else:
        gone = "and its file" if result.get("file_removed") else "(its file was already gone)"
        line = f"Deleted the animation of record {object_id} {gone} {result.get('file')}."
    console.print(text(line), soft_wrap=True)


def recent(
    ctx: typer.Context,
    n: Annotated[
        int,
        typer.Option(
            "-n", "--limit", metavar="N", min=1, max=MAX_COUNT, help="How many clips to show."
        ),
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """The last clips: record, model, prompt, size, generation time and date."""
    from imagear.animate import Animator

    with handle_errors(as_json), Animator(get_app(ctx, read_only=True)) as animator:
        rows, total = animator.recent(n)
    if as_json:
        print_json({"total": total, "clips": rows})
        return
    from rich.table import Table

    from imagear.provenance.disclosure import short

    table = Table(caption=f"{len(rows)} of {total} clip(s)")
    columns = ("record", "model", "made", "prompt", "size", "frame size", "generated in", "date")
    for name in columns:
        # a record, model name or date broken over two lines is unreadable: they never wrap (a
        # long identifier is cut with an ellipsis instead); the other columns give way first
        if name in ("record", "model", "date"):
            width = 20 if name == "record" else None
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=width)
        else:
            table.add_column(name, overflow="fold")
    for r in rows:
        label = f"{r['object_id']}" + (f" {r['identifier']}" if r.get("identifier") else "")
        size = r.get("mp4_size")
        table.add_row(
            text(label),
            text(r.get("ai_model") or "-"),
            short(str(r.get("ai_model") or "")),
            text(r.get("ai_prompt") or "-"),
            size_text(size if isinstance(size, int | float) else None),
            _dimensions(r.get("mp4_width"), r.get("mp4_height")),
            "-" if r.get("generation_secs") is None else f"{r.get('generation_secs')} s",
            str(r.get("updated_at") or r.get("created_at") or "")[:19].replace("T", " "),
        )
    console.print(table)


# -- registration and the root mirror ---------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add animate, health, delete and recent to the root app."""
    app.command("animate", short_help="Animate one record's master image into an MP4 clip.")(
        animate
    )
    app.command("health", short_help="Check where clips are made, and that ar_model runs there.")(
        health
    )
    app.command("delete", short_help="Remove a record's clip and its row.")(delete)
    app.command("recent", short_help="List the last clips made.")(recent)


def root_mirror(ctx: typer.Context, *, object_id: int | None, health: bool, **opts: Any) -> bool:
    """``imagear --object-id N ...`` / ``imagear --health``: True when it handled the call."""
    given = object_id is not None or health
    as_json = bool(opts.get("as_json"))
    if not given:
        if any(v not in (None, False) for v in opts.values()):
            fail(
                UsageError("These options need --object-id N (or use `imagear animate`)."),
                as_json,
            )
        return False
    if ctx.invoked_subcommand is not None:
        fail(
            UsageError(
                f"--object-id / --health cannot be combined with `{ctx.invoked_subcommand}`.",
                "Give them either to the root (`imagear --object-id N`) or use `imagear animate`.",
            ),
            as_json,
        )
    if health:
        run_health(ctx, bool(opts.get("as_json")))
        return True
    animate(ctx, object_id=object_id, **opts)
    return True
