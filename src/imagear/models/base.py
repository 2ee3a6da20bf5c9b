"""Model descriptors: what a model is, what it accepts, and how to build its engine.

A descriptor is a small class with class attributes (name, frames rule, native size, ...) and a
nested pydantic ``Options`` class that validates one generation's parameters. The registry holds
one instance of each descriptor. Nothing here imports torch, diffusers or av: engines are
imported inside :meth:`ModelDescriptor.create_engine`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Literal, TypedDict, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo

from imagear.errors import EngineUnavailable
from imagear.limits import MAX_SEED

if TYPE_CHECKING:
    from imagear.engines.base import Engine, EngineConfig

COMMON_PARAMETERS: tuple[str, ...] = (
    "num_frames",
    "fps",
    "motion_bucket_id",
    "seed",
    "prompt",
    "width",
    "height",
)
"""The per-call parameters every front end offers on their own (the keys of
``resolve_generation``'s ``overrides``); every other option is a model option (``extra``)."""


class OptionProblem(ValueError):
    """A validator's refusal that names options, for a model validator to raise.

    Write ``{key}`` where the text names option ``key`` (one of ``fields``): each front end
    words it its own way (a command-line flag, a form field); ``str()`` names the options by
    their option names. ``fields`` are the options at fault, which the refusal carries on.
    """

    def __init__(self, template: str, *fields: str) -> None:
        self.template, self.fields = template, fields
        super().__init__(self.worded(lambda key: key))

    def worded(self, name: Callable[[str], str]) -> str:
        """The text with each ``{key}`` of ``fields`` replaced by ``name(key)``."""
        text = self.template
        for key in self.fields:
            text = text.replace("{" + key + "}", name(key))
        return text


class BaseOptions(BaseModel):
    """The parameters every model shares. Each descriptor's ``Options`` subclasses this.

    Unknown keys are refused (``extra="forbid"``). ``descriptor`` is set on each subclass by
    :class:`ModelDescriptor` so the shared validators know the model's frames rule and sizes.
    Validators are built when a model's options are first used (``defer_build``), so a command
    builds one, not every model's (tests/test_model_names.py).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    descriptor: ClassVar[type[ModelDescriptor] | None] = None

    num_frames: int = Field(14, description="Number of frames to generate.", ge=1, le=1500)
    fps: int = Field(7, description="Frames per second of the clip.", ge=1, le=60)
    seed: int = Field(
        0, description="Random seed; 0 draws a new one for every clip.", ge=0, le=MAX_SEED
    )
    prompt: str | None = Field(
        None, description="Text prompt (prompt-aware models only).", max_length=2000
    )
    width: int | None = Field(
        None,
        description="Output width in pixels; default: from the image's aspect ratio.",
        ge=1,
        le=8192,
    )
    height: int | None = Field(
        None,
        description="Output height in pixels; default: from the image's aspect ratio.",
        ge=1,
        le=8192,
    )

    @field_validator("num_frames")
    @classmethod
    def _check_frames(cls, value: int) -> int:
        desc = cls.descriptor
        if desc is not None and desc.valid_frames is not None and value not in desc.valid_frames:
            raise ValueError(f"must be {desc.frames_rule}")
        return value

    @field_validator("width", "height")
    @classmethod
    def _check_side(cls, value: int | None, info: ValidationInfo) -> int | None:
        desc = cls.descriptor
        if value is not None and desc is not None and info.field_name is not None:
            model = desc()
            if not model.side_ok(info.field_name, value):
                raise ValueError(f"must be {model.describe_allowed(info.field_name)}")
        return value

    @field_validator("prompt")
    @classmethod
    def _blank_prompt_is_none(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value.strip() if value is not None else None


def _bounds(info: FieldInfo) -> tuple[object, object, bool, bool]:
    """(low, high, low_exclusive, high_exclusive) from a field's ge/gt/le/lt metadata."""
    low: object = None
    high: object = None
    low_ex = high_ex = False
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            low, low_ex = meta.gt, True
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.Lt):
            high, high_ex = meta.lt, True
    return low, high, low_ex, high_ex


def _choices(info: FieldInfo) -> list[object] | None:
    """The values of a Literal field (also inside ``Literal[...] | None``), else None."""
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for arg in get_args(annotation):
        if get_origin(arg) is Literal:
            return list(get_args(arg))
    return None


def _type_name(info: FieldInfo) -> str:
    annotation = info.annotation
    if _choices(info) is not None:
        return "choice"
    args = [a for a in get_args(annotation) if a is not type(None)]
    base = args[0] if len(args) == 1 else annotation
    return getattr(base, "__name__", str(base))


def _or_list(values: Sequence[object]) -> str:
    items = [str(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


class OptionSpec(TypedDict):
    """One option of a model, as :meth:`ModelDescriptor.option_specs` lists it."""

    name: str
    type: str
    default: object
    allowed: str
    minimum: object
    maximum: object
    choices: list[object] | None
    description: str
    ignored: bool


class ModelInfo(TypedDict):
    """A JSON-ready summary of a model (:meth:`ModelDescriptor.info`)."""

    name: str
    aliases: list[str]
    family: str
    takes_image: bool
    uses_prompt: bool
    frames_rule: str
    default_frames: int
    native_fps: int
    native_width: int
    native_height: int
    divisible_by: int
    fixed_size: bool
    memory: str
    licence: str
    hf_repo: str | None
    requires_gpu: bool
    honours_settings: bool
    notes: str


class ModelDescriptor:
    """What imagear knows about one model. Subclass it and register the class.

    The class attributes describe the model; ``Options`` (a :class:`BaseOptions` subclass)
    validates one generation. Instances are cheap and stateless: the registry keeps one each.

    Attributes: ``name`` (lowercase, unique) and ``aliases``; ``family`` (what the engine keys
    on: svd, cogvideox, wan, kenburns); ``takes_image`` / ``uses_prompt``; the native size
    (``native_width`` x ``native_height``), the side rule (``divisible_by``, ``min_side``,
    ``max_side``, or ``fixed_size``); ``native_fps``; ``default_frames``, ``valid_frames``
    (the allowed counts, or None to leave it to the Options bounds) and ``frames_rule`` (the
    same in words, used in messages); ``memory`` (GPU guidance), ``licence``, ``hf_repo``;
    ``requires_gpu``; ``honours_settings`` (whether ar_num_frames / ar_fps /
    ar_motion_bucket_id apply); ``notes`` (anything a user should know before choosing it);
    ``requires`` and ``low_vram_offload`` (what the diffusers engine needs and how it offloads).
    Each subclass gets an Options class of its own, bound to it (``Options.descriptor``).
    """

    name: str = ""
    aliases: tuple[str, ...] = ()
    family: str = ""
    takes_image: bool = True
    uses_prompt: bool = False
    native_width: int = 1024
    native_height: int = 576
    divisible_by: int = 8
    min_side: int = 64
    max_side: int = 2048
    fixed_size: bool = False  # True: only native_width x native_height is allowed
    native_fps: int = 7
    default_frames: int = 14
    valid_frames: Sequence[int] | None = None  # None: the Options bounds decide
    frames_rule: str = ""
    memory: str = ""
    licence: str = ""
    hf_repo: str | None = None
    pipeline: str | None = None  # diffusers pipeline class name, for the engine
    torch_dtype: str | None = None  # torch dtype name on CUDA (read by the diffusers engine)
    requires_gpu: bool = True
    honours_settings: bool = True  # ar_num_frames / ar_fps / ar_motion_bucket_id
    notes: str = ""
    # an AI model: its clips are declared trainedAlgorithmicMedia in their Content Credentials
    # and disclosed as AI-generated (imagear.provenance); False for a plain edit (kenburns)
    generative: bool = True
    # Diffusers engine only. Packages its pipeline needs beyond torch and diffusers, as
    # "name" or "name>=version" (checked without importing them, e.g. "ftfy", "diffusers>=0.35").
    requires: tuple[str, ...] = ()
    # Low-VRAM placement on an accelerator: "model" (whole models hop on and off),
    # "sequential" (layer by layer: least memory, slowest) or "group" (leaf-level group offload).
    low_vram_offload: str = "model"

    Options: type[BaseOptions] = BaseOptions

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        options = cls.Options
        bound = options.__dict__.get("descriptor")
        if "Options" not in cls.__dict__ or bound not in (None, cls):
            # Inherited Options: give this descriptor its own subclass to bind to.
            options = type(options.__name__, (options,), {"__module__": cls.__module__})
            cls.Options = options
        options.descriptor = cls

    # -- sizes ---------------------------------------------------------------------------

    def side_ok(self, axis: str, value: int) -> bool:
        """True when ``value`` is an allowed ``axis`` ("width"/"height") for this model."""
        native = self.native_width if axis == "width" else self.native_height
        if self.fixed_size:
            return value == native
        return value % self.divisible_by == 0 and self.min_side <= value <= self.max_side

    def _round_side(self, value: float) -> int:
        step = self.divisible_by
        low = math.ceil(self.min_side / step) * step
        high = math.floor(self.max_side / step) * step
        return int(min(high, max(low, round(value / step) * step)))

    def output_size(self, image_size: tuple[int, int] | None) -> tuple[int, int]:
        """The default (width, height) for a source image of ``image_size``.

        Keeps the model's native area (native_width x native_height) and the image's aspect
        ratio, rounded to ``divisible_by`` and kept inside the model's side limits. Fixed-size
        models, and calls without an image size, get the native size.
        """
        if self.fixed_size or image_size is None:
            return self.native_width, self.native_height
        src_w, src_h = image_size
        if src_w <= 0 or src_h <= 0:
            return self.native_width, self.native_height
        ratio = src_w / src_h
        area = self.native_width * self.native_height
        width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
        scale = min(1.0, self.max_side / width, self.max_side / height)
        return self._round_side(width * scale), self._round_side(height * scale)

    def other_side(self, axis: str, value: int, image_size: tuple[int, int] | None) -> int:
        """The side that goes with a given ``axis`` = ``value``, keeping the image's aspect."""
        if self.fixed_size:
            return self.native_height if axis == "width" else self.native_width
        src_w, src_h = image_size or (self.native_width, self.native_height)
        ratio = src_w / src_h if src_w > 0 and src_h > 0 else 1.0
        return self._round_side(value / ratio if axis == "width" else value * ratio)

    # -- options ---------------------------------------------------------------------------

    def ignored_parameters(self) -> frozenset[str]:
        """Common per-call parameters (:data:`COMMON_PARAMETERS`) this model does not use."""
        fields = self.Options.model_fields
        ignored = {key for key in COMMON_PARAMETERS if key not in fields}
        if not self.uses_prompt:
            ignored.add("prompt")
        return frozenset(ignored)

    def describe_allowed(self, field: str) -> str:
        """The allowed values of one option, in words ("14 or 25", "from 1 to 255")."""
        if field == "num_frames" and self.frames_rule:
            values = list(self.valid_frames) if self.valid_frames is not None else []
            listed = all(str(v) in self.frames_rule for v in values)
            if 1 < len(values) <= 8 and not listed:
                return f"{self.frames_rule} ({', '.join(map(str, values))})"
            return self.frames_rule
        if field in ("width", "height"):
            native = self.native_width if field == "width" else self.native_height
            if self.fixed_size:
                return f"{native} (fixed size {self.native_width}x{self.native_height})"
            step = (
                "an even number" if self.divisible_by == 2 else f"a multiple of {self.divisible_by}"
            )
            return f"{step} from {self.min_side} to {self.max_side}"
        info = self.Options.model_fields[field]
        choices = _choices(info)
        if choices is not None:
            return _or_list(choices)
        if _type_name(info) == "bool":
            return "true or false"
        if _type_name(info) == "str":
            longest = [m.max_length for m in info.metadata if isinstance(m, annotated_types.MaxLen)]
            return f"text of up to {longest[0]} characters" if longest else "any text"
        low, high, low_ex, high_ex = _bounds(info)
        if low is not None and high is not None and not low_ex and not high_ex:
            text = f"from {low} to {high}"
        else:
            parts = []
            if low is not None:
                parts.append(f"{'above' if low_ex else 'at least'} {low}")
            if high is not None:
                parts.append(f"{'below' if high_ex else 'at most'} {high}")
            text = " and ".join(parts) or f"any {_type_name(info)}"
        if field == "seed":
            text += " (0 = random)"
        return text

    def nearest_frames(self, value: int) -> list[int]:
        """The one or two allowed frame counts closest to ``value`` (for error messages)."""
        if self.valid_frames is None:
            return []
        below = [v for v in self.valid_frames if v < value][-1:]
        above = [v for v in self.valid_frames if v > value][:1]
        return below + above

    def option_specs(self) -> list[OptionSpec]:
        """One dict per option: name, type, default, allowed, bounds, description, ignored.

        Options are named by their option names; a front end adds how it takes each one (the
        command line's flag, a form's field)."""
        specs: list[OptionSpec] = []
        for field, info in self.Options.model_fields.items():
            low, high, _, _ = _bounds(info)
            if field in ("width", "height"):
                native = self.native_width if field == "width" else self.native_height
                low, high = (native, native) if self.fixed_size else (self.min_side, self.max_side)
            specs.append(
                {
                    "name": field,
                    "type": _type_name(info),
                    "default": info.default,
                    "allowed": self.describe_allowed(field),
                    "minimum": low,
                    "maximum": high,
                    "choices": _choices(info),
                    "description": info.description or "",
                    "ignored": field in self.ignored_parameters(),
                }
            )
        return specs

    def info(self) -> ModelInfo:
        """A JSON-ready summary of the descriptor (what a front end lists for it)."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "family": self.family,
            "takes_image": self.takes_image,
            "uses_prompt": self.uses_prompt,
            "frames_rule": self.frames_rule,
            "default_frames": self.default_frames,
            "native_fps": self.native_fps,
            "native_width": self.native_width,
            "native_height": self.native_height,
            "divisible_by": self.divisible_by,
            "fixed_size": self.fixed_size,
            "memory": self.memory,
            "licence": self.licence,
            "hf_repo": self.hf_repo,
            "requires_gpu": self.requires_gpu,
            "honours_settings": self.honours_settings,
            "notes": self.notes,
        }

    def notices(self) -> list[str]:
        """Notices to show with every generation of this model (none by default)."""
        return []

    def option_notices(self, options: BaseOptions) -> list[str]:
        """Notices about one generation's validated ``options`` (none by default)."""
        return []

    # -- engine ----------------------------------------------------------------------------

    @classmethod
    def has_own_engine(cls) -> bool:
        """True when the model brings its own engine (overrides :meth:`create_engine`: kenburns,
        plugins), False when it runs on the built-in diffusers engine."""
        return cls.create_engine is not ModelDescriptor.create_engine

    def create_engine(self, config: EngineConfig) -> Engine:
        """Build the engine that runs this model. Imports the engine module only now.

        The default is the diffusers engine; models that need another one override this.
        """
        if not self.hf_repo:
            raise EngineUnavailable(f"Model {self.name!r} names no weights (hf_repo) to load.")
        try:
            from imagear.engines.diffusers import DiffusersEngine
        except ImportError as exc:
            raise EngineUnavailable(
                f"The diffusers engine for {self.name} could not be loaded: {exc}.",
                advice="Install it with pip install 'imagear[diffusers]'.",
            ) from exc
        return DiffusersEngine(self, config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
