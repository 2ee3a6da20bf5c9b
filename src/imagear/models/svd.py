"""Stable Video Diffusion (image-to-video, no prompt): ``svd`` and ``svd-xt``."""

from __future__ import annotations

from pydantic import Field, model_validator

from imagear.models.base import BaseOptions, ModelDescriptor, OptionProblem

SVD_MEMORY = (
    "fp16; under 8 GB in low-VRAM mode (model CPU offload, forward chunking, decode_chunk_size=2)"
)
SVD_LICENCE = "Stability AI non-commercial community licence"


class SVDOptions(BaseOptions):
    """Options of Stable Video Diffusion. The prompt is ignored: SVD sees only the image."""

    num_frames: int = Field(14, description="Frames to generate: 14 or 25.", ge=14, le=25)
    fps: int = Field(
        7, description="Frames per second (also passed to the UNet as conditioning).", ge=4, le=30
    )
    motion_bucket_id: int = Field(
        127, description="Motion strength: 1 barely moves, 255 moves a lot.", ge=1, le=255
    )
    noise_aug_strength: float = Field(
        0.02,
        description="Noise added to the image; more gives more motion, less likeness.",
        ge=0.0,
        le=1.0,
    )
    num_inference_steps: int = Field(25, description="Denoising steps.", ge=1, le=200)
    min_guidance_scale: float = Field(
        1.0, description="Guidance scale of the first frame.", ge=0.0, le=20.0
    )
    max_guidance_scale: float = Field(
        3.0, description="Guidance scale of the last frame.", ge=0.0, le=20.0
    )
    decode_chunk_size: int | None = Field(
        None,
        description="Frames the VAE decodes at once; lower saves memory. "
        "Default: all frames (2 in low-VRAM mode).",
        ge=1,
        le=25,
    )

    @model_validator(mode="after")
    def _guidance_order(self) -> SVDOptions:
        if self.max_guidance_scale < self.min_guidance_scale:
            raise OptionProblem(
                f"max_guidance_scale ({self.max_guidance_scale}) must be at least "
                f"min_guidance_scale ({self.min_guidance_scale})",
                "max_guidance_scale",
                "min_guidance_scale",
            )
        return self


class SVD(ModelDescriptor):
    """Stable Video Diffusion img2vid: 14 frames at 1024x576, image only, no prompt."""

    name = "svd"
    aliases: tuple[str, ...] = ("stable-video-diffusion", "svd-img2vid")
    family = "svd"
    takes_image = True
    uses_prompt = False
    native_width = 1024
    native_height = 576
    divisible_by = 8
    native_fps = 7
    default_frames = 14
    valid_frames = (14, 25)
    frames_rule = "14 or 25"
    memory = SVD_MEMORY
    licence = SVD_LICENCE
    hf_repo = "stabilityai/stable-video-diffusion-img2vid"
    pipeline = "StableVideoDiffusionPipeline"
    torch_dtype = "float16"
    requires_gpu = True
    honours_settings = True
    notes = "Image only: the prompt is ignored. Heratio's default model."

    Options = SVDOptions


class SVDXTOptions(SVDOptions):
    """Options of SVD-XT: as SVD, with 25 frames by default."""

    num_frames: int = Field(
        25, description="Frames to generate: 14 or 25 (25 native).", ge=14, le=25
    )


class SVDXT(SVD):
    """Stable Video Diffusion img2vid-xt: trained for 25 frames at 1024x576, image only."""

    name = "svd-xt"
    aliases = ("svd_xt", "stable-video-diffusion-xt", "svd-img2vid-xt")
    default_frames = 25
    hf_repo = "stabilityai/stable-video-diffusion-img2vid-xt"
    notes = "Image only: the prompt is ignored. Trained for 25 frames; 14 also works."

    Options = SVDXTOptions
