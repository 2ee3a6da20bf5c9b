"""Which frame count and frame rate a model gets when the call names none.

image_ar_settings is seeded with ``ar_num_frames=14`` and ``ar_fps=7``: SVD's own values, not
every model's (Wan 2.1 is trained for 81 frames at 16 fps: 81 frames played at 7 fps are slow
motion). So a setting still at its seeded value gives way to the model's own (native) value;
a setting an administrator changed applies to every model that honours settings (a value the
model refuses falls back to its default, with a notice). The call's own values always win.
The notices say which value was used and why; :func:`describe` says the same for
``imagear models show``.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagear.models.base import BaseOptions, ModelDescriptor

NATIVE_SETTINGS = {"num_frames": "ar_num_frames", "fps": "ar_fps"}
"""The parameters a model has its own value of, and the setting that can override it."""

SEEDED = {"ar_num_frames": 14, "ar_fps": 7}
"""The first-boot values of those settings (declared in imagear.settings_spec, which looks models
up to check ar_model, so they are repeated here; tests/test_engine_requirements.py checks that
the two agree)."""


def seeded_value(setting: str) -> int:
    """The value ``setting`` is seeded with on first boot."""
    return SEEDED[setting]


def _same(value: object, seeded: int) -> bool:
    if not isinstance(value, int | float | str):
        return False
    try:
        return int(value) == seeded
    except ValueError:
        return False


def set_aside(from_settings: dict[str, tuple[str, object]]) -> dict[str, tuple[str, object]]:
    """Remove from ``from_settings`` the frames / fps settings still at their seeded value and
    return them ({field: (setting, value)}): the model's own value applies instead."""
    aside: dict[str, tuple[str, object]] = {}
    for key, setting in NATIVE_SETTINGS.items():
        taken = from_settings.get(key)
        if taken is not None and taken[0] == setting and _same(taken[1], seeded_value(setting)):
            aside[key] = from_settings.pop(key)
    return aside


def _amount(key: str, value: object) -> str:
    return f"{value} frames" if key == "num_frames" else f"{value} fps"


def native_notices(
    desc: ModelDescriptor,
    options: BaseOptions,
    aside: Mapping[str, tuple[str, object]],
    from_settings: Mapping[str, tuple[str, object]],
) -> list[str]:
    """Where this run's frame count and frame rate came from, when it is not self-evident:
    a seeded setting that gave way to a different native value, or an administrator's setting
    that replaced one."""
    out: list[str] = []
    own = [key for key, (_, value) in aside.items() if not _same(value, getattr(options, key))]
    if own:
        used = " at ".join(_amount(key, getattr(options, key)) for key in own)
        settings = " and ".join(f"{aside[key][0]}={aside[key][1]}" for key in own)
        verb = "are" if len(own) > 1 else "is"
        out.append(
            f"{desc.name} makes {used}, its own default{'s' if len(own) > 1 else ''}: {settings} "
            f"{verb} still at the seeded value{'s' if len(own) > 1 else ''}, which "
            f"{'are' if len(own) > 1 else 'is'} SVD's"
        )
    for key in NATIVE_SETTINGS:
        taken = from_settings.get(key)
        if taken is None:
            continue
        native = desc.Options.model_fields[key].default
        if not _same(taken[1], native):
            out.append(
                f"{desc.name} makes {_amount(key, getattr(options, key))} from {taken[0]}="
                f"{taken[1]}, an administrator's setting (its own: {native})"
            )
    return out


def describe(desc: ModelDescriptor) -> str:
    """How the model's frame count and frame rate are chosen, for ``imagear models show``."""
    fields = desc.Options.model_fields
    if "num_frames" not in fields or "fps" not in fields:
        return "-"
    frames, fps = fields["num_frames"].default, fields["fps"].default
    own = f"{frames} frames at {fps} fps"
    if not desc.honours_settings:
        return f"{own}, its own (the ar_num_frames / ar_fps settings do not apply)"
    seeded = {key: seeded_value(setting) for key, setting in NATIVE_SETTINGS.items()}
    return (
        f"{own}, its own, unless the call gives others or an administrator changed "
        f"ar_num_frames / ar_fps from their seeded {seeded['num_frames']} / {seeded['fps']} "
        "(SVD's values)"
    )
