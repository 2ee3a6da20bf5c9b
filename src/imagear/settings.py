"""The ``image_ar_settings`` keys: types, defaults, allowed values, and typed access.

Values are stored as text with a ``setting_type`` column, exactly as Heratio stores them, so the
same table serves both. Reading always returns Python values typed by the spec below (a value
that was written badly by another tool falls back to the default rather than crashing a cron job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from imagear.errors import FeatureDisabled, InvalidSetting, UnknownSetting
from imagear.models.base import MAX_SEED
from imagear.urls import check_server_url, parse_pool

if TYPE_CHECKING:
    from sqlalchemy import Engine

_ADVICE = "See every key's allowed values with `imagear settings list`."


def _num(value: float) -> str:
    """4294967295, not 4.29497e+09."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Spec:
    key: str
    type: str  # boolean | integer | decimal | string
    default: Any
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
        if self.key == "ar_model":
            from imagear.models import list_models  # the registry is light: no torch

            return "a model: " + ", ".join(m.name for m in list_models())
        return "any text"

    def _range(self) -> str:
        if self.low is not None and self.high is None:
            return f"at least {_num(self.low)}"
        return f"in {self.allowed()}"

    def parse(self, raw: Any) -> Any:
        """Turn user input into a typed value or raise InvalidSetting naming the allowed values."""
        text_value = "" if raw is None else str(raw).strip()
        if self.type == "boolean":
            lowered = text_value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise InvalidSetting(f"{self.key} must be 0 or 1, not {text_value!r}.", _ADVICE)
        if self.type in ("integer", "decimal"):
            try:
                number: float = int(text_value) if self.type == "integer" else float(text_value)
            except ValueError:
                kind = "a whole number" if self.type == "integer" else "a number"
                raise InvalidSetting(
                    f"{self.key} must be {kind} {self._range()}, not {text_value!r}.", _ADVICE
                ) from None
            if (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high
            ):
                raise InvalidSetting(
                    f"{self.key} must be {self._range()}, not {text_value}.", _ADVICE
                )
            return number
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
            from imagear.models import get_model  # the registry is light: no torch

            # an unknown model is UnknownModel (exit 3), as --model NAME is everywhere
            return get_model(text_value).name
        if self.key == "ar_model":
            raise InvalidSetting(
                "ar_model cannot be empty.", "List the models with `imagear models`."
            )
        return text_value

    def to_text(self, value: Any) -> str:
        if self.type == "boolean":
            return "1" if value else "0"
        if self.type == "decimal":
            return f"{float(value):g}"
        return str(value)


SPECS: dict[str, Spec] = {
    s.key: s
    for s in (
        Spec("ar_enabled", "boolean", True, "Master switch for image animation"),
        Spec(
            "ar_user_button",
            "boolean",
            True,
            "Show the Animate button; generation needs both toggles on",
        ),
        Spec(
            "ar_server_url",
            "string",
            "",
            "Base URL of the image-to-video server (empty: in-process engines)",
        ),
        Spec(
            "ar_server_pool",
            "string",
            "",
            "Further image-to-video servers (URLs, space-separated) that share the requests",
        ),
        Spec("ar_model", "string", "svd", "Model used when a call names none"),
        Spec("ar_request_timeout", "integer", 900, "Maximum seconds for one generation", 60, 3600),
        Spec(
            "ar_num_frames",
            "integer",
            14,
            "Frames per clip (the model decides what is valid)",
            8,
            49,
        ),
        Spec("ar_fps", "integer", 7, "Output frame rate", 4, 30),
        Spec(
            "ar_motion_bucket_id",
            "integer",
            127,
            "SVD motion strength: 1 barely moves, 255 strong",
            1,
            255,
        ),
        Spec(
            "ar_seed",
            "integer",
            0,
            "0 = random per call; a positive value is deterministic",
            0,
            MAX_SEED,  # what every model takes (their Options bound it too)
        ),
        Spec(
            "ar_default_prompt",
            "string",
            "",
            "Prompt for prompt-aware models when a call gives none",
        ),
        # The quality gate (imagear.quality): every new clip passes it before it may replace
        # anything. Grey levels are 0..255; a threshold of 0 turns its check off.
        Spec(
            "ar_quality_gate",
            "boolean",
            True,
            "Refuse black, blank, frozen, unrelated or not-as-asked clips before they are stored",
        ),
        Spec(
            "ar_quality_min_brightness",
            "decimal",
            10.0,
            "Quality gate: a frame darker than this mean grey level (0..255) is black",
            0,
            255,
        ),
        Spec(
            "ar_quality_min_contrast",
            "decimal",
            2.0,
            "Quality gate: a frame whose grey levels vary less than this (std) is blank",
            0,
            255,
        ),
        Spec(
            "ar_quality_min_motion",
            "decimal",
            1.0,
            "Quality gate: a clip whose frames change less than this from the first is frozen",
            0,
            255,
        ),
        Spec(
            "ar_quality_min_resemblance",
            "decimal",
            0.5,
            "Quality gate: the first frame must correlate this well (0..1) with the image",
            0,
            1,
        ),
        Spec(
            "ar_quality_quarantine_keep",
            "integer",
            3,
            "Refused clips kept per record in {storage_root}/quarantine/ (0 keeps none)",
            0,
            100,
        ),
    )
}


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


def spec(key: str) -> Spec:
    try:
        return SPECS[key]
    except KeyError:
        raise UnknownSetting(f"There is no setting named {key!r}.") from None


class Settings(BaseModel):
    """The ``image_ar_settings`` values, typed (what :func:`get_all` returns)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ar_enabled: bool = True
    ar_user_button: bool = True
    ar_server_url: str = ""
    ar_server_pool: str = ""
    ar_model: str = "svd"
    ar_request_timeout: int = 900
    ar_num_frames: int = 14
    ar_fps: int = 7
    ar_motion_bucket_id: int = 127
    ar_seed: int = 0
    ar_default_prompt: str = ""
    ar_quality_gate: bool = True
    ar_quality_min_brightness: float = 10.0
    ar_quality_min_contrast: float = 2.0
    ar_quality_min_motion: float = 1.0
    ar_quality_min_resemblance: float = 0.5
    ar_quality_quarantine_keep: int = 3

    def value(self, key: str) -> Any:
        """One value by its key (UnknownSetting for a key imagear does not know)."""
        return getattr(self, spec(key).key)

    def require_generation(self) -> None:
        """Raise FeatureDisabled when a feature toggle is off (generating needs both on)."""
        off = [k for k in ("ar_enabled", "ar_user_button") if not getattr(self, k)]
        if off:
            raise FeatureDisabled(
                f"Image animation is turned off ({', '.join(f'{k}=0' for k in off)}); "
                "generating needs both ar_enabled and ar_user_button on."
            )


assert set(Settings.model_fields) == set(SPECS), "Settings and SPECS name the same keys"


def seed_rows() -> list[dict[str, Any]]:
    """Every key's default as an ``image_ar_settings`` row (the first-boot seed)."""
    from imagear.db.schema import utcnow

    now = utcnow()
    return [
        {
            "setting_key": s.key,
            "setting_value": s.to_text(s.default),
            "setting_type": s.type,
            "description": s.description,
            "updated_at": now,
        }
        for s in SPECS.values()
    ]


def _typed(s: Spec, raw: str | None) -> Any:
    try:
        return s.parse(raw)
    except Exception:  # a value another tool wrote badly must not break a cron run
        return s.default


def get_all(engine: Engine) -> Settings:
    """Every known setting, typed. Keys written by other tools are ignored."""
    from imagear.db import settings as rows_db

    rows = rows_db.read_all(engine)
    return Settings(
        **{key: (_typed(s, rows[key]) if key in rows else s.default) for key, s in SPECS.items()}
    )


def get(engine: Engine, key: str) -> Any:
    return get_all(engine).value(key)


def set_value(engine: Engine, key: str, raw: str) -> Any:
    """Validate and store one value; nothing is written when it is refused."""
    s = spec(key)
    value = s.parse(raw)
    _write(engine, s, value)
    return value


def reset(engine: Engine, key: str | None = None) -> list[str]:
    """Put one key (or all) back to the default; returns the keys reset."""
    specs = [spec(key)] if key else list(SPECS.values())
    for s in specs:
        _write(engine, s, s.default)
    return [s.key for s in specs]


def _write(engine: Engine, s: Spec, value: Any) -> None:
    from imagear.db import settings as rows_db

    rows_db.write(engine, s.key, s.to_text(value), s.type, s.description)


def describe() -> list[dict[str, Any]]:
    """The spec as data, for `settings list` and docs."""
    return [
        {
            "key": s.key,
            "type": s.type,
            "default": s.default,
            "allowed": s.allowed(),
            "description": s.description,
        }
        for s in SPECS.values()
    ]
