"""The model registry: built-ins, registered classes, entry-point plugins, and the merge rule.

Lookups accept aliases, case-insensitively. Plugins (entry point group ``imagear.models``) are
loaded once, lazily, the first time a name is not found among the built-ins or when every model
is listed. A plugin that fails to load gives one :class:`PluginWarning` and is skipped.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from pydantic import ValidationError

from imagear.errors import InvalidOption, UnknownModel
from imagear.models.base import FLAGS, BaseOptions, ModelDescriptor, _bounds
from imagear.models.cogvideox import CogVideoX2B, CogVideoX5BI2V
from imagear.models.kenburns import MOTIONS, KenBurns
from imagear.models.svd import SVD, SVDXT
from imagear.models.wan import Wan21

ENTRY_POINT_GROUP = "imagear.models"

BUILTINS: tuple[type[ModelDescriptor], ...] = (
    SVD,
    SVDXT,
    CogVideoX2B,
    CogVideoX5BI2V,
    Wan21,
    KenBurns,
)

# Settings that feed a parameter for models with honours_settings (ar_seed: every model).
HONOURED_SETTINGS = {
    "num_frames": "ar_num_frames",
    "fps": "ar_fps",
    "motion_bucket_id": "ar_motion_bucket_id",
}

D = TypeVar("D", bound=type[ModelDescriptor])


class PluginWarning(UserWarning):
    """A model plugin could not be loaded (or clashes with a known model); it is skipped."""


_registry: dict[str, ModelDescriptor] = {}
_plugins: list[ModelDescriptor] | None = None


def _key(name: str) -> str:
    return name.strip().lower()


def _init_builtins() -> None:
    _registry.clear()
    for cls in BUILTINS:
        _registry[cls.name] = cls()


def _names_of(desc: ModelDescriptor | type[ModelDescriptor]) -> set[str]:
    return {_key(desc.name), *(_key(a) for a in desc.aliases)}


def _taken(names: set[str], among: Iterable[ModelDescriptor]) -> ModelDescriptor | None:
    for desc in among:
        if names & _names_of(desc):
            return desc
    return None


def register(descriptor_class: D, *, replace: bool = False) -> D:
    """Add a descriptor class to the registry (usable as a class decorator); returns it.

    A name or alias already taken raises ValueError, unless ``replace`` is true, in which case
    the model holding it is dropped (:func:`reset_registry` brings the built-ins back).
    """
    if not (isinstance(descriptor_class, type) and issubclass(descriptor_class, ModelDescriptor)):
        raise TypeError(f"register() needs a ModelDescriptor subclass, not {descriptor_class!r}")
    if not descriptor_class.name or descriptor_class.name != _key(descriptor_class.name):
        raise ValueError(f"{descriptor_class.__name__}.name must be a non-empty lowercase name")
    names = _names_of(descriptor_class)
    while (clash := _taken(names, _registry.values())) is not None:
        if not replace:
            raise ValueError(
                f"model name {descriptor_class.name!r} or an alias clashes with {clash.name!r}"
            )
        del _registry[clash.name]
    _registry[descriptor_class.name] = descriptor_class()
    return descriptor_class


def unregister(name: str) -> None:
    """Remove a registered model by name or alias (a no-op when it is not registered)."""
    for desc in list(_registry.values()):
        if _key(name) in _names_of(desc):
            del _registry[desc.name]


def reset_plugin_cache() -> None:
    """Forget the loaded plugins so the next lookup reads the entry points again (tests)."""
    global _plugins
    _plugins = None


def reset_registry() -> None:
    """Back to the built-ins only, and forget the plugins (tests)."""
    _init_builtins()
    reset_plugin_cache()


def _plugin_classes(obj: Any) -> list[type[ModelDescriptor]]:
    if isinstance(obj, type) and issubclass(obj, ModelDescriptor):
        return [obj]
    if isinstance(obj, type) or not callable(obj):
        raise TypeError(f"{obj!r} is not a ModelDescriptor subclass or a function returning them")
    result = obj()
    items = list(result) if isinstance(result, Iterable) else [result]
    for item in items:
        if not (isinstance(item, type) and issubclass(item, ModelDescriptor)):
            raise TypeError(f"it returned {item!r}, which is not a ModelDescriptor subclass")
    return items


def _plugin_warning(ep: EntryPoint, problem: str) -> None:
    dist = ep.dist.name if ep.dist is not None else None
    remove = (
        f"Remove it with `pip uninstall {dist}`."
        if dist
        else f"Remove the package that declares {ep.value!r} in entry point group "
        f"{ENTRY_POINT_GROUP!r}."
    )
    source = f" (package {dist})" if dist else ""
    warnings.warn(
        f"Model plugin {ep.name!r}{source} {problem}; it is skipped and every other model "
        f"still works. {remove}",
        PluginWarning,
        stacklevel=3,
    )


def _load_plugins() -> list[ModelDescriptor]:
    """Load (once) every descriptor from the ``imagear.models`` entry points."""
    global _plugins
    if _plugins is not None:
        return _plugins
    loaded: list[ModelDescriptor] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            classes = _plugin_classes(ep.load())
        except Exception as exc:  # a plugin must never break imagear
            _plugin_warning(ep, f"failed to load ({type(exc).__name__}: {exc})")
            continue
        for cls in classes:
            clash = _taken(_names_of(cls), [*_registry.values(), *loaded])
            if clash is not None:
                _plugin_warning(ep, f"offers model {cls.name!r}, which clashes with {clash.name!r}")
                continue
            loaded.append(cls())
    _plugins = loaded
    return loaded


def _find(name: str, among: Iterable[ModelDescriptor]) -> ModelDescriptor | None:
    key = _key(name)
    for desc in among:
        if key in _names_of(desc):
            return desc
    return None


def get_model(name: str) -> ModelDescriptor:
    """The descriptor for ``name`` or one of its aliases (case-insensitive).

    Plugins are loaded only when the name is not a built-in or registered model.
    Raises :class:`~imagear.errors.UnknownModel` naming the known models.
    """
    found = _find(name, _registry.values()) or _find(name, _load_plugins())
    if found is None:
        known = ", ".join(d.name for d in list_models())
        raise UnknownModel(f"Unknown model {name!r}. Known models: {known}.")
    return found


def list_models() -> list[ModelDescriptor]:
    """Every model: built-ins and registered ones first, then plugins."""
    return [*_registry.values(), *_load_plugins()]


# -- the merge rule ----------------------------------------------------------------------------


@dataclass
class Resolved:
    """The outcome of :func:`resolve_generation`: the model, its validated options, notices."""

    descriptor: ModelDescriptor
    options: BaseOptions
    notices: list[str] = field(default_factory=list)


def _show(value: Any) -> str:
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return repr(value)
    return str(value)


def _error_message(desc: ModelDescriptor, err: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    loc = err.get("loc") or ()
    key = loc[0] if loc else None
    fields = desc.Options.model_fields
    if not isinstance(key, str) or key not in fields:
        msg = str(err.get("msg", "invalid options")).removeprefix("Value error, ")
        return f"{msg}." if msg.startswith(desc.name) else f"{desc.name}: {msg}."
    label = labels.get(key, FLAGS.get(key, f"-o {key}"))
    value: Any = err.get("input")
    message = f"{desc.name} accepts {label} {desc.describe_allowed(key)}, not {_show(value)}"
    if key == "num_frames" and desc.valid_frames is not None and len(desc.valid_frames) > 8:
        try:
            nearest = desc.nearest_frames(int(value))
        except (TypeError, ValueError):
            nearest = []
        if nearest:
            message += f" (nearest: {' or '.join(map(str, nearest))})"
    return message + "."


def _invalid(
    desc: ModelDescriptor, exc: ValidationError, labels: Mapping[str, str]
) -> InvalidOption:
    messages: list[str] = []
    for err in exc.errors():
        text = _error_message(desc, err, labels)
        if text not in messages:
            messages.append(text)
    return InvalidOption(
        " ".join(messages), advice=f"See its options with `imagear models show {desc.name}`."
    )


def _motion_name_refused(desc: ModelDescriptor, value: Any) -> InvalidOption:
    """``--motion NAME`` (``-o motion=NAME``) for a model without a ``motion`` option."""
    advice = f"See its options with `imagear models show {desc.name}`."
    kenburns = "Ken Burns motions (--model kenburns)"
    if str(value).strip().lower() in MOTIONS:
        like = f"names like {str(value).strip()} are {kenburns}"
    else:
        like = f"{_show(value)} is no motion name ({', '.join(MOTIONS)} are {kenburns})"
    info = desc.Options.model_fields.get("motion_bucket_id")
    if info is None:
        return InvalidOption(f"{desc.name} has no --motion option; {like}.", advice=advice)
    low, high, _, _ = _bounds(info)
    return InvalidOption(
        f"--motion for {desc.name} must be a number {low}..{high} (motion bucket); {like}.",
        advice=advice,
    )


def _motion_number_refused(desc: ModelDescriptor, value: Any) -> InvalidOption:
    """``--motion N`` (a motion bucket) for a model whose ``motion`` option takes a name."""
    return InvalidOption(
        f"--motion for {desc.name} takes a motion name ({desc.describe_allowed('motion')}), "
        f"not {_show(value)}; a number is the motion bucket of SVD models (--model svd).",
        advice=f"See its options with `imagear models show {desc.name}`.",
    )


def _check_length(labels: Mapping[str, str]) -> None:
    """A per-call frame count and a per-call ``duration`` both set the clip's length."""
    if "num_frames" in labels and "duration" in labels:
        frames, duration = labels["num_frames"], labels["duration"]
        raise InvalidOption(
            f"{frames} and {duration} both set the clip's length; "
            f"give either {frames} or {duration}, not both."
        )


def _per_call(
    desc: ModelDescriptor,
    overrides: Mapping[str, Any],
    extra: Mapping[str, Any],
    notices: list[str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Per-call values (flags, then -o pairs) and how each was given, with ignore notices."""
    fields = desc.Options.model_fields
    ignored = desc.ignored_parameters()
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}

    def ignore(label: str) -> None:
        text = f"{desc.name} ignores {label}"
        if text not in notices:
            notices.append(text)

    for key, value in overrides.items():
        if value is None:
            continue
        label = FLAGS.get(key, f"--{key.replace('_', '-')}")
        if key == "motion_bucket_id" and key not in fields and "motion" in fields:
            raise _motion_number_refused(desc, value)
        if key in ignored:
            ignore(label)
        elif key not in fields:
            raise InvalidOption(
                f"{desc.name} has no option {label}.",
                advice=f"See its options with `imagear models show {desc.name}`.",
            )
        else:
            values[key], labels[key] = value, label
    for raw_key, value in extra.items():
        key = _key(raw_key).replace("-", "_")
        label = f"-o {raw_key}"
        if key in ignored and key in fields:
            ignore(label)
        elif key == "motion" and key not in fields:
            raise _motion_name_refused(desc, value)
        elif key not in fields:
            raise InvalidOption(
                f"{desc.name} has no option {raw_key!r}; its options are: {', '.join(fields)}.",
                advice=f"See them with `imagear models show {desc.name}`.",
            )
        elif key in values:
            raise InvalidOption(f"{key} is given twice ({labels[key]} and {label}); give it once.")
        else:
            values[key], labels[key] = value, label
    _check_length(labels)
    return values, labels


def _from_settings(
    desc: ModelDescriptor, settings: Mapping[str, Any], per_call: Mapping[str, Any]
) -> dict[str, tuple[str, Any]]:
    """Parameters taken from image_ar_settings: {field: (setting key, value)}."""
    fields = desc.Options.model_fields
    wanted = dict(HONOURED_SETTINGS) if desc.honours_settings else {}
    wanted["seed"] = "ar_seed"
    taken: dict[str, tuple[str, Any]] = {}
    for key, setting in wanted.items():
        value = settings.get(setting)
        if key in fields and key not in per_call and value is not None and value != "":
            taken[key] = (setting, value)
    prompt = settings.get("ar_default_prompt")
    if desc.uses_prompt and "prompt" not in per_call and isinstance(prompt, str) and prompt.strip():
        taken["prompt"] = ("ar_default_prompt", prompt)
    return taken


def _fill_size(
    desc: ModelDescriptor, values: dict[str, Any], image_size: tuple[int, int] | None
) -> None:
    """Fill width/height that were not given: from output_size, or from the given side."""
    width: Any = values.get("width")
    height: Any = values.get("height")
    if width is None and height is None:
        values["width"], values["height"] = desc.output_size(image_size)
        return
    for axis, other, given in (("width", "height", width), ("height", "width", height)):
        if values.get(other) is None:
            try:
                side = int(given)
            except (TypeError, ValueError):
                return  # the given side is invalid: validation reports it
            values[other] = desc.other_side(axis, side, image_size) if side > 0 else None


def resolve_generation(
    model_name: str,
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any],
    extra: Mapping[str, Any],
    image_size: tuple[int, int] | None = None,
) -> Resolved:
    """Merge one generation's parameters and validate them against the model.

    Precedence: per-call values (``overrides``: num_frames, fps, motion_bucket_id, seed,
    prompt, width, height, None = not given; ``extra``: ``-o KEY=VALUE`` pairs) > settings
    (ar_num_frames / ar_fps / ar_motion_bucket_id only for models with honours_settings;
    ar_seed for every model; ar_default_prompt for prompt-aware models) > model defaults.
    A settings value the model refuses falls back to the default with a notice; a per-call
    value the model refuses raises :class:`~imagear.errors.InvalidOption`; a per-call value
    the model ignores gives a notice. Width/height not given come from
    :meth:`ModelDescriptor.output_size` (or keep the image's aspect if only one is given).
    """
    desc = get_model(model_name)
    notices: list[str] = list(desc.notices())
    per_call, labels = _per_call(desc, overrides, extra, notices)
    from_settings = _from_settings(desc, settings, per_call)
    values: dict[str, Any] = {key: value for key, (_, value) in from_settings.items()}
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
                raise _invalid(desc, exc, labels) from exc
            for key in sorted(bad, key=str):
                setting, value = from_settings.pop(str(key))
                del values[str(key)]
                default = desc.Options.model_fields[str(key)].default
                notices.append(
                    f"{setting}={value} is not valid for {desc.name} "
                    f"({FLAGS.get(str(key), str(key)).lstrip('-')}: "
                    f"{desc.describe_allowed(str(key))}); using {default}"
                )
            continue
        return Resolved(descriptor=desc, options=options, notices=notices)


_init_builtins()
