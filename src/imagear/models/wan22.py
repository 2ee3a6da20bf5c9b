"""Wan 2.2 image-to-video: ``wan-2.2`` (TI2V-5B) and ``wan-2.2-a14b`` (two 14B experts).

Both run on diffusers' ``WanImageToVideoPipeline`` (0.35 or later). The TI2V-5B checkpoint sets
``expand_timesteps`` in its pipeline config and has a VAE that compresses 16x in space, so with
the transformer's 2x2 patches its sides are multiples of 32. The A14B checkpoint has two experts
(``transformer`` for the high-noise steps, ``transformer_2`` for the rest, switched at the
pipeline's ``boundary_ratio``) and no CLIP image encoder. The engine reads which layout a
folder holds from its ``model_index.json``, so a folder of either runs under either name.
"""

from __future__ import annotations

from pydantic import Field

from imagear.models.base import ModelDescriptor
from imagear.models.wan import WAN_FRAMES, WanOptions

WAN22_REQUIRES = ("ftfy", "diffusers>=0.35")


class Wan22Options(WanOptions):
    """Options of Wan 2.2 TI2V-5B: 121 frames at 24 fps by default (5 s)."""

    num_frames: int = Field(
        121, description="Frames to generate: 4N+1, at most 121 (121 native).", ge=5, le=121
    )
    fps: int = Field(24, description="Frames per second of the clip.", ge=4, le=30)


class Wan22(ModelDescriptor):
    """Wan 2.2 TI2V-5B: image plus prompt, 121 frames at 1280x704 (24 fps), one 5B model."""

    name = "wan-2.2"
    aliases = ("wan2.2", "wan22", "wan-2.2-ti2v-5b", "wan2.2-ti2v-5b")
    family = "wan"
    takes_image = True
    uses_prompt = True
    native_width = 1280
    native_height = 704
    divisible_by = 32
    min_side = 128
    max_side = 1280
    native_fps = 24
    default_frames = 121
    valid_frames = WAN_FRAMES
    frames_rule = "4N+1, max 121"
    memory = (
        "bf16 (VAE in fp32): a 5B transformer plus the UMT5-XXL text encoder; its authors make "
        "720P clips on one 24 GB card with offloading; low-VRAM mode uses model CPU offload and "
        "VAE tiling"
    )
    licence = "Apache-2.0"
    hf_repo = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
    pipeline = "WanImageToVideoPipeline"
    torch_dtype = "bfloat16"
    requires = WAN22_REQUIRES
    low_vram_offload = "model"
    requires_gpu = True
    honours_settings = True
    notes = (
        "Trained for 121 frames at 24 fps; sides must be multiples of 32. The output keeps the "
        "image's aspect ratio at about 1280x704 pixels. If models_dir/wan-2.2 holds the two-expert "
        "A14B checkpoint instead, that runs (wan-2.2-a14b has its own defaults: 81 frames, 16 fps)."
    )

    Options = Wan22Options


class Wan22A14BOptions(WanOptions):
    """Options of Wan 2.2 I2V-A14B: 81 frames at 16 fps, guidance per expert."""

    num_inference_steps: int = Field(40, description="Denoising steps.", ge=1, le=200)
    guidance_scale: float = Field(
        3.5,
        description="Classifier-free guidance of the high-noise expert.",
        ge=0.0,
        le=20.0,
    )
    guidance_scale_2: float | None = Field(
        None,
        description="Guidance of the low-noise expert; default: the same as guidance_scale.",
        ge=0.0,
        le=20.0,
    )


class Wan22A14B(ModelDescriptor):
    """Wan 2.2 I2V-A14B: two 14B experts, 81 frames at 832x480 (16 fps), image plus prompt."""

    name = "wan-2.2-a14b"
    aliases = ("wan2.2-a14b", "wan22-a14b", "wan-2.2-i2v-a14b")
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
    memory = (
        "bf16: two 14B experts (about 28 GB of weights each; one runs at a time) plus the "
        "UMT5-XXL text encoder; low-VRAM mode uses leaf-level group offload"
    )
    licence = "Apache-2.0"
    hf_repo = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    pipeline = "WanImageToVideoPipeline"
    torch_dtype = "bfloat16"
    requires = WAN22_REQUIRES
    low_vram_offload = "group"
    requires_gpu = True
    honours_settings = True
    notes = (
        "Two experts: the first denoises the high-noise steps, the second the rest. 480P "
        "(832x480) by default, 720P (1280x720) also works; trained for 81 frames at 16 fps."
    )

    Options = Wan22A14BOptions
