"""`imagear models` / `imagear models show`, ``-o KEY=VALUE`` parsing, and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from imagear.cli import models as models_cli
from imagear.cli._common import handle_errors, print_json
from imagear.cli.gen_options import OptionPairs, parse_options
from imagear.cli.wording import CLI
from imagear.errors import InvalidOption
from imagear.models import list_models, reset_plugin_cache, reset_registry, resolve_generation

PLUGINS = Path(__file__).parent / "plugins"
BUILTIN_NAMES = [
    "svd",
    "svd-xt",
    "cogvideox-2b",
    "cogvideox-5b-i2v",
    "wan-2.1",
    "wan-2.2",
    "wan-2.2-a14b",
    "ltx-video",
    "kenburns",
]

app = typer.Typer()
app.add_typer(models_cli.app, name="models")


@app.command()
def generate(
    model: Annotated[str, typer.Option("--model")] = "svd",
    frames: Annotated[int | None, typer.Option("--frames")] = None,
    fps: Annotated[int | None, typer.Option("--fps")] = None,
    motion: Annotated[int | None, typer.Option("--motion")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt")] = None,
    width: Annotated[int | None, typer.Option("--width")] = None,
    height: Annotated[int | None, typer.Option("--height")] = None,
    option: OptionPairs = None,
) -> None:
    """What a generating command does: resolve inside handle_errors (in the CLI's wording),
    print the options."""
    overrides: dict[str, Any] = {
        "num_frames": frames,
        "fps": fps,
        "motion_bucket_id": motion,
        "seed": seed,
        "prompt": prompt,
        "width": width,
        "height": height,
    }
    with handle_errors():
        resolved = resolve_generation(
            model,
            {"ar_num_frames": 14, "ar_fps": 7},
            overrides,
            parse_options(option),
            (800, 600),
            wording=CLI,
        )
    print_json({"options": resolved.options.model_dump(), "notices": resolved.notices})


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_models_lists_every_model(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0, r.output
    for name in BUILTIN_NAMES:
        assert name in r.stdout
    for needle in ("8N+1, max 49", "4N+1, max 121", "1024x576", "Apache-2.0", "licence"):
        assert needle in r.stdout
    assert r.stderr == ""


def test_models_piped_is_one_plain_line_per_model(runner: CliRunner) -> None:
    """Not a terminal: a header and one tab-separated line per model, never wrapped."""
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0, r.output
    header, *lines = r.stdout.splitlines()
    assert header.split("\t") == list(models_cli.COLUMNS)
    assert [line.split("\t")[0] for line in lines] == BUILTIN_NAMES
    svd = lines[0].split("\t")
    assert svd[1] == "stable-video-diffusion, svd-img2vid" and svd[4] == "14 or 25"
    assert len(svd) == len(models_cli.COLUMNS) and "\x1b[" not in r.stdout


def test_models_on_a_terminal_keeps_names_whole(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_cli, "is_tty", lambda: True)
    monkeypatch.setattr(models_cli.console, "width", 80)
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0, r.output
    for name in BUILTIN_NAMES:
        assert f" {name} " in r.stdout, r.stdout
    assert "14 or 25" in r.stdout and "1024x576 /8" in r.stdout
    assert "imagear models show NAME" in r.stdout  # where the left-out columns are
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    monkeypatch.setattr(models_cli.console, "width", 180)
    wide = runner.invoke(app, ["models"]).stdout
    assert " cogvideox-5b-i2v " in wide and "licence" in wide and "Apache-2.0" in wide


def test_models_show_facts_are_not_wrapped(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_cli.console, "width", 40)
    r = runner.invoke(app, ["models", "show", "svd"])
    assert r.exit_code == 0, r.output
    assert "  notes: Image only: the prompt is ignored. Heratio's default model.\n" in r.stdout


def test_models_json(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [d["name"] for d in data] == BUILTIN_NAMES
    svd = data[0]
    assert svd["frames_rule"] == "14 or 25" and svd["default_frames"] == 14
    assert svd["takes_image"] is True and svd["uses_prompt"] is False
    assert (svd["native_width"], svd["native_height"], svd["native_fps"]) == (1024, 576, 7)
    assert svd["memory"] and svd["licence"] and "aliases" in svd
    cog = next(d for d in data if d["name"] == "cogvideox-2b")
    assert cog["takes_image"] is False


def test_models_show_lists_options(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models", "show", "svd"])
    assert r.exit_code == 0, r.output
    for needle in ("motion_bucket_id", "--motion", "from 1 to 255", "127", "noise_aug_strength"):
        assert needle in r.stdout
    assert "ignored by svd" in r.stdout  # the prompt


def test_models_show_json_derives_bounds_from_the_options(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models", "show", "WAN", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["name"] == "wan-2.1"
    options = {o["name"]: o for o in data["options"]}
    assert options["num_frames"]["default"] == 81 and "4N+1" in options["num_frames"]["allowed"]
    assert (options["width"]["minimum"], options["width"]["maximum"]) == (128, 1280)
    assert "motion_bucket_id" not in options
    r = runner.invoke(app, ["models", "show", "kenburns", "--json"])
    options = {o["name"]: o for o in json.loads(r.stdout)["options"]}
    assert options["motion"]["choices"] == [
        "zoom_in",
        "zoom_out",
        "pan_lr",
        "pan_rl",
        "ken_burns_diagonal",
    ]
    assert options["zoom"]["minimum"] == 1.05 and options["zoom"]["maximum"] == 2.0
    assert options["loop"]["default"] is False and options["motion"]["flag"].startswith("-o")


def test_models_show_unknown_exits_3(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models", "show", "sora"])
    assert r.exit_code == 3
    assert "Unknown model 'sora'" in r.stderr and "wan-2.1" in r.stderr
    assert r.stdout == ""


def test_models_with_a_good_and_a_broken_plugin(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS))
    reset_plugin_cache()
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0, r.output
    assert "test-fake" in r.stdout and "test-more" in r.stdout and "svd" in r.stdout
    assert r.stderr.count("Warning:") == 1, r.stderr
    assert "'broken'" in r.stderr and "pip uninstall imagear-brokenplugin" in r.stderr
    # Loaded once: the next command neither re-imports nor warns again.
    r = runner.invoke(app, ["models", "show", "test-fake", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["name"] == "test-fake"
    assert r.stderr == ""


def test_generate_command_resolves_and_reports_notices(runner: CliRunner) -> None:
    r = runner.invoke(
        app, ["generate", "--model", "SVD", "--frames", "25", "--prompt", "x", "-o", "seed=3"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["options"]["num_frames"] == 25 and data["options"]["seed"] == 3
    assert (data["options"]["width"], data["options"]["height"]) == (888, 664)
    assert data["notices"] == ["svd ignores --prompt"]
    r = runner.invoke(app, ["generate", "--model", "kenburns", "-o", "motion=pan_lr"])
    assert json.loads(r.stdout)["options"]["motion"] == "pan_lr"


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--frames", "20"], ["svd accepts --frames 14 or 25, not 20."]),
        (["--model", "cogvideox-5b-i2v", "--frames", "48"], ["8N+1", "not 48"]),
        (["--model", "wan-2.1", "--frames", "80"], ["4N+1", "not 80"]),
        (["--motion", "0"], ["--motion from 1 to 255, not 0"]),
        (["--motion", "256"], ["--motion from 1 to 255, not 256"]),
        (["--seed", "-1"], ["--seed from 0 to", "not -1"]),
        (["--width", "1001"], ["a multiple of 8", "not 1001"]),
        (["-o", "motion_bucket=5"], ["no option 'motion_bucket'", "motion_bucket_id"]),
        (["-o", "frames"], ["-o needs KEY=VALUE"]),
        (["--model", "kenburns", "-o", "motion=spin"], ["zoom_in", "not spin"]),
    ],
)
def test_invalid_values_exit_2_with_the_allowed_values(
    runner: CliRunner, args: list[str], needles: list[str]
) -> None:
    r = runner.invoke(app, ["generate", *args])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    first_line = r.stderr.splitlines()[0]
    assert first_line.startswith("Error: ")
    for needle in needles:
        assert needle in first_line, (needle, r.stderr)


def test_unknown_model_exits_3(runner: CliRunner) -> None:
    r = runner.invoke(app, ["generate", "--model", "nope"])
    assert r.exit_code == 3 and "Known models" in r.stderr


def test_parse_options() -> None:
    pairs = ["num_frames=25", "prompt=a slow pan = nice", " zoom =1.5", "empty="]
    assert parse_options(pairs) == {
        "num_frames": "25",
        "prompt": "a slow pan = nice",
        "zoom": "1.5",
        "empty": "",
    }
    assert parse_options(None) == {} and parse_options([]) == {}


@pytest.mark.parametrize("pairs", [["frames"], ["=3"], ["a=1", "a=2"]])
def test_parse_options_refuses_bad_pairs(pairs: list[str]) -> None:
    with pytest.raises(InvalidOption) as err:
        parse_options(pairs)
    assert err.value.exit_code == 2


def test_builtin_list_is_what_the_cli_shows(runner: CliRunner) -> None:
    r = runner.invoke(app, ["models", "--json"])
    assert [d["name"] for d in json.loads(r.stdout)] == [m.name for m in list_models()]
