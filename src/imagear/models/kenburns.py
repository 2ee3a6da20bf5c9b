"""Ken Burns: pan and zoom over the still image. No AI, no GPU, no weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from pydantic import Field, model_validator

from imagear.models.base import BaseOptions, ModelDescriptor, OptionProblem

if TYPE_CHECKING:
    from imagear.engines.base import Engine, EngineConfig

Motion = Literal["zoom_in", "zoom_out", "pan_lr", "pan_rl", "ken_burns_diagonal"]
MOTIONS: tuple[str, ...] = get_args(Motion)
MIN_FRAMES, MAX_FRAMES = 2, 1500


class KenBurnsOptions(BaseOptions):
    """Options of the Ken Burns renderer (Heratio's earlier, non-AI clip maker)."""

    num_frames: int = Field(
        125, description="Frames in the clip (125 = 5 s at 25 fps).", ge=MIN_FRAMES, le=MAX_FRAMES
    )
    fps: int = Field(25, description="Frames per second of the clip.", ge=1, le=60)
    motion: Motion = Field("ken_burns_diagonal", description="The camera movement.")
    zoom: float = Field(1.30, description="Final zoom factor of the movement.", ge=1.05, le=2.0)
    duration: float | None = Field(
        None,
        description="Clip length in seconds; when given, sets num_frames = round(duration * fps).",
        ge=0.1,
        le=600.0,
    )
    loop: bool = Field(False, description="Move back to the start so the clip loops seamlessly.")

    @model_validator(mode="after")
    def _apply_duration(self) -> KenBurnsOptions:
        if self.duration is not None:
            frames = round(self.duration * self.fps)
            if not MIN_FRAMES <= frames <= MAX_FRAMES:
                raise OptionProblem(
                    f"duration {self.duration} s at {self.fps} fps gives {frames} frames; "
                    f"kenburns allows {MIN_FRAMES} to {MAX_FRAMES} frames",
                    "duration",
                )
            self.num_frames = frames
        return self


class KenBurns(ModelDescriptor):
    """Pan and zoom over the image with sub-pixel smooth motion. Runs anywhere, instantly."""

    name = "kenburns"
    aliases = ("ken-burns", "ken_burns")
    family = "kenburns"
    takes_image = True
    uses_prompt = False
    native_width = 1280
    native_height = 720
    divisible_by = 2
    min_side = 64
    max_side = 3840
    native_fps = 25
    default_frames = 125
    valid_frames = None
    frames_rule = f"from {MIN_FRAMES} to {MAX_FRAMES}"
    memory = "none: runs on the CPU"
    licence = "none (no model weights)"
    hf_repo = None
    pipeline = None
    torch_dtype = None
    requires_gpu = False
    honours_settings = False
    generative = False  # an edit of the photograph, never labelled AI
    notes = (
        "No AI: the ar_num_frames / ar_fps / ar_motion_bucket_id settings are for AI models and "
        "do not apply; the defaults make 5 s at 25 fps, like Heratio's ffmpeg renderer."
    )

    Options = KenBurnsOptions

    def create_engine(self, config: EngineConfig) -> Engine:
        """Build the Ken Burns engine (imported only now)."""
        from imagear.engines.kenburns import KenBurnsEngine

        return KenBurnsEngine(self, config)
