"""The model registry: descriptors, lookups, the merge rule, engines and plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, ValidationError

from imagear.cli.wording import CLI
from imagear.errors import InvalidOption, UnknownModel
from imagear.models import (
    BUILTINS,
    BaseOptions,
    ModelDescriptor,
    get_model,
    list_models,
    register,
    reset_registry,
    resolve_generation,
    unregister,
)
from imagear.models.kenburns import KenBurns
from imagear.models.svd import SVD

SRC = Path(__file__).resolve().parents[1] / "src"
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

HERATIO_SETTINGS: dict[str, Any] = {
    "ar_model": "svd",
    "ar_num_frames": 14,
    "ar_fps": 7,
    "ar_motion_bucket_id": 127,
    "ar_seed": 0,
    "ar_default_prompt": "",
}
NO_OVERRIDES: dict[str, Any] = dict.fromkeys(
    ("num_frames", "fps", "motion_bucket_id", "seed", "prompt", "width", "height")
)


pytestmark = pytest.mark.usefixtures("clean_registry")


def resolve(
    model: str,
    settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    image_size: tuple[int, int] | None = (1600, 900),
    **overrides: Any,
):
    """Resolve as the command line does: messages name its flags (test_models_wording.py has
    the option-name and server wordings)."""
    return resolve_generation(
        model,
        HERATIO_SETTINGS if settings is None else settings,
        {**NO_OVERRIDES, **overrides},
        extra or {},
        image_size,
        wording=CLI,
    )


# -- descriptors --------------------------------------------------------------------------------


def test_builtins_are_listed_in_order() -> None:
    assert [m.name for m in list_models()] == BUILTIN_NAMES
    assert [cls.name for cls in BUILTINS] == BUILTIN_NAMES


SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"
FACTS = {  # repo, default frames, native size, fps, (takes image, uses prompt, needs a GPU)
    "svd": (SVD_REPO, 14, (1024, 576), 7, (True, False, True)),
    "svd-xt": (SVD_REPO + "-xt", 25, (1024, 576), 7, (True, False, True)),
    "cogvideox-2b": ("THUDM/CogVideoX-2b", 49, (720, 480), 8, (False, True, True)),
    "cogvideox-5b-i2v": ("THUDM/CogVideoX-5b-I2V", 49, (720, 480), 8, (True, True, True)),
    "wan-2.1": ("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", 81, (832, 480), 16, (True, True, True)),
    "wan-2.2": ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", 121, (1280, 704), 24, (True, True, True)),
    "wan-2.2-a14b": ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", 81, (832, 480), 16, (True, True, True)),
    "ltx-video": ("Lightricks/LTX-Video", 161, (704, 512), 25, (True, True, True)),
    "kenburns": (None, 125, (1280, 720), 25, (True, False, False)),
}


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_facts(name: str) -> None:
    repo, frames, size, fps, flags = FACTS[name]
    m = get_model(name)
    assert m.hf_repo == repo
    assert m.default_frames == frames
    assert (m.native_width, m.native_height) == size
    assert m.native_fps == fps
    assert (m.takes_image, m.uses_prompt, m.requires_gpu) == flags
    assert m.honours_settings is (name != "kenburns")
    assert m.frames_rule and m.memory and m.licence and m.family


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_descriptor_defaults_agree_with_its_options(name: str) -> None:
    m = get_model(name)
    fields = m.Options.model_fields
    assert fields["num_frames"].default == m.default_frames
    assert fields["fps"].default == m.native_fps
    assert m.Options.descriptor is type(m)
    assert m.Options.model_config.get("extra") == "forbid"
    assert issubclass(m.Options, BaseOptions)
    assert m.side_ok("width", m.native_width) and m.side_ok("height", m.native_height)
    options = m.Options(prompt="a slow pan")  # defaults plus a prompt validate
    assert options.num_frames == m.default_frames and options.seed == 0


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_option_is_described_and_bounded(name: str) -> None:
    m = get_model(name)
    for spec in m.option_specs():
        assert spec["description"], f"{name}.{spec['name']} has no description"
        if spec["type"] in ("int", "float"):
            assert spec["minimum"] is not None and spec["maximum"] is not None, spec
        assert spec["allowed"]


def test_each_descriptor_has_its_own_options_class() -> None:
    classes = [m.Options for m in list_models()]
    assert len(set(classes)) == len(classes)
    assert get_model("svd-xt").Options.model_fields["num_frames"].default == 25
    assert get_model("svd").Options.model_fields["num_frames"].default == 14


def test_unknown_option_is_forbidden_by_the_options_class() -> None:
    with pytest.raises(ValidationError):
        get_model("svd").Options(foo=1)


@pytest.mark.parametrize(
    "alias, name",
    [
        ("SVD", "svd"),
        ("  Svd-XT ", "svd-xt"),
        ("svd_xt", "svd-xt"),
        ("wan", "wan-2.1"),
        ("Wan2.1", "wan-2.1"),
        ("cogvideox-5b", "cogvideox-5b-i2v"),
        ("Ken-Burns", "kenburns"),
    ],
)
def test_get_model_accepts_aliases_case_insensitively(alias: str, name: str) -> None:
    assert get_model(alias).name == name


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModel) as err:
        get_model("sora")
    assert err.value.exit_code == 3
    assert "'sora'" in err.value.message
    for name in BUILTIN_NAMES:
        assert name in err.value.message


# -- output size --------------------------------------------------------------------------------


def test_output_size_keeps_native_area_and_aspect() -> None:
    svd = get_model("svd")
    assert svd.output_size((1920, 1080)) == (1024, 576)
    assert svd.output_size(None) == (1024, 576)
    width, height = svd.output_size((4000, 3000))
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width / height - 4 / 3) < 0.02
    assert abs(width * height - 1024 * 576) / (1024 * 576) < 0.03
    assert svd.output_size((3000, 4000)) == (height, width)


def test_output_size_rounds_to_divisible_by_and_stays_in_bounds() -> None:
    wan = get_model("wan-2.1")
    width, height = wan.output_size((1000, 1000))
    assert width == height and width % 16 == 0
    assert abs(width * height - 832 * 480) / (832 * 480) < 0.05
    wide, low = wan.output_size((20000, 1000))  # a panorama
    assert wide <= wan.max_side and low >= wan.min_side
    assert wide % 16 == 0 and low % 16 == 0


def test_fixed_size_models_ignore_the_aspect_ratio() -> None:
    for name in ("cogvideox-5b-i2v", "cogvideox-2b"):
        assert get_model(name).output_size((3000, 4000)) == (720, 480)


def test_kenburns_default_size() -> None:
    kb = get_model("kenburns")
    assert kb.output_size(None) == (1280, 720)
    assert kb.output_size((3840, 2160)) == (1280, 720)
    width, height = kb.output_size((1001, 1999))
    assert width % 2 == 0 and height % 2 == 0


# -- resolve_generation: merge rule ---------------------------------------------------------


def test_defaults_with_empty_settings() -> None:
    r = resolve("svd", settings={}, image_size=(1920, 1080))
    o = r.options
    assert (o.num_frames, o.fps, o.motion_bucket_id, o.seed) == (14, 7, 127, 0)
    assert (o.width, o.height) == (1024, 576)
    assert o.prompt is None and r.notices == []
    assert r.descriptor is get_model("svd")


def test_settings_fill_what_the_call_does_not_give() -> None:
    settings = {**HERATIO_SETTINGS, "ar_num_frames": 25, "ar_fps": 10, "ar_motion_bucket_id": 200}
    settings["ar_seed"] = 42
    o = resolve("svd", settings=settings).options
    assert (o.num_frames, o.fps, o.motion_bucket_id, o.seed) == (25, 10, 200, 42)


def test_per_call_values_beat_settings() -> None:
    settings = {**HERATIO_SETTINGS, "ar_num_frames": 25, "ar_fps": 10, "ar_seed": 42}
    o = resolve(
        "svd", settings=settings, num_frames=14, fps=12, motion_bucket_id=90, seed=7
    ).options
    assert (o.num_frames, o.fps, o.motion_bucket_id, o.seed) == (14, 12, 90, 7)


def test_settings_may_be_strings() -> None:
    settings = {"ar_num_frames": "25", "ar_fps": "8", "ar_seed": "5"}
    o = resolve("svd", settings=settings).options
    assert (o.num_frames, o.fps, o.seed) == (25, 8, 5)


def test_invalid_setting_falls_back_to_the_model_default_with_a_notice() -> None:
    r = resolve("wan-2.1", settings={**HERATIO_SETTINGS, "ar_num_frames": 20})
    assert r.options.num_frames == 81
    assert r.notices[0] == (
        "ar_num_frames=20 is not valid for wan-2.1 (frames: 4N+1, max 121); using 81"
    )
    r = resolve("cogvideox-5b-i2v", settings={**HERATIO_SETTINGS, "ar_num_frames": 20})
    assert r.options.num_frames == 49
    about = [n for n in r.notices if "ar_num_frames" in n]
    assert len(about) == 1 and "ar_num_frames=20" in about[0] and "8N+1" in about[0]
    r = resolve("svd", settings={**HERATIO_SETTINGS, "ar_motion_bucket_id": 300})
    assert r.options.motion_bucket_id == 127
    assert "ar_motion_bucket_id=300" in r.notices[0] and "using 127" in r.notices[0]


def test_invalid_setting_is_not_reported_when_the_call_overrides_it() -> None:
    r = resolve("wan-2.1", settings={**HERATIO_SETTINGS, "ar_num_frames": 20}, num_frames=49)
    assert r.options.num_frames == 49 and not any("ar_num_frames" in n for n in r.notices)


def test_kenburns_does_not_honour_the_ai_settings() -> None:
    settings = {**HERATIO_SETTINGS, "ar_num_frames": 14, "ar_fps": 7, "ar_seed": 9}
    r = resolve("kenburns", settings=settings, image_size=None)
    o = r.options
    assert (o.num_frames, o.fps, o.seed) == (125, 25, 9)  # ar_seed applies to every model
    assert (o.width, o.height) == (1280, 720)
    assert o.motion == "ken_burns_diagonal" and o.zoom == pytest.approx(1.30) and o.loop is False
    assert r.notices == []


def test_default_prompt_applies_to_prompt_aware_models_only() -> None:
    settings = {**HERATIO_SETTINGS, "ar_default_prompt": "leaves moving in the wind"}
    assert resolve("wan-2.1", settings=settings).options.prompt == "leaves moving in the wind"
    assert resolve("wan-2.1", settings=settings, prompt="clouds").options.prompt == "clouds"
    r = resolve("svd", settings=settings)
    assert r.options.prompt is None and r.notices == []  # a setting is not a per-call value


def test_ignored_per_call_parameters_give_one_notice_each() -> None:
    r = resolve("svd", prompt="a slow zoom")
    assert r.options.prompt is None
    assert r.notices == ["svd ignores --prompt"]
    r = resolve("wan-2.1", num_frames=81, fps=16, motion_bucket_id=200)
    assert r.notices == ["wan-2.1 ignores --motion"]
    assert not hasattr(r.options, "motion_bucket_id")
    r = resolve("kenburns", prompt="x")
    assert r.notices == ["kenburns ignores --prompt"]


def test_a_motion_bucket_for_kenburns_is_refused_naming_its_motions() -> None:
    """kenburns has a motion option of its own, so --motion 180 is a mistake, not noise."""
    with pytest.raises(InvalidOption) as err:
        resolve("kenburns", motion_bucket_id=180)
    message = err.value.message
    assert message.startswith("--motion for kenburns takes a motion name (zoom_in, zoom_out,")
    assert "ken_burns_diagonal), not 180" in message and "--model svd" in message
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "model, value, needles",
    [
        (
            "svd",
            "pan_rl",
            [
                "--motion for svd must be a number 1..255 (motion bucket); names like pan_rl "
                "are Ken Burns motions (--model kenburns)."
            ],
        ),
        ("svd-xt", "spin", ["--motion for svd-xt must be a number 1..255", "spin is no motion"]),
        ("wan-2.1", "zoom_in", ["wan-2.1 has no --motion option; names like zoom_in are Ken"]),
    ],
)
def test_a_motion_name_for_a_model_without_motions_says_what_motion_means(
    model: str, value: str, needles: list[str]
) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve(model, extra={"motion": value}, num_frames=81 if model == "wan-2.1" else None)
    for needle in needles:
        assert needle in err.value.message
    assert "has no option 'motion'" not in err.value.message


@pytest.mark.parametrize(
    "overrides, extra, both",
    [
        ({"num_frames": 10}, {"duration": "2"}, "give either --frames or -o duration, not both"),
        ({}, {"num_frames": "10", "Duration": "2"}, "either -o num_frames or -o Duration"),
    ],
)
def test_frames_and_duration_per_call_are_refused(
    overrides: dict[str, Any], extra: dict[str, Any], both: str
) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve("kenburns", extra=extra, **overrides)
    assert both in err.value.message and err.value.exit_code == 2


def test_frames_from_settings_do_not_conflict_with_duration() -> None:
    """Only per-call values conflict: a settings frame count never blocks -o duration."""
    settings = {**HERATIO_SETTINGS, "ar_num_frames": 20, "ar_fps": 10}  # not the seeded ones
    assert resolve("kenburns", settings=settings, extra={"duration": "2"}).options.num_frames == 50

    class KenBurnsWithSettings(KenBurns):  # a model that does take ar_num_frames
        name = "kenburns-settings"
        aliases = ()
        honours_settings = True

    register(KenBurnsWithSettings)
    assert resolve("kenburns-settings", settings=settings).options.num_frames == 20
    r = resolve("kenburns-settings", settings=settings, extra={"duration": "4"})
    assert r.options.num_frames == 40  # 4 s at ar_fps 10


def test_cogvideox_2b_is_honest_about_text_to_video() -> None:
    m = get_model("cogvideox-2b")
    assert m.takes_image is False and "text-to-video" in (m.__doc__ or "").lower()
    assert "does not show the image" in m.notes
    r = resolve("cogvideox-2b", prompt="a lighthouse in a storm")
    assert r.options.prompt == "a lighthouse in a storm"
    assert any("text-to-video" in n for n in r.notices)
    with pytest.raises(InvalidOption) as err:
        resolve("cogvideox-2b")
    assert "needs a prompt" in err.value.message and "--prompt" in err.value.message


def test_extra_options_are_coerced_through_pydantic() -> None:
    o = resolve("svd", extra={"noise-aug-strength": "0.1", "NUM_INFERENCE_STEPS": "30"}).options
    assert o.noise_aug_strength == pytest.approx(0.1) and o.num_inference_steps == 30
    extra = {"motion": "zoom_in", "loop": "true", "zoom": "1.5"}
    o = resolve("kenburns", extra=extra).options
    assert (o.motion, o.loop, o.zoom) == ("zoom_in", True, 1.5)


def test_unknown_extra_option_names_the_models_options() -> None:
    with pytest.raises(InvalidOption) as err:
        resolve("svd", extra={"strength": "1"})
    message = err.value.message
    assert "'strength'" in message and "motion_bucket_id" in message
    assert "noise_aug_strength" in message and err.value.exit_code == 2


def test_a_value_given_twice_is_refused() -> None:
    with pytest.raises(InvalidOption, match="given twice"):
        resolve("svd", extra={"num_frames": "25"}, num_frames=14)


def test_kenburns_duration_sets_the_frame_count() -> None:
    assert resolve("kenburns", extra={"duration": "3"}).options.num_frames == 75
    assert resolve("kenburns", extra={"duration": "2.5"}, fps=10).options.num_frames == 25
    with pytest.raises(InvalidOption, match="2 to 1500"):
        resolve("kenburns", extra={"duration": "100"}, fps=60)


def test_width_and_height_fill_from_the_image() -> None:
    o = resolve("wan-2.1", num_frames=81, image_size=(480, 832)).options
    assert (o.width, o.height) == (480, 832)
    o = resolve("svd", image_size=(2000, 1000), width=1024).options
    assert (o.width, o.height) == (1024, 512)
    o = resolve("svd", image_size=(2000, 1000), width=640, height=640).options
    assert (o.width, o.height) == (640, 640)
    o = resolve("cogvideox-5b-i2v", image_size=(480, 832)).options
    assert (o.width, o.height) == (720, 480)


@pytest.mark.parametrize(
    "model, overrides, extra, needles",
    [
        ("svd", {"num_frames": 20}, {}, ["svd accepts --frames 14 or 25, not 20."]),
        ("svd-xt", {"num_frames": 30}, {}, ["svd-xt", "--frames", "14 or 25", "not 30"]),
        ("cogvideox-5b-i2v", {"num_frames": 48}, {}, ["8N+1", "49", "not 48"]),
        ("cogvideox-2b", {"num_frames": 48, "prompt": "p"}, {}, ["8N+1", "41, 49", "not 48"]),
        ("wan-2.1", {"num_frames": 80}, {}, ["4N+1", "not 80", "77 or 81"]),
        ("svd", {"motion_bucket_id": 0}, {}, ["--motion", "from 1 to 255", "not 0"]),
        ("svd", {"motion_bucket_id": 256}, {}, ["--motion", "from 1 to 255", "not 256"]),
        ("svd", {"seed": -1}, {}, ["--seed", "from 0 to", "not -1"]),
        ("wan-2.1", {"seed": -5, "num_frames": 81}, {}, ["--seed", "not -5"]),
        ("svd", {"width": 1001}, {}, ["--width", "a multiple of 8", "not 1001"]),
        ("wan-2.1", {"height": 488, "num_frames": 81}, {}, ["a multiple of 16", "not 488"]),
        ("cogvideox-5b-i2v", {"width": 1024}, {}, ["--width 720", "720x480", "not 1024"]),
        ("kenburns", {"width": 1281}, {}, ["an even number", "not 1281"]),
        ("kenburns", {"fps": 0}, {}, ["--fps", "from 1 to 60"]),
        ("svd", {"fps": 100}, {}, ["--fps", "from 4 to 30"]),
        ("svd", {"num_frames": "lots"}, {}, ["14 or 25", "not lots"]),
        ("kenburns", {}, {"motion": "spin"}, ["-o motion", "zoom_in", "ken_burns_diagonal"]),
        ("kenburns", {}, {"zoom": "3"}, ["-o zoom", "from 1.05 to 2.0", "not 3"]),
        ("kenburns", {"num_frames": 1}, {}, ["--frames", "from 2 to 1500", "not 1"]),
        ("svd", {}, {"noise_aug_strength": "2"}, ["-o noise_aug_strength", "from 0.0 to 1.0"]),
        ("svd", {}, {"min_guidance_scale": "5"}, ["max_guidance_scale", "min_guidance_scale"]),
    ],
)
def test_invalid_per_call_values_are_refused_naming_the_allowed_values(
    model: str, overrides: dict[str, Any], extra: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve(model, extra=extra, **overrides)
    message = err.value.message
    assert err.value.exit_code == 2
    assert "\n" not in message and message.startswith(get_model(model).name)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert isinstance(err.value.__cause__, ValidationError)
    assert err.value.advice and "imagear models show" in err.value.advice


def test_resolve_unknown_model() -> None:
    with pytest.raises(UnknownModel):
        resolve("nope")


# -- register / subclassing ---------------------------------------------------------------------


class TinyOptions(BaseOptions):
    num_frames: int = Field(4, description="Frames.", ge=2, le=8)
    fps: int = Field(4, description="Fps.", ge=1, le=10)


class Tiny(ModelDescriptor):
    """A fake registered by a test."""

    name = "tiny"
    aliases = ("tiny-model",)
    family = "test"
    native_width = 64
    native_height = 64
    divisible_by = 8
    native_fps = 4
    default_frames = 4
    frames_rule = "from 2 to 8"
    requires_gpu = False
    Options = TinyOptions


def test_register_and_unregister() -> None:
    assert register(Tiny) is Tiny
    assert get_model("TINY-model").name == "tiny"
    assert [m.name for m in list_models()][-1] == "tiny"
    o = resolve("tiny", settings={"ar_num_frames": 14}).options
    assert o.num_frames == 4  # the setting is out of range for it: default
    assert resolve("tiny", num_frames=8).options.num_frames == 8
    with pytest.raises(ValueError, match="clashes"):
        register(Tiny)
    unregister("tiny-model")
    with pytest.raises(UnknownModel):
        get_model("tiny")


def test_register_refuses_what_is_not_a_descriptor() -> None:
    with pytest.raises(TypeError):
        register(int)  # type: ignore[type-var]


def test_register_replace_then_reset_brings_builtins_back() -> None:
    class FakeSVD(SVD):
        """A test double for svd."""

        name = "svd"
        requires_gpu = False

    register(FakeSVD, replace=True)
    assert type(get_model("svd")) is FakeSVD
    assert type(get_model("svd-xt")).__name__ == "SVDXT"
    reset_registry()
    assert type(get_model("svd")) is SVD


def test_subclass_with_inherited_options_gets_its_own_binding() -> None:
    class Sub(SVD):
        """An svd variant that reuses svd's Options."""

        name = "svd-sub"
        aliases = ()
        valid_frames = (14,)
        frames_rule = "14"

    assert Sub.Options is not SVD.Options and issubclass(Sub.Options, SVD.Options)
    assert Sub.Options.descriptor is Sub and SVD.Options.descriptor is SVD
    register(Sub)
    with pytest.raises(InvalidOption, match="svd-sub accepts --frames 14, not 25"):
        resolve("svd-sub", num_frames=25)
    assert resolve("svd", num_frames=25).options.num_frames == 25
