"""The arguments of one pipeline call, per family, as the installed diffusers pipelines take them.

Every name here is a parameter of the pipeline's ``__call__`` in diffusers 0.35 and later
(tests/test_engine_families.py checks them against the installed signatures):

- svd (``StableVideoDiffusionPipeline``): image, size, frames, fps (diffusers subtracts 1
  itself: SVD was micro-conditioned on fps - 1), motion bucket, noise augmentation, steps,
  min/max guidance, decode chunk (2 in low-VRAM mode: the VAE decode is SVD's memory peak).
- cogvideox (``CogVideoXPipeline`` / ``CogVideoXImageToVideoPipeline``): prompt, negative
  prompt, size, frames, steps, guidance, ``use_dynamic_cfg`` (on for 5b-I2V, as its model card
  runs it); the text-to-video model gets no image.
- wan (``WanImageToVideoPipeline``): image, prompt, negative prompt, size, frames, steps,
  guidance, and ``guidance_scale_2`` only for a two-expert checkpoint (the pipeline refuses it
  otherwise).
- ltx (``LTXImageToVideoPipeline``): image, prompt, negative prompt, size, frames,
  ``frame_rate`` (the clip's fps: the transformer is conditioned on it), steps, guidance,
  ``decode_timestep`` / ``decode_noise_scale`` (0.05 / 0.025 for a timestep-aware VAE, as
  diffusers' LTX docs advise; else the pipeline's 0 / none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from imagear.engines.diffusers_weights import DiffusersModel

if TYPE_CHECKING:
    from PIL import Image

_T = TypeVar("_T")

# SVD knobs, as the model authors and diffusers default them.
SVD_DEFAULTS = {
    "motion_bucket_id": 127,
    "noise_aug_strength": 0.02,
    "num_inference_steps": 25,
    "min_guidance_scale": 1.0,
    "max_guidance_scale": 3.0,
}
# Per family when the options name none (each pipeline's own default).
GUIDANCE = {"cogvideox": 6.0, "wan": 5.0, "ltx": 3.0}
TIMESTEP_VAE_DECODE = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}


def _value(options: object, key: str, default: _T) -> _T:
    value: _T | None = getattr(options, key, None)
    return default if value is None else value


def fps_of(descriptor: DiffusersModel, options: object) -> int:
    """The clip's frame rate: the options', else the model's native one."""
    return int(getattr(options, "fps", None) or descriptor.native_fps)


def call_kwargs(
    descriptor: DiffusersModel,
    options: object,
    image: Image.Image,
    width: int,
    height: int,
    *,
    low_vram: bool = False,
    two_experts: bool = False,
    timestep_vae: bool = False,
) -> dict[str, object]:
    """The pipeline arguments for one request (no generator yet).

    ``image`` is an RGB PIL image; it is stretched to ``width`` x ``height`` (as Heratio's
    server does; the caller picks a size that keeps the image's aspect where the model allows
    it). ``two_experts``: the checkpoint is Wan 2.2 A14B. ``timestep_vae``: the LTX VAE is
    timestep-conditioned (LTX-Video 0.9.1 and later).
    """
    from PIL import Image

    family = descriptor.family
    kwargs: dict[str, object] = {
        "num_frames": int(getattr(options, "num_frames", None) or descriptor.default_frames),
        "height": height,
        "width": width,
        "output_type": "np",
    }
    if descriptor.takes_image:
        kwargs["image"] = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    if family == "svd":
        for key, default in SVD_DEFAULTS.items():
            kwargs[key] = _value(options, key, default)
        kwargs["fps"] = fps_of(descriptor, options)
        chunk = getattr(options, "decode_chunk_size", None)
        if chunk is None and low_vram:
            chunk = 2
        kwargs["decode_chunk_size"] = chunk  # None: diffusers decodes all frames at once
        return kwargs
    kwargs["prompt"] = getattr(options, "prompt", None) or ""
    negative = getattr(options, "negative_prompt", None)
    if negative:
        kwargs["negative_prompt"] = negative
    kwargs["num_inference_steps"] = int(_value(options, "num_inference_steps", 50))
    kwargs["guidance_scale"] = float(_value(options, "guidance_scale", GUIDANCE.get(family, 5.0)))
    if family == "cogvideox":
        kwargs["use_dynamic_cfg"] = bool(getattr(options, "use_dynamic_cfg", False))
    elif family == "wan":
        second = getattr(options, "guidance_scale_2", None)
        if two_experts and second is not None:
            kwargs["guidance_scale_2"] = float(second)
    elif family == "ltx":
        kwargs["frame_rate"] = fps_of(descriptor, options)
        for key, default in TIMESTEP_VAE_DECODE.items():
            value = getattr(options, key, None)
            if value is None and timestep_vae:
                value = default
            if value is not None:
                kwargs[key] = float(value)
    return kwargs
