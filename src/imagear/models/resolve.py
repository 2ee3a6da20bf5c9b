"""The merge rule: one generation's parameters from the call, the settings and the model.

:func:`resolve_generation` merges per-call values, image_ar_settings and the model's defaults,
and validates them with the model's pydantic Options. Its messages name options the way the
caller's front end takes them (a :class:`~imagear.models.wording.Wording`; option names by
default), and every :class:`~imagear.errors.InvalidOption` it raises carries the option names at
fault in ``fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from imagear.errors import InvalidOption
from imagear.models.base import BaseOptions, ModelDescriptor, OptionProblem, _bounds
from imagear.models.kenburns import MOTIONS
from imagear.models.native import native_notices, set_aside
from imagear.models.registry import get_model
from imagear.models.wording import OPTION_NAMES, Wording, name_of

# Settings that feed a parameter for models with honours_settings (ar_seed: every model).
HONOURED_SETTINGS = {
    "num_frames": "ar_num_frames",
    "fps": "ar_fps",
    "motion_bucket_id": "ar_motion_bucket_id",
}


@dataclass
class Resolved:
    """The outcome of :func:`resolve_generation`: the model, its validated options, notices."""

    descriptor: ModelDescriptor
    options: BaseOptions
    notices: list[str] = field(default_factory=list)


def _show(value: object) -> str:
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return repr(value)
    return str(value)


def _option_key(raw_key: str) -> str:
    """A model option's name as the caller may spell it (``Noise-Aug-Strength``) -> its key."""
    return raw_key.strip().lower().replace("-", "_")


def _error_message(
    desc: ModelDescriptor, err: ErrorDetails, labels: Mapping[str, str], wording: Wording
) -> tuple[str, tuple[str, ...]]:
    """One validation error in words, and the options it is about."""
    loc = err.get("loc") or ()
    key = loc[0] if loc else None
    fields = desc.Options.model_fields
    if not isinstance(key, str) or key not in fields:
        problem = (err.get("ctx") or {}).get("error")
        if isinstance(problem, OptionProblem):
            msg = problem.worded(lambda k: labels.get(k) or name_of(wording, k))
            about = problem.fields
        else:
            msg = str(err.get("msg", "invalid options")).removeprefix("Value error, ")
            about = ()
        return (f"{msg}." if msg.startswith(desc.name) else f"{desc.name}: {msg}."), about
    label = labels.get(key) or name_of(wording, key)
    value = err.get("input")
    message = f"{desc.name} accepts {label} {desc.describe_allowed(key)}, not {_show(value)}"
    if key == "num_frames" and desc.valid_frames is not None and len(desc.valid_frames) > 8:
        try:
            nearest = desc.nearest_frames(int(value))
        except (TypeError, ValueError):
            nearest = []
        if nearest:
            message += f" (nearest: {' or '.join(map(str, nearest))})"
    return message + ".", (key,)


def _invalid(
    desc: ModelDescriptor, exc: ValidationError, labels: Mapping[str, str], wording: Wording
) -> InvalidOption:
    messages: list[str] = []
    about: list[str] = []
    for err in exc.errors():
        text, keys = _error_message(desc, err, labels, wording)
        if text not in messages:
            messages.append(text)
        about += [key for key in keys if key not in about]
    return InvalidOption(" ".join(messages), advice=wording.options_advice(desc.name), fields=about)


def _motion_name_refused(
    desc: ModelDescriptor, raw_key: str, value: object, wording: Wording
) -> InvalidOption:
    """A motion name (``motion``) for a model without a ``motion`` option."""
    kenburns = f"Ken Burns motions ({wording.model('kenburns')})"
    if str(value).strip().lower() in MOTIONS:
        like = f"names like {str(value).strip()} are {kenburns}"
    else:
        like = f"{_show(value)} is no motion name ({', '.join(MOTIONS)} are {kenburns})"
    control = wording.motion_control()
    motion = control or wording.label(raw_key, "pair")
    info = desc.Options.model_fields.get("motion_bucket_id")
    if info is None:
        message = f"{desc.name} has no {motion} option; {like}."
    else:
        low, high, _, _ = _bounds(info)
        bucket = f"a number {low}..{high} (motion bucket)"
        if control is not None:
            message = f"{control} for {desc.name} must be {bucket}; {like}."
        else:
            number = wording.label("motion_bucket_id", "option")
            message = (
                f"{desc.name} has no {motion} option: its motion is {number}, {bucket}; {like}."
            )
    return InvalidOption(message, wording.options_advice(desc.name), fields=("motion",))


def _motion_number_refused(desc: ModelDescriptor, value: object, wording: Wording) -> InvalidOption:
    """A motion bucket (``motion_bucket_id``) for a model whose ``motion`` option takes a name."""
    names = f"a motion name ({desc.describe_allowed('motion')})"
    svd = f"SVD models ({wording.model('svd')})"
    control = wording.motion_control()
    if control is not None:
        message = (
            f"{control} for {desc.name} takes {names}, not {_show(value)}; "
            f"a number is the motion bucket of {svd}."
        )
    else:
        bucket, motion = wording.label("motion_bucket_id", "option"), name_of(wording, "motion")
        message = (
            f"{desc.name} has no {bucket} option, the motion bucket of {svd}; "
            f"its {motion} option takes {names}, not {_show(value)}."
        )
    return InvalidOption(message, wording.options_advice(desc.name), fields=("motion_bucket_id",))


def _check_length(labels: Mapping[str, str]) -> None:
    """A per-call frame count and a per-call ``duration`` both set the clip's length."""
    if "num_frames" in labels and "duration" in labels:
        frames, duration = labels["num_frames"], labels["duration"]
        raise InvalidOption(
            f"{frames} and {duration} both set the clip's length; "
            f"give either {frames} or {duration}, not both.",
            fields=("num_frames", "duration"),
        )


def _per_call(
    desc: ModelDescriptor,
    overrides: Mapping[str, object],
    extra: Mapping[str, object],
    notices: list[str],
    wording: Wording,
) -> tuple[dict[str, object], dict[str, str]]:
    """Per-call values (common parameters, then model options) and how each was given (its
    label), with ignore notices."""
    fields = desc.Options.model_fields
    ignored = desc.ignored_parameters()
    advice = wording.options_advice(desc.name)
    values: dict[str, object] = {}
    labels: dict[str, str] = {}

    def ignore(label: str) -> None:
        text = f"{desc.name} ignores {label}"
        if text not in notices:
            notices.append(text)

    for key, value in overrides.items():
        if value is None:
            continue
        label = wording.label(key, "option")
        if key == "motion_bucket_id" and key not in fields and "motion" in fields:
            raise _motion_number_refused(desc, value, wording)
        if key in ignored:
            ignore(label)
        elif key not in fields:
            raise InvalidOption(f"{desc.name} has no option {label}.", advice, fields=(key,))
        else:
            values[key], labels[key] = value, label
    for raw_key, value in extra.items():
        key, label = _option_key(raw_key), wording.label(raw_key, "pair")
        if key in ignored and key in fields:
            ignore(label)
        elif key == "motion" and key not in fields:
            raise _motion_name_refused(desc, raw_key, value, wording)
        elif key not in fields:
            raise InvalidOption(
                f"{desc.name} has no option {raw_key!r}; its options are: {', '.join(fields)}.",
                advice=wording.options_advice(desc.name, listed=True),
                fields=(raw_key,),
            )
        elif key in values:
            raise InvalidOption(
                f"{key} is given twice ({labels[key]} and {label}); give it once.", fields=(key,)
            )
        else:
            values[key], labels[key] = value, label
    _check_length(labels)
    return values, labels


def _from_settings(
    desc: ModelDescriptor, settings: Mapping[str, object], per_call: Mapping[str, object]
) -> dict[str, tuple[str, object]]:
    """Parameters taken from image_ar_settings: {field: (setting key, value)}."""
    fields = desc.Options.model_fields
    wanted = dict(HONOURED_SETTINGS) if desc.honours_settings else {}
    wanted["seed"] = "ar_seed"
    taken: dict[str, tuple[str, object]] = {}
    for key, setting in wanted.items():
        value = settings.get(setting)
        if key in fields and key not in per_call and value is not None and value != "":
            taken[key] = (setting, value)
    prompt = settings.get("ar_default_prompt")
    if desc.uses_prompt and "prompt" not in per_call and isinstance(prompt, str) and prompt.strip():
        taken["prompt"] = ("ar_default_prompt", prompt)
    return taken


def _fill_size(
    desc: ModelDescriptor, values: dict[str, object], image_size: tuple[int, int] | None
) -> None:
    """Fill width/height that were not given: from output_size, or from the given side."""
    width = values.get("width")
    height = values.get("height")
    if width is None and height is None:
        values["width"], values["height"] = desc.output_size(image_size)
        return
    for axis, other, given in (("width", "height", width), ("height", "width", height)):
        if values.get(other) is None:
            try:
                if not isinstance(given, int | float | str):
                    raise ValueError(given)
                side = int(given)
            except ValueError:
                return  # the given side is invalid: validation reports it
            values[other] = desc.other_side(axis, side, image_size) if side > 0 else None


def resolve_generation(
    model_name: str,
    settings: Mapping[str, object],
    overrides: Mapping[str, object],
    extra: Mapping[str, object],
    image_size: tuple[int, int] | None = None,
    *,
    wording: Wording | None = None,
) -> Resolved:
    """Merge one generation's parameters and validate them against the model.

    Precedence: per-call values (``overrides``: num_frames, fps, motion_bucket_id, seed,
    prompt, width, height, None = not given; ``extra``: model options by name) > settings
    (ar_num_frames / ar_fps / ar_motion_bucket_id only for models with honours_settings;
    ar_seed for every model; ar_default_prompt for prompt-aware models) > model defaults.
    A settings value the model refuses falls back to the default with a notice; a per-call
    value the model refuses raises :class:`~imagear.errors.InvalidOption` (its ``fields``: the
    options at fault); a per-call value the model ignores gives a notice. Width/height not
    given come from :meth:`ModelDescriptor.output_size` (or keep the image's aspect if only one
    is given). ``wording``: how the caller's front end names options in messages and notices
    (default: by their option names).
    """
    wording = wording or OPTION_NAMES
    desc = get_model(model_name)
    notices: list[str] = list(desc.notices())
    per_call, labels = _per_call(desc, overrides, extra, notices, wording)
    from_settings = _from_settings(desc, settings, per_call)
    aside = set_aside(from_settings)  # seeded ar_num_frames / ar_fps are SVD's
    values: dict[str, object] = {key: value for key, (_, value) in from_settings.items()}
    values.update(per_call)
    _fill_size(desc, values, image_size)
    while True:
        try:
            options = desc.Options.model_validate(values)
        except ValidationError as exc:
            bad = {
                err["loc"][0]
                for err in exc.errors()
                if err["loc"] and err["loc"][0] in from_settings
            }
            if not bad:
                raise _invalid(desc, exc, labels, wording) from exc
            for key in sorted(bad, key=str):
                setting, value = from_settings.pop(str(key))
                del values[str(key)]
                default = desc.Options.model_fields[str(key)].default
                notices.append(
                    f"{setting}={value} is not valid for {desc.name} "
                    f"({wording.term(str(key))}: {desc.describe_allowed(str(key))}); "
                    f"using {default}"
                )
            continue
        for notice in native_notices(desc, options, aside, from_settings) + desc.option_notices(
            options
        ):
            if notice not in notices:
                notices.append(notice)
        return Resolved(descriptor=desc, options=options, notices=notices)
