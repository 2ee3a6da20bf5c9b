"""The generation options, declared once for every command that takes them.

``imagear animate``, the root mirror of ``ahg:image-ar`` (``imagear --object-id N ...``) and
``imagear batch`` declare their parameters with these aliases and turn the parsed values into
the registry's per-call ``overrides`` and model options (``extra``) with
:func:`generation_values`. The flags are worded by :mod:`imagear.cli.wording`.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
from collections.abc import Sequence
from typing import Annotated

import typer

from imagear.cli.wording import CLI, MOTION_FLAG
from imagear.errors import InvalidOption

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", metavar="NAME", help="Model to use (default: ar_model)."),
]
PromptOpt = Annotated[
    str | None,
    typer.Option("--prompt", metavar="TEXT", help="Text prompt (prompt-aware models only)."),
]
FramesOpt = Annotated[int | None, typer.Option("--frames", metavar="N", help="Frames to generate.")]
FpsOpt = Annotated[int | None, typer.Option("--fps", metavar="N", help="Frames per second.")]
MotionOpt = Annotated[
    str | None,
    typer.Option(
        MOTION_FLAG,
        metavar="N|NAME",
        help="Motion: a number is SVD's motion bucket (1..255); a name is a Ken Burns motion "
        "(zoom_in, zoom_out, pan_lr, pan_rl, ken_burns_diagonal).",
    ),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", metavar="N", help="Seed; 0 = random.", min=0)
]
WidthOpt = Annotated[
    int | None, typer.Option("--width", metavar="PIXELS", help="Output width in pixels.")
]
HeightOpt = Annotated[
    int | None, typer.Option("--height", metavar="PIXELS", help="Output height in pixels.")
]
OptionPairs = Annotated[
    list[str] | None,
    typer.Option(
        "-o",
        "--option",
        metavar="KEY=VALUE",
        help="A model option, repeatable, e.g. -o motion=zoom_in "
        "(see `imagear models show MODEL`).",
    ),
]
"""The ``-o KEY=VALUE`` option for commands that generate; pass its value to parse_options."""


def parse_options(pairs: Sequence[str] | None) -> dict[str, str]:
    """Turn repeated ``-o KEY=VALUE`` values into a dict (values stay strings).

    Declare the option with :data:`OptionPairs` (``list[str]``, one ``KEY=VALUE`` token per
    ``-o``). Typer cannot declare a repeatable two-value option (``list[tuple[str, str]]`` is
    refused: "List types with complex sub-types are not currently supported"), so the pair is
    one token split at the first ``=``: ``-o prompt="a slow pan"`` keeps spaces and later ``=``.
    The strings are coerced by the model's pydantic Options in ``resolve_generation``.
    Raises InvalidOption for a token without ``=`` or an empty key, and for a key given twice.
    """
    options: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidOption(
                f"-o needs KEY=VALUE (e.g. -o num_inference_steps=30), not {pair!r}.",
                advice="See a model's options with `imagear models show MODEL`.",
            )
        if key in options:
            raise InvalidOption(f"{CLI.label(key, 'pair')} is given twice; give it once.")
        options[key] = value
    return options


def generation_values(
    option: Sequence[str] | None,
    frames: int | None = None,
    fps: int | None = None,
    motion: str | None = None,
    seed: int | None = None,
    prompt: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> tuple[dict[str, object], dict[str, object]]:
    """The parsed generation options -> (``overrides``, ``extra``) for the registry.

    The parameters are named as the commands name theirs (callers pass them in this order).
    ``--motion`` is a number (SVD's motion bucket, ``motion_bucket_id``) or a name (the
    ``motion`` model option). Values not given are left out. Raises InvalidOption for a bad
    ``-o`` pair, a length given twice (a frame count and ``-o duration``), or a motion given
    both as ``--motion NAME`` and ``-o motion``.
    """
    extra: dict[str, object] = dict(parse_options(option))
    overrides: dict[str, object] = {
        "num_frames": frames,
        "fps": fps,
        "seed": seed,
        "prompt": prompt,
        "width": width,
        "height": height,
    }
    lengths = {k.strip().lower().replace("-", "_") for k in extra}
    if "duration" in lengths and (frames is not None or "num_frames" in lengths):
        given = CLI.label("num_frames", "option" if frames is not None else "pair")
        duration = CLI.label("duration", "pair")
        raise InvalidOption(
            f"{given} and {duration} both set the clip's length; "
            f"give either {given} or {duration}, not both.",
            f"Keep {given} to count the length in frames, or {duration} to give it in "
            "seconds; drop the other.",
            fields=("num_frames", "duration"),
        )
    if motion is not None:
        if motion.strip().isascii() and motion.strip().isdigit():
            overrides["motion_bucket_id"] = int(motion)
        elif "motion" in extra:
            raise InvalidOption(
                f"motion is given twice ({MOTION_FLAG} and {CLI.label('motion', 'pair')}); "
                "give it once.",
                fields=("motion",),
            )
        else:
            extra["motion"] = motion.strip()
    return {k: v for k, v in overrides.items() if v is not None}, extra
