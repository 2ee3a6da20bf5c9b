"""The ``image_ar_settings`` keys, declared once: key, type, default, bounds, description.

:class:`Settings` is the declaration: each field is one key, its annotation the type, and
:func:`declare` gives its default, bounds and description. Everything else derives from it:
:data:`SPECS` (the per-key :class:`Spec`: validation, allowed values, text form), the settings
table's first-boot rows (:func:`imagear.settings.seed_rows`), the quality gate's thresholds
(:class:`imagear.quality.Thresholds`) and ``imagear serve``'s ``--quality-gate`` / ``--min-*``
options. tests/test_settings_declared.py checks that the derived pieces agree.

Light (the standard library, :mod:`imagear.errors`, :mod:`imagear.urls`, :mod:`imagear.limits`):
``imagear serve``'s option declarations read it when ``imagear.cli`` is imported. The database
side (read, write, reset) is :mod:`imagear.settings`, which re-exports these names.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TypeVar

from imagear.errors import FeatureDisabled, InvalidSetting, UnknownSetting
from imagear.limits import MAX_SEED
from imagear.urls import check_server_url, parse_pool

Value = bool | int | float | str
"""A setting's typed value."""

_V = TypeVar("_V", bool, int, float, str)

ADVICE = "See every key's allowed values with `imagear settings list`."


def declare(
    default: _V, description: str, low: float | None = None, high: float | None = None
) -> _V:
    """One key's default, description and (numbers) bounds, as a :class:`Settings` field."""
    return field(default=default, metadata={"description": description, "low": low, "high": high})


@dataclass(frozen=True)
class Settings:
    """The ``image_ar_settings`` values, typed (what :func:`imagear.settings.get_all` returns);
    the class itself is the one declaration of the keys."""

    ar_enabled: bool = declare(True, "Master switch for image animation")
    ar_user_button: bool = declare(
        True, "Show the Animate button on record pages (the CLI and batch ignore it)"
    )
    ar_server_url: str = declare(
        "", "Base URL of the image-to-video server (empty: in-process engines)"
    )
    ar_server_pool: str = declare(
        "", "Further image-to-video servers (URLs, space-separated) that share the requests"
    )
    ar_model: str = declare("svd", "Model used when a call names none")
    ar_request_timeout: int = declare(900, "Maximum seconds for one generation", 60, 3600)
    ar_num_frames: int = declare(14, "Frames per clip (the model decides what is valid)", 8, 49)
    ar_fps: int = declare(7, "Output frame rate", 4, 30)
    ar_motion_bucket_id: int = declare(
        127, "SVD motion strength: 1 barely moves, 255 strong", 1, 255
    )
    # what every model takes (their Options bound it too)
    ar_seed: int = declare(0, "0 = random per call; a positive value is deterministic", 0, MAX_SEED)
    ar_default_prompt: str = declare("", "Prompt for prompt-aware models when a call gives none")
    # The quality gate (imagear.quality): every new clip passes it before it may replace
    # anything. Grey levels are 0..255; a threshold of 0 turns its check off.
    ar_quality_gate: bool = declare(
        True,
        "Refuse black, blank, frozen, unrelated or not-as-asked clips before they are stored",
    )
    ar_quality_min_brightness: float = declare(
        10.0, "Quality gate: a frame darker than this mean grey level (0..255) is black", 0, 255
    )
    ar_quality_min_contrast: float = declare(
        2.0, "Quality gate: a frame whose grey levels vary less than this (std) is blank", 0, 255
    )
    ar_quality_min_motion: float = declare(
        1.0,
        "Quality gate: a clip whose frames change less than this from the first is frozen",
        0,
        255,
    )
    ar_quality_min_resemblance: float = declare(
        0.5, "Quality gate: the first frame must correlate this well (0..1) with the image", 0, 1
    )
    ar_quality_quarantine_keep: int = declare(
        3, "Refused clips kept per record in {storage_root}/quarantine/ (0 keeps none)", 0, 100
    )
    # Provenance (imagear.provenance, docs/provenance.md)
    ar_provenance: bool = declare(
        True,
        "Sign every clip, poster and preview with C2PA Content Credentials (0: store them "
        "unsigned; `imagear verify` says so)",
    )
    ar_visible_label: bool = declare(
        False, "Burn a visible label (ar_visible_label_text) into every clip an AI model makes"
    )
    ar_visible_label_text: str = declare("AI-generated", "The words of the visible label")

    @classmethod
    def of(cls, values: Mapping[str, Value]) -> Settings:
        """From ``{key: typed value}`` (each parsed by its :class:`Spec`); unknown keys are
        refused (TypeError), as a misspelt field would be."""
        return cls(**values)  # type: ignore[arg-type]  # each value was typed by its Spec

    def value(self, key: str) -> Value:
        """One value by its key (UnknownSetting for a key imagear does not know)."""
        value: Value = getattr(self, spec(key).key)
        return value

    def as_dict(self) -> dict[str, Value]:
        """Every key's value."""
        return asdict(self)

    def model_dump(self) -> dict[str, Value]:
        """:meth:`as_dict` under the name pydantic models use (callers of the earlier model)."""
        return self.as_dict()

    def require_generation(self, button: bool = True) -> None:
        """Raise FeatureDisabled when generating is turned off. ``ar_enabled`` stops every
        path; ``ar_user_button`` is about the record pages' button (``button``: the web
        console's generate), so, as Heratio's artisan command, ``imagear animate`` and
        ``batch`` (``button=False``) ignore it: cron behind a hidden button is a real set-up."""
        keys = ("ar_enabled", "ar_user_button") if button else ("ar_enabled",)
        off = [k for k in keys if not getattr(self, k)]
        if off:
            needs = "both ar_enabled and ar_user_button" if button else "ar_enabled"
            raise FeatureDisabled(
                f"Image animation is turned off ({', '.join(f'{k}=0' for k in off)}); "
                f"generating here needs {needs} on.",
                fields=keys,
            )


def _num(value: float) -> str:
    """4294967295, not 4.29497e+09."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Spec:
    """One key as the settings table, ``settings list`` and the forms see it (from
    :class:`Settings`: never written by hand)."""

    key: str
    type: str  # boolean | integer | decimal | string: Heratio's setting_type
    default: Value
    description: str
    low: float | None = None
    high: float | None = None

    def allowed(self) -> str:
        if self.type == "boolean":
            return "0 or 1"
        if self.low is not None and self.high is not None:
            return f"{_num(self.low)}..{_num(self.high)}"
        if self.low is not None:
            return f">= {_num(self.low)}"
        if self.key == "ar_server_url":
            return "an http(s) URL, or empty for the in-process engines"
        if self.key == "ar_server_pool":
            return "http(s) URLs separated by spaces or commas, or empty"
        if self.key == "ar_model":  # the built-ins, without loading the registry (pydantic)
            from imagear.models.names import BUILTIN_NAMES

            return f"a model: {', '.join(BUILTIN_NAMES)}, or a plugin's (`imagear models`)"
        return "any text"

    def _range(self) -> str:
        if self.low is not None and self.high is None:
            return f"at least {_num(self.low)}"
        return f"in {self.allowed()}"

    def parse(self, raw: object) -> Value:
        """Turn user input into a typed value or raise InvalidSetting naming the allowed values."""
        text_value = "" if raw is None else str(raw).strip()
        if self.type == "boolean":
            lowered = text_value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise InvalidSetting(f"{self.key} must be 0 or 1, not {text_value!r}.", ADVICE)
        if self.type in ("integer", "decimal"):
            return self._number(text_value)
        if self.key == "ar_server_url" and text_value:
            return check_server_url(
                text_value,
                "ar_server_url",
                InvalidSetting,
                "Leave it empty to run the engines in-process.",
            )
        if self.key == "ar_server_pool":
            return _server_pool(text_value)
        if self.key == "ar_model" and text_value:
            return _model_name(text_value)
        if self.key == "ar_model":
            raise InvalidSetting(
                "ar_model cannot be empty.", "List the models with `imagear models`."
            )
        return text_value

    def _number(self, text_value: str) -> int | float:
        try:
            number: int | float = int(text_value) if self.type == "integer" else float(text_value)
            if not math.isfinite(number):  # nan passes every bounds check: never a threshold
                raise ValueError(text_value)
        except ValueError:
            kind = "a whole number" if self.type == "integer" else "a number"
            raise InvalidSetting(
                f"{self.key} must be {kind} {self._range()}, not {text_value!r}.", ADVICE
            ) from None
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            raise InvalidSetting(f"{self.key} must be {self._range()}, not {text_value}.", ADVICE)
        return number

    def to_text(self, value: object) -> str:
        if self.type == "boolean":
            return "1" if value else "0"
        if self.type == "decimal" and isinstance(value, int | float | str):
            return f"{float(value):g}"
        return str(value)


def _model_name(text_value: str) -> str:
    """The model ``ar_model`` names, by its canonical name. A built-in's name or alias is
    known from :mod:`imagear.models.names` (light) until the registry has been loaded; then,
    and for any other name (a plugin's), the registry answers: an unknown model is
    UnknownModel (exit 3), as ``--model NAME`` is everywhere."""
    if "imagear.models.registry" not in sys.modules:
        from imagear.models.names import builtin_name

        found = builtin_name(text_value)
        if found is not None:
            return found
    from imagear.models import get_model  # the registry is light: no torch

    return get_model(text_value).name


def _server_pool(text_value: str) -> str:
    """``ar_server_pool``: every URL checked like ar_server_url's, kept once, space-separated."""
    urls: list[str] = []
    for url in parse_pool(text_value):
        checked = check_server_url(
            url,
            "ar_server_pool",
            InvalidSetting,
            "Separate the URLs with spaces or commas; leave it empty for one server.",
            pool=True,
        )
        if checked not in urls:
            urls.append(checked)
    return " ".join(urls)


# Heratio's setting_type of each annotation (the annotations are strings: `from __future__`)
_TYPES = {"bool": "boolean", "int": "integer", "float": "decimal", "str": "string"}

SPECS: dict[str, Spec] = {
    f.name: Spec(
        f.name,
        _TYPES[str(f.type)],
        f.default,  # type: ignore[arg-type]  # every field is declared with a default
        f.metadata["description"],
        f.metadata["low"],
        f.metadata["high"],
    )
    for f in fields(Settings)
}
"""Every key's :class:`Spec`, in the declared order (the order ``settings list`` shows)."""

DEFAULTS = Settings()
"""Every key at its default (the first-boot values)."""


def spec(key: str) -> Spec:
    try:
        return SPECS[key]
    except KeyError:
        raise UnknownSetting(f"There is no setting named {key!r}.") from None


__all__ = ["ADVICE", "DEFAULTS", "SPECS", "Settings", "Spec", "Value", "declare", "spec"]
