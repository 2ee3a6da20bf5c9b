"""Tiny, randomly initialised pipelines of every diffusers family imagear runs, built offline.

Each builder writes a diffusers folder (``model_index.json`` plus one subfolder per component,
fp32 safetensors) that ``<Pipeline>.from_pretrained(folder, local_files_only=True)`` loads on a
CPU in about a second. The classes and the folder layout are the real ones (the same component
classes, scheduler classes and tokenizer files as the published checkpoints); only the sizes are
tiny, so the output is noise, which is all the engine tests need. Nothing is downloaded: the text
encoders are built from configs and the tokenizer is a sentencepiece model trained here on a few
words.

Layouts, as published:

- ``cogvideox_t2v`` (THUDM/CogVideoX-2b): CogVideoXPipeline, T5 tokenizer as ``spiece.model``
  only (no ``tokenizer.json``), so loading it needs ``sentencepiece`` and ``protobuf``.
- ``cogvideox_i2v`` (THUDM/CogVideoX-5b-I2V): CogVideoXImageToVideoPipeline, learned positional
  embeddings for one fixed size (so the tiny model, like the real one, takes one size only).
- ``wan21`` (Wan-AI/Wan2.1-I2V-14B-480P-Diffusers): WanImageToVideoPipeline with a CLIP image
  encoder; the prompt is cleaned with ``ftfy``.
- ``wan22`` (Wan-AI/Wan2.2-TI2V-5B-Diffusers): WanImageToVideoPipeline, ``expand_timesteps``,
  the 48-channel VAE with 16x spatial compression, no image encoder.
- ``wan22_a14b`` (Wan-AI/Wan2.2-I2V-A14B-Diffusers): two experts (``transformer`` and
  ``transformer_2``) switched at ``boundary_ratio``, no image encoder.
- ``ltx`` (Lightricks/LTX-Video): LTXImageToVideoPipeline.

Sizes that run: CogVideoX 32x32 (I2V: only 32x32), 9 frames; Wan 2.1 / A14B multiples of 16,
Wan 2.2 TI2V multiples of 32, 5 frames and up (4N+1); LTX multiples of 32, 9 frames (8N+1).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The tokenizer's training text: a few words are enough for a working unigram model.
WORDS = (
    "a slow pan over an old map of the harbour with ships and a lighthouse at dusk the camera "
    "moves gently across an archive photograph of people walking in a street light flickers"
)
TEXT_DIM = 32  # d_model of the tiny T5 / UMT5 text encoders


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def _sentencepiece_model() -> bytes:
    """A tiny unigram sentencepiece model (pad 0, eos 1, unk 2, as T5's), trained offline."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([WORDS] * 20),
        model_writer=out,
        vocab_size=40,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return out.getvalue()


def write_tokenizer(folder: Path, *, fast: bool, max_length: int) -> Any:
    """Write a T5 tokenizer folder and return the tokenizer loaded from it.

    ``fast=False`` leaves ``spiece.model`` + ``tokenizer_config.json`` only, as the CogVideoX
    checkpoints ship it (transformers needs sentencepiece and protobuf to read it);
    ``fast=True`` adds ``tokenizer.json`` as the Wan and LTX checkpoints do.
    """
    from transformers import T5Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(_sentencepiece_model())
    config = {
        "tokenizer_class": "T5Tokenizer",
        "extra_ids": 0,
        "model_max_length": max_length,
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = T5Tokenizer.from_pretrained(folder)
    if fast:
        tokenizer.save_pretrained(folder)
    return tokenizer


def _text_encoder(kind: str, vocab_size: int) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (
        (UMT5Config, UMT5EncoderModel) if kind == "umt5" else (T5Config, T5EncoderModel)
    )
    config = config_class(
        vocab_size=vocab_size,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
    )
    _seed()
    return model_class(config)


def _save(pipe: Any, folder: Path, tokenizer_dir: Path) -> Path:
    """save_pretrained, then put the tokenizer folder back exactly as it was written."""
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    shutil.rmtree(folder / "tokenizer")
    shutil.copytree(tokenizer_dir, folder / "tokenizer")
    shutil.rmtree(tokenizer_dir)
    return folder


def _cogvideox_vae() -> Any:
    from diffusers import AutoencoderKLCogVideoX

    _seed()
    return AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )


def build_cogvideox(folder: Path, *, image: bool) -> Path:
    """CogVideoX-2b (``image=False``, text-to-video) or CogVideoX-5b-I2V (``image=True``)."""
    from diffusers import (
        CogVideoXDDIMScheduler,
        CogVideoXDPMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    staging = folder.parent / f".{folder.name}-tokenizer"
    tokenizer = write_tokenizer(staging, fast=False, max_length=226)
    text_encoder = _text_encoder("t5", len(tokenizer))
    _seed()
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=8 if image else 4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=TEXT_DIM,
        num_layers=1,
        sample_width=4,  # latent 4x4 -> 32x32 pixels
        sample_height=4,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        # 2b: fixed sin-cos embeddings; 5b-I2V: RoPE plus learned embeddings for one size.
        use_rotary_positional_embeddings=image,
        use_learned_positional_embeddings=image,
    )
    scheduler_config = {
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "clip_sample": False,
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": True,
        "set_alpha_to_one": True,
        "timestep_spacing": "trailing",
        "steps_offset": 0,
    }
    components: dict[str, Any] = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _cogvideox_vae(),
        "transformer": transformer,
    }
    if image:
        components["scheduler"] = CogVideoXDPMScheduler(snr_shift_scale=1.0, **scheduler_config)
        pipe: Any = CogVideoXImageToVideoPipeline(**components)
    else:
        components["scheduler"] = CogVideoXDDIMScheduler(snr_shift_scale=3.0, **scheduler_config)
        pipe = CogVideoXPipeline(**components)
    return _save(pipe, folder, staging)


def _wan_vae(*, ti2v: bool) -> Any:
    from diffusers import AutoencoderKLWan

    _seed()
    if ti2v:  # Wan 2.2's 48-channel VAE: 16x spatial, 4x temporal
        return AutoencoderKLWan(
            base_dim=3,
            z_dim=48,
            in_channels=12,
            out_channels=12,
            is_residual=True,
            patch_size=2,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            scale_factor_spatial=16,
            scale_factor_temporal=4,
            temperal_downsample=[False, True, True],
        )
    return AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )


def _wan_transformer(in_channels: int, out_channels: int, image_dim: int | None) -> Any:
    from diffusers import WanTransformer3DModel

    _seed()
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=TEXT_DIM,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=64,
        image_dim=image_dim,
        added_kv_proj_dim=24 if image_dim else None,  # = heads x head dim, as in Wan 2.1 I2V
    )


def build_wan(folder: Path, *, variant: str) -> Path:
    """Wan image-to-video: ``variant`` is "2.1" (CLIP image encoder), "2.2" (TI2V-5B layout:
    expand_timesteps, 48-channel VAE) or "2.2-a14b" (two experts, boundary_ratio)."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    staging = folder.parent / f".{folder.name}-tokenizer"
    tokenizer = write_tokenizer(staging, fast=True, max_length=512)
    components: dict[str, Any] = {
        "tokenizer": tokenizer,
        "text_encoder": _text_encoder("umt5", len(tokenizer)),
        "vae": _wan_vae(ti2v=variant == "2.2"),
        "scheduler": UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
    }
    if variant == "2.1":
        _seed()
        components["image_encoder"] = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=16,
                intermediate_size=16,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=32,
                patch_size=8,
            )
        )
        components["image_processor"] = CLIPImageProcessor(crop_size=32, size=32)
        components["transformer"] = _wan_transformer(36, 16, image_dim=16)
    elif variant == "2.2":
        components["transformer"] = _wan_transformer(48, 48, image_dim=None)
        components["expand_timesteps"] = True
    elif variant == "2.2-a14b":
        components["transformer"] = _wan_transformer(36, 16, image_dim=None)
        components["transformer_2"] = _wan_transformer(36, 16, image_dim=None)
        components["boundary_ratio"] = 0.9
    else:
        raise ValueError(f"unknown Wan variant {variant!r}")
    pipe = WanImageToVideoPipeline(**components)
    _save(pipe, folder, staging)
    if variant == "2.1":
        # Without torchvision, transformers 5 swaps in CLIPImageProcessorPil and records that
        # name; the published checkpoint names CLIPImageProcessor, so the folder says so too.
        index_path = folder / "model_index.json"
        index = json.loads(index_path.read_text())
        index["image_processor"] = ["transformers", "CLIPImageProcessor"]
        index_path.write_text(json.dumps(index, indent=2))
    return folder


def build_ltx(folder: Path) -> Path:
    """LTX-Video image-to-video (LTXImageToVideoPipeline)."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    staging = folder.parent / f".{folder.name}-tokenizer"
    tokenizer = write_tokenizer(staging, fast=True, max_length=128)
    text_encoder = _text_encoder("t5", len(tokenizer))
    _seed()
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    _seed()
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=1024,
        base_shift=0.95,
        max_image_seq_len=4096,
        max_shift=2.05,
        shift_terminal=0.1,
        use_dynamic_shifting=True,
    )
    pipe = LTXImageToVideoPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    return _save(pipe, folder, staging)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "cogvideox-2b": lambda folder: build_cogvideox(folder, image=False),
    "cogvideox-5b-i2v": lambda folder: build_cogvideox(folder, image=True),
    "wan-2.1": lambda folder: build_wan(folder, variant="2.1"),
    "wan-2.2": lambda folder: build_wan(folder, variant="2.2"),
    "wan-2.2-a14b": lambda folder: build_wan(folder, variant="2.2-a14b"),
    "ltx-video": build_ltx,
}
"""Model name -> builder of its tiny pipeline (svd: tests/tiny_svd.py)."""


def build(name: str, folder: Path) -> Path:
    """Build the tiny pipeline of model ``name`` into ``folder`` (svd and svd-xt included)."""
    if name in ("svd", "svd-xt"):
        from tiny_svd import build_tiny_svd

        return build_tiny_svd(folder)
    return BUILDERS[name](folder)


# -- descriptors for the tiny pipelines --------------------------------------------------------
#
# The real descriptors (same name, family, hf_repo, pipeline, dtype, options, frames rule),
# with sizes a tiny model runs at: tiny native sizes (so default sizes are tiny too) and small
# minimum sides. Registered with ``register(cls, replace=True)`` they take the real models'
# places in the registry, so the CLI and the server resolve them by the real names.


def tiny_descriptors() -> dict[str, type]:
    """Model name -> tiny descriptor class (svd's allows 2 frames: 14 take ~10 s on a CPU)."""
    from pydantic import Field

    from imagear.models.cogvideox import CogVideoX2B, CogVideoX5BI2V
    from imagear.models.ltx import LTXVideo
    from imagear.models.svd import SVD, SVDXT, SVDOptions
    from imagear.models.wan import Wan21
    from imagear.models.wan22 import Wan22, Wan22A14B

    class TinySVDOptions(SVDOptions):
        num_frames: int = Field(2, ge=2, le=25)

    class TinySVD(SVD):
        native_width = native_height = 32
        min_side, valid_frames, frames_rule, default_frames = 16, None, "from 2 to 25", 2
        Options = TinySVDOptions

    class TinySVDXT(SVDXT):  # the same tiny UNet: svd-xt differs only in its default frames
        native_width = native_height = 32
        min_side, valid_frames, frames_rule, default_frames = 16, None, "from 2 to 25", 2
        Options = TinySVDOptions

    class TinyCogVideoX2B(CogVideoX2B):
        native_width = native_height = 32  # fixed size: only 32x32

    class TinyCogVideoX5BI2V(CogVideoX5BI2V):
        native_width = native_height = 32

    class TinyWan21(Wan21):
        native_width = native_height = 32
        min_side = 16

    class TinyWan22(Wan22):
        native_width = native_height = 32
        min_side = 32

    class TinyWan22A14B(Wan22A14B):
        native_width = native_height = 32
        min_side = 16

    class TinyLTX(LTXVideo):
        native_width = native_height = 32
        min_side = 32

    classes: list[type] = [
        TinySVD,
        TinySVDXT,
        TinyCogVideoX2B,
        TinyCogVideoX5BI2V,
        TinyWan21,
        TinyWan22,
        TinyWan22A14B,
        TinyLTX,
    ]
    return {cls.name: cls for cls in classes}  # type: ignore[attr-defined]


# Per model: the smallest frame count its real rule allows, and model options for a fast run.
# (svd-xt is svd's pipeline with other defaults: the tests run svd only.)
TINY_FRAMES = {
    "svd": 2,
    "cogvideox-2b": 9,
    "cogvideox-5b-i2v": 9,
    "wan-2.1": 5,
    "wan-2.2": 5,
    "wan-2.2-a14b": 5,
    "ltx-video": 9,
}
TINY_STEPS = {"svd": {"num_inference_steps": 2, "max_guidance_scale": 1.0}}
DEFAULT_STEPS = {"num_inference_steps": 2}


def tiny_extra(name: str) -> dict[str, object]:
    """Model options that keep a tiny run fast (2 steps; SVD without guidance)."""
    return dict(TINY_STEPS.get(name, DEFAULT_STEPS))


_CACHE: Path | None = None


def built(name: str) -> Path:
    """The tiny pipeline of model ``name``, built once per test process (then reused)."""
    import atexit
    import tempfile

    global _CACHE
    if _CACHE is None:
        _CACHE = Path(tempfile.mkdtemp(prefix="imagear-tiny-"))
        atexit.register(shutil.rmtree, _CACHE, True)
    folder = _CACHE / name
    if not (folder / "model_index.json").is_file():
        build(name, folder)
    return folder


def install(models_dir: Path, *names: str) -> Path:
    """Link the tiny pipelines of ``names`` into ``models_dir`` as ``models_dir/{name}``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = models_dir / name
        if link.is_symlink():
            link.unlink()
        if not link.exists():
            link.symlink_to(built(name), target_is_directory=True)
    return models_dir
