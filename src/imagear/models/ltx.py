"""LTX-Video image-to-video (Lightricks, 2B): ``ltx-video``.

diffusers' ``LTXImageToVideoPipeline`` (0.32 or later): sides multiples of 32 (its
``check_inputs``), frames 8N+1 (its VAE compresses 8x in time), and the frame rate is passed to
the transformer as conditioning (``frame_rate``), so the clip's fps also steers the motion.
"""

from __future__ import annotations

from pydantic import Field

from imagear.models.base import BaseOptions, ModelDescriptor

LTX_FRAMES = range(9, 258, 8)  # 8N+1 from 9 to 257


class LTXOptions(BaseOptions):
    """Options of LTX-Video image-to-video."""

    num_frames: int = Field(
        161, description="Frames to generate: 8N+1, at most 257 (161 native).", ge=9, le=257
    )
    fps: int = Field(
        25,
        description="Frames per second (also passed to the model as conditioning).",
        ge=4,
        le=30,
    )
    # One step fails inside diffusers (its scheduler's terminal shift leaves no timestep to
    # start from: an IndexError): refused here, before any request.
    num_inference_steps: int = Field(
        50, description="Denoising steps (at least 2 for this pipeline).", ge=2, le=200
    )
    guidance_scale: float = Field(
        3.0,
        description="Classifier-free guidance: how closely to follow the prompt.",
        ge=0.0,
        le=20.0,
    )
    negative_prompt: str | None = Field(
        None, description="What the clip should not show.", max_length=2000
    )
    decode_timestep: float | None = Field(
        None,
        description="Timestep the VAE decodes at; default: 0.05 for a timestep-aware VAE "
        "(LTX-Video 0.9.1 and later), else 0.",
        ge=0.0,
        le=1.0,
    )
    decode_noise_scale: float | None = Field(
        None,
        description="Noise mixed in at decoding; default: 0.025 for a timestep-aware VAE, else "
        "none.",
        ge=0.0,
        le=1.0,
    )


class LTXVideo(ModelDescriptor):
    """LTX-Video: image plus prompt, 161 frames at 704x512 (25 fps), fast."""

    name = "ltx-video"
    aliases = ("ltx", "ltxv", "ltx-video-i2v")
    family = "ltx"
    takes_image = True
    uses_prompt = True
    native_width = 704
    native_height = 512
    divisible_by = 32
    min_side = 128
    max_side = 1280
    native_fps = 25
    default_frames = 161
    valid_frames = LTX_FRAMES
    frames_rule = "8N+1, max 257"
    memory = (
        "bf16: a 2B transformer plus the T5-XXL text encoder (about 9.5 GB); low-VRAM mode uses "
        "model CPU offload and VAE tiling"
    )
    licence = "LTX-Video licence (Lightricks' own terms: read it before commercial use)"
    hf_repo = "Lightricks/LTX-Video"
    pipeline = "LTXImageToVideoPipeline"
    torch_dtype = "bfloat16"
    requires = ("diffusers>=0.32",)
    low_vram_offload = "model"
    requires_gpu = True
    honours_settings = True
    notes = (
        "Fast: its authors report faster-than-real-time generation on an H100. Sides must be "
        "multiples of 32; the output keeps the image's aspect ratio at about 704x512 pixels."
    )

    Options = LTXOptions
