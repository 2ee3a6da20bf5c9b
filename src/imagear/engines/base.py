"""The engine contract shared by the in-process path and the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class EngineConfig:
    """What an engine needs to know about the host it runs on."""

    models_dir: Path | None = None  # local folder of diffusers checkpoints (see engines/diffusers)
    low_vram: bool = False  # model CPU offload, forward chunking, small decode chunks
    device: str | None = None  # "cuda", "cpu", ...; None picks the best available
    # Loading and pipeline log lines / progress bars: None follows IMAGEAR_VERBOSE (--verbose).
    verbose: bool | None = None
    # torch.compile of the denoiser: None follows IMAGEAR_TORCH_COMPILE (off by default);
    # "" is off; "default", "reduce-overhead", "max-autotune"... is on, in that mode.
    torch_compile: str | None = None


@dataclass
class GenerationResult:
    """What an engine reports about the clip it wrote. Probing the MP4 is the caller's job."""

    model: str
    seed: int
    num_frames: int
    fps: int
    generation_secs: float
    motion_bucket_id: int | None = None
    prompt: str | None = None
    motion: str | None = None  # value for object_image_ar.mp4_motion (Heratio: "ai-{model}")
    extra: dict[str, object] = field(default_factory=dict)
    # the frames as encoded, measured in memory (imagear.media.scan.FrameScanner's ClipScan):
    # the quality gate, poster and preview without decoding the clip; None: decode it
    scan: object = None


class GenerationOptions(Protocol):
    """What every engine reads of a model's validated Options by name (the pydantic models of
    :mod:`imagear.models` are these); a family's own fields are read with getattr."""

    @property
    def seed(self) -> int: ...


@runtime_checkable
class Engine(Protocol):
    """Turns one image into one MP4 file at ``out_path``.

    ``image`` is an RGB PIL image (already EXIF-oriented). ``options`` is the validated pydantic
    Options instance of the model's descriptor; its ``seed`` is never 0 here (the caller draws a
    random seed first so every clip can be reproduced). Engines are not required to be
    thread-safe: callers run one generation at a time per engine.
    """

    name: str

    def generate(
        self, image: Image.Image, options: GenerationOptions, out_path: Path
    ) -> GenerationResult: ...

    def loaded(self) -> bool:
        """True when the model is in memory (reported by /health loaded_models)."""
        ...

    def close(self) -> None: ...
