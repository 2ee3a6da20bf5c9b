"""Build a tiny, randomly initialised Stable Video Diffusion pipeline and save it to a folder.

The component sizes follow diffusers' own fast tests for StableVideoDiffusionPipeline: every
part is real (same classes, same configs on disk), only tiny, so the folder can be loaded by
``StableVideoDiffusionPipeline.from_pretrained(folder)`` offline on a CPU in about a second.
The output is noise, which is all the engine tests need. torch, diffusers and transformers are
required; callers should ``pytest.importorskip`` them first.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_svd(folder: Path) -> Path:
    """Write a tiny SVD pipeline to ``folder`` (created if needed) and return the folder.

    The result is a diffusers layout (``model_index.json`` plus one subfolder per component)
    with fp32 safetensors weights and no ``fp16`` variant files. Frames must be multiples of 2
    in height and width (the tiny VAE downsamples once); 64x64 and 2-3 frames run in well under
    a second per step on a CPU.
    """
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    # Fixed seeds: the same weights every time, so seeded outputs are comparable across runs.
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,  # 3 time ids x addition_time_embed_dim
        addition_time_embed_dim=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        trained_betas=None,
        use_karras_sigmas=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
    )
    torch.manual_seed(0)
    # 224 / patch 14: for a PIL input the pipeline always resizes to 224x224 before CLIP (the
    # diffusers tests use 32 / patch 1 because they pass tensors). 16x16 patches stay cheap.
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=5,
            num_attention_heads=4,
            image_size=224,
            intermediate_size=37,
            patch_size=14,
        )
    )
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)

    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=feature_extractor,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder, safe_serialization=True)  # type: ignore[attr-defined]
    return folder


if __name__ == "__main__":  # pragma: no cover - manual helper
    import sys

    print(build_tiny_svd(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-svd")))
