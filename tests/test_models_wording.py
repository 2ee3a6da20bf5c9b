"""The registry words options by their option names unless a front end hands it its wording;
refusals carry the options at fault (``InvalidOption.fields``). The command line's wording
(flags) is pinned by test_models.py and test_models_cli.py; here: option names, the server's
form fields, and what every wording shares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from imagear.cli.wording import CLI, FLAGS
from imagear.errors import InvalidOption
from imagear.models import (
    COMMON_PARAMETERS,
    OptionProblem,
    Wording,
    get_model,
    resolve_generation,
)
from imagear.server.upload import FORM

MODELS_SRC = Path(__file__).resolve().parents[1] / "src" / "imagear" / "models"

pytestmark = pytest.mark.usefixtures("clean_registry")


def resolve(
    model: str,
    extra: dict[str, Any] | None = None,
    wording: Wording | None = None,
    settings: dict[str, Any] | None = None,
    **given: Any,
):
    return resolve_generation(
        model, settings or {}, given, extra or {}, (1600, 900), wording=wording
    )


def refusal(model: str, extra: dict[str, Any] | None = None, **given: Any) -> InvalidOption:
    with pytest.raises(InvalidOption) as err:
        resolve(model, extra, **given)
    return err.value


# A refusal of each kind: (model, per-call values, model options, the options at fault).
REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("svd", {"num_frames": 20}, {}, ("num_frames",)),
    ("svd", {"width": 1001}, {}, ("width",)),
    ("svd", {"seed": -1}, {}, ("seed",)),
    ("svd", {}, {"noise_aug_strength": "2"}, ("noise_aug_strength",)),
    ("svd", {}, {"min_guidance_scale": "5"}, ("max_guidance_scale", "min_guidance_scale")),
    ("svd", {}, {"strength": "1"}, ("strength",)),
    ("svd", {"num_frames": 14}, {"num_frames": "25"}, ("num_frames",)),
    ("svd", {}, {"motion": "pan_rl"}, ("motion",)),
    ("wan-2.1", {"num_frames": 81}, {"motion": "zoom_in"}, ("motion",)),
    ("kenburns", {"motion_bucket_id": 180}, {}, ("motion_bucket_id",)),
    ("kenburns", {}, {"motion": "spin"}, ("motion",)),
    ("kenburns", {"num_frames": 10}, {"duration": "2"}, ("num_frames", "duration")),
    ("kenburns", {"fps": 60}, {"duration": "100"}, ("duration",)),
    ("cogvideox-2b", {}, {}, ("prompt",)),
]


@pytest.mark.parametrize(("model", "given", "extra", "fields"), REFUSALS)
def test_by_default_refusals_name_options_and_carry_them(
    model: str, given: dict[str, Any], extra: dict[str, Any], fields: tuple[str, ...]
) -> None:
    err = refusal(model, extra, **given)
    assert err.fields == fields
    assert err.exit_code == 2 and err.advice is None  # no front end: no place to look them up
    assert not re.search(r"(^|\s|\()--?[a-z]", err.message), err.message  # no flag spellings
    assert fields[0] in err.message


@pytest.mark.parametrize(("model", "given", "extra", "fields"), REFUSALS)
def test_the_cli_and_the_server_get_the_same_fields(
    model: str, given: dict[str, Any], extra: dict[str, Any], fields: tuple[str, ...]
) -> None:
    for wording in (CLI, FORM):
        with pytest.raises(InvalidOption) as err:
            resolve(model, extra, wording, **given)
        assert err.value.fields == fields


def test_default_messages_and_notices_use_option_names() -> None:
    assert refusal("svd", num_frames=20).message == "svd accepts num_frames 14 or 25, not 20."
    assert resolve("svd", prompt="x").notices == ["svd ignores prompt"]
    assert resolve("wan-2.1", motion_bucket_id=9, num_frames=81).notices == [
        "wan-2.1 ignores motion_bucket_id"
    ]
    assert (
        "ar_num_frames=20 is not valid for wan-2.1 (num_frames: 4N+1, max 121); using 81"
        in resolve("wan-2.1", settings={"ar_num_frames": 20}).notices
    )
    prompt = refusal("cogvideox-2b").message
    assert "needs a prompt: pass prompt or set ar_default_prompt" in prompt
    both = refusal("kenburns", {"Duration": "2"}, num_frames=10).message
    assert both == (
        "num_frames and Duration both set the clip's length; "
        "give either num_frames or Duration, not both."
    )


def test_default_motion_refusals_name_the_two_options() -> None:
    assert refusal("svd", {"motion": "pan_rl"}).message == (
        "svd has no motion option: its motion is motion_bucket_id, a number 1..255 (motion "
        "bucket); names like pan_rl are Ken Burns motions (model kenburns)."
    )
    assert refusal("wan-2.1", {"motion": "spin"}, num_frames=81).message == (
        "wan-2.1 has no motion option; spin is no motion name (zoom_in, zoom_out, pan_lr, "
        "pan_rl, ken_burns_diagonal are Ken Burns motions (model kenburns))."
    )
    message = refusal("kenburns", motion_bucket_id=180).message
    assert message.startswith(
        "kenburns has no motion_bucket_id option, the motion bucket of SVD models (model svd); "
        "its motion option takes a motion name (zoom_in,"
    )
    assert message.endswith("ken_burns_diagonal), not 180.")


def test_the_cli_wording_names_its_flags() -> None:
    with pytest.raises(InvalidOption) as err:
        resolve("svd", {"motion": "pan_rl"}, CLI)
    assert err.value.message.startswith("--motion for svd must be a number 1..255")
    assert "(--model kenburns)" in err.value.message
    assert err.value.advice == "See its options with `imagear models show svd`."
    with pytest.raises(InvalidOption) as err:
        resolve("cogvideox-2b", wording=CLI)
    assert "pass --prompt or set ar_default_prompt" in err.value.message


def test_the_server_words_options_as_its_form_fields() -> None:
    with pytest.raises(InvalidOption) as err:
        resolve("svd", {"strength": "1"}, FORM)
    assert err.value.advice == "GET /models lists the options of svd."
    with pytest.raises(InvalidOption) as err:
        resolve("kenburns", {"zoom": "3"}, FORM)
    assert err.value.message == "kenburns accepts zoom from 1.05 to 2.0, not 3."
    assert resolve("svd", wording=FORM, prompt="x").notices == ["svd ignores prompt"]


def test_option_problem_names_options_by_name_until_worded() -> None:
    problem = OptionProblem("pass {prompt} or {zoom}; {other} stays", "prompt", "zoom")
    assert str(problem) == "pass prompt or zoom; {other} stays"
    assert problem.worded(str.upper) == "pass PROMPT or ZOOM; {other} stays"
    assert problem.fields == ("prompt", "zoom")


def test_the_cli_flag_table_covers_the_common_parameters() -> None:
    assert set(FLAGS) == set(COMMON_PARAMETERS)
    assert [CLI.given_as(k) for k in ("num_frames", "zoom")] == ["--frames", "-o zoom=VALUE"]
    assert CLI.label("motion_bucket_id", "option") == CLI.motion_control() == "--motion"


def test_option_specs_name_no_flags() -> None:
    for desc in (get_model("svd"), get_model("kenburns")):
        for spec in desc.option_specs():
            assert "flag" not in spec
            assert not any(isinstance(v, str) and v.startswith("-") for v in spec.values())


def test_the_models_package_spells_no_cli_flag() -> None:
    """The command line's wording (its flags and -o pairs) lives in imagear.cli."""
    spelling = re.compile(r"(^|[^\w-])--[a-z]|(^|\W)-o [a-z]", re.I)
    for path in sorted(MODELS_SRC.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not spelling.search(line), f"{path.name}:{number}: {line.strip()}"
