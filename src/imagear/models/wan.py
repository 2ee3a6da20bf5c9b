"""Wan 2.1 image-to-video (14B, 480P): ``wan-2.1``; the options every Wan model shares."""

from __future__ import annotations

from pydantic import Field

from imagear.models.base import BaseOptions, ModelDescriptor

WAN_FRAMES = range(5, 122, 4)  # 4N+1 from 5 to 121; trained at 81
# diffusers cleans Wan prompts with ftfy (a NameError without it); Wan image-to-video arrived in
# diffusers 0.33.
WAN_REQUIRES = ("ftfy", "diffusers>=0.33")
WAN_NEGATIVE = "What the clip should not show."


class WanOptions(BaseOptions):
    """Options of Wan 2.1 I2V: 4N+1 frames (81 native), 16 fps, sides divisible by 16."""

    num_frames: int = Field(
        81, description="Frames to generate: 4N+1, at most 121 (81 native).", ge=5, le=121
    )
    fps: int = Field(16, description="Frames per second of the clip.", ge=4, le=30)
    num_inference_steps: int = Field(50, description="Denoising steps.", ge=1, le=200)
    guidance_scale: float = Field(
        5.0,
        description="Classifier-free guidance: how closely to follow the prompt.",
        ge=0.0,
        le=20.0,
    )
    negative_prompt: str | None = Field(None, description=WAN_NEGATIVE, max_length=2000)


class Wan21(ModelDescriptor):
    """Wan 2.1 I2V 14B at 480P: image plus prompt, 81 frames at 832x480 (16 fps)."""

    name = "wan-2.1"
    aliases = ("wan", "wan2.1", "wan21", "wan-2.1-i2v-480p")
    family = "wan"
    takes_image = True
    uses_prompt = True
    native_width = 832
    native_height = 480
    divisible_by = 16
    min_side = 128
    max_side = 1280
    native_fps = 16
    default_frames = 81
    valid_frames = WAN_FRAMES
    frames_rule = "4N+1, max 121"
    memory = ">= 35 GB plain; about 14 GB with group offload (low-VRAM mode)"
    licence = "Apache-2.0"
    hf_repo = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
    pipeline = "WanImageToVideoPipeline"
    torch_dtype = "bfloat16"
    requires = WAN_REQUIRES
    # The 14B transformer alone is about 28 GB in bf16: whole-model offload cannot fit it.
    low_vram_offload = "group"
    requires_gpu = True
    honours_settings = True
    notes = (
        "Trained for 81 frames; longer clips (up to 121) may loop or drift. "
        "The output keeps the image's aspect ratio at about 832x480 pixels."
    )

    Options = WanOptions
