"""CogVideoX: ``cogvideox-2b`` (text-to-video) and ``cogvideox-5b-i2v`` (image-to-video)."""

from __future__ import annotations

from pydantic import Field, model_validator

from imagear.models.base import BaseOptions, ModelDescriptor, OptionProblem

COGVIDEOX_FRAMES = range(9, 50, 8)  # 8N+1 up to 49: 9, 17, 25, 33, 41, 49
TRAINED_FRAMES = 49
# The published checkpoints ship their T5 tokenizer as spiece.model only: transformers reads it
# with sentencepiece, whose model file is a protobuf.
COGVIDEOX_REQUIRES = ("sentencepiece", "protobuf")


class CogVideoXOptions(BaseOptions):
    """Options shared by the CogVideoX models (8N+1 frames up to 49, fixed 720x480)."""

    num_frames: int = Field(49, description="Frames to generate: 8N+1, at most 49.", ge=9, le=49)
    fps: int = Field(8, description="Frames per second of the clip.", ge=4, le=30)
    num_inference_steps: int = Field(50, description="Denoising steps.", ge=1, le=200)
    guidance_scale: float = Field(
        6.0,
        description="Classifier-free guidance: how closely to follow the prompt.",
        ge=0.0,
        le=20.0,
    )
    negative_prompt: str | None = Field(
        None, description="What the clip should not show.", max_length=2000
    )
    use_dynamic_cfg: bool = Field(
        False,
        description="Raise guidance over the denoising steps (the model card's recipe for "
        "cogvideox-5b-i2v).",
    )


class CogVideoX2BOptions(CogVideoXOptions):
    """Options of CogVideoX-2b. A prompt is required: it is the only input the model sees."""

    @model_validator(mode="after")
    def _needs_prompt(self) -> CogVideoX2BOptions:
        if not self.prompt:
            raise OptionProblem(
                "cogvideox-2b is text-to-video and never sees the image, so it needs a prompt: "
                "pass {prompt} or set ar_default_prompt (or use cogvideox-5b-i2v)",
                "prompt",
            )
        return self


class CogVideoX5BI2VOptions(CogVideoXOptions):
    """Options of CogVideoX-5b-I2V: the image plus an optional prompt; dynamic guidance on, as
    the model card runs it."""

    use_dynamic_cfg: bool = Field(
        True,
        description="Raise guidance over the denoising steps (the model card's recipe).",
    )


class _CogVideoX(ModelDescriptor):
    """What both CogVideoX checkpoints share: fixed 720x480, 8 fps, 8N+1 frames up to 49."""

    family = "cogvideox"
    uses_prompt = True
    native_width = 720
    native_height = 480
    divisible_by = 16
    fixed_size = True
    native_fps = 8
    default_frames = 49
    valid_frames = COGVIDEOX_FRAMES
    frames_rule = "8N+1, max 49"
    requires = COGVIDEOX_REQUIRES
    # Sequential offload is what gets CogVideoX to a few GB: its T5-XXL text encoder alone is
    # about 9.5 GB in 16-bit, more than whole-model offload can get under.
    low_vram_offload = "sequential"


class CogVideoX2B(_CogVideoX):
    """CogVideoX-2b, a TEXT-to-video model, offered for Heratio compatibility.

    Honest note: this checkpoint has no image input. imagear does not pretend otherwise: the
    clip is generated from the prompt alone (a per-call prompt or ar_default_prompt, one of
    which is required) and will not show the record's image. ``takes_image`` is False, and
    every generation carries a notice saying so. For a clip of the image itself use
    ``cogvideox-5b-i2v`` (or svd / wan-2.1). The size is fixed at 720x480, the only size
    the checkpoint was trained for.
    """

    name = "cogvideox-2b"
    aliases = ("cogvideox2b", "cogvideox-2b-t2v")
    takes_image = False
    memory = (
        "fp16; the T5-XXL text encoder alone is about 9.5 GB; low-VRAM mode offloads layer by "
        "layer (sequential CPU offload: about 4 GB, much slower)"
    )
    licence = "Apache-2.0"
    hf_repo = "THUDM/CogVideoX-2b"
    pipeline = "CogVideoXPipeline"
    torch_dtype = "float16"
    requires_gpu = True
    honours_settings = True
    notes = (
        "Text-to-video only: the clip comes from the prompt alone and does not show the image. "
        "A prompt is required. Use cogvideox-5b-i2v to animate the image."
    )

    Options = CogVideoX2BOptions

    def notices(self) -> list[str]:
        """Every generation says that this model does not see the image."""
        return [
            "cogvideox-2b is text-to-video: the clip is made from the prompt alone "
            "and will not show the image"
        ]


class CogVideoX5BI2V(_CogVideoX):
    """CogVideoX-5b-I2V: image-to-video with a prompt, fixed 720x480, bf16 only."""

    name = "cogvideox-5b-i2v"
    aliases = ("cogvideox-5b", "cogvideox-i2v", "cogvideox5b-i2v")
    takes_image = True
    memory = (
        "bf16 only (fp16 gives black frames); low-VRAM mode offloads layer by layer "
        "(sequential CPU offload: a few GB, much slower)"
    )
    licence = "CogVideoX licence"
    hf_repo = "THUDM/CogVideoX-5b-I2V"
    pipeline = "CogVideoXImageToVideoPipeline"
    torch_dtype = "bfloat16"
    requires_gpu = True
    honours_settings = True
    notes = (
        "The image is resized to the fixed 720x480; the prompt steers the motion. Trained for 49 "
        "frames: fewer frames replace its learned positional embeddings with computed ones, "
        "which can lower the quality."
    )

    Options = CogVideoX5BI2VOptions

    def option_notices(self, options: BaseOptions) -> list[str]:
        """Fewer than 49 frames switch the learned positional embeddings (diffusers computes
        sin-cos ones for the shorter clip): say so."""
        frames = int(options.num_frames)
        if frames >= TRAINED_FRAMES:
            return []
        return [
            f"cogvideox-5b-i2v was trained for {TRAINED_FRAMES} frames: at {frames} its learned "
            "positional embeddings are replaced by computed ones, which can lower the quality"
        ]
