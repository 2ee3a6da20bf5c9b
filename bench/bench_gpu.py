"""Image-to-video on a GPU: imagear's diffusers engine against each model's plain diffusers recipe.

For each model (svd, svd-xt, cogvideox-2b, cogvideox-5b-i2v, wan-2.1, wan-2.2, ltx-video) the
pipeline is built at full size from the published model configs, written out below, with random
weights: the compute is the same as with the real weights, and nothing is downloaded. Then, in
the same run, on the same pipeline, with the same seed, steps, size and frame count:

- reference: the recipe of the model's diffusers documentation: the pipeline moved to the
  device in the documented dtype and called with the documented arguments (frames as numpy);
- imagear: ``DiffusersEngine.use_pipeline(pipe)`` (its placement, offload and compile settings) and
  ``engine.generate(...)``: its call arguments, then the H.264 encode of the MP4 (included in
  its time; the reference writes no file).

Each side gets a warm-up call first (2 steps, same size, untimed), then ``--repeat`` timed
calls, of which the best is kept. The recipe runs first, on the plain pipeline, since imagear's
setup can change it (offload hooks, compiling). Each model prints one JSON line:
``{"model", "device", "dtype", "frames", "width", "height", "imagear_secs",
"imagear_pipeline_secs", "imagear_encode_secs", "reference_secs", "peak_vram_gb", ...}``
(imagear's time split into the pipeline call and the host's part: frames to 8 bits, the scan,
the H.264 encode; peak_vram_gb: imagear's run; reference_peak_vram_gb: the recipe's;
``finite``: no NaN or infinity in either output). With random weights the frames are noise:
this measures speed and memory, not quality.

    # the real thing (one GPU; about a minute per model and step count, much more at 50 steps)
    PYTHONPATH=src python bench/bench_gpu.py --device cuda --steps 4 --out /tmp/gpu-clips
    # every family at tiny size on the CPU, in a minute or two (CI-sized)
    PYTHONPATH=src python bench/bench_gpu.py --tiny --device cpu --out /tmp/tiny-clips

Full size needs the memory of the model (Wan 2.1 14B: ~30 GB of bf16 weights plus the text
encoder); ``--models`` picks some, ``--steps`` / ``--frames`` shorten a run, ``--low-vram`` runs
imagear in its low-VRAM mode, ``--compile MODE`` compiles imagear's denoiser (its first, untimed
call then includes the compile: reported as ``compile_warmup_secs``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("svd", "svd-xt", "cogvideox-2b", "cogvideox-5b-i2v", "wan-2.1", "wan-2.2", "ltx-video")
PROMPT = (
    "An old harbour photograph comes to life: ships rock gently on the water, gulls drift "
    "across the sky, the camera slowly pushes in."
)
NEGATIVE = "blurry, low quality, distorted, static"


# -- the published configs, at full size ---------------------------------------------------------


def _t5_xxl(torch: Any, umt5: bool) -> Any:
    """google/t5-v1_1-xxl (CogVideoX, LTX) or google/umt5-xxl (Wan): the encoder only."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (
        (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    )
    config = config_class(
        vocab_size=256384 if umt5 else 32128,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_layers=24,
        num_heads=64,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
        is_encoder_decoder=False,
    )
    return model_class(config)


def _clip_vit_h(projection: bool) -> Any:
    """laion CLIP ViT-H/14 vision tower (SVD: with projection to 1024; Wan 2.1: without)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=1280,
        intermediate_size=5120,
        num_attention_heads=16,
        num_hidden_layers=32,
        patch_size=14,
        image_size=224,
        projection_dim=1024,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )
    return CLIPVisionModelWithProjection(config) if projection else CLIPVisionModel(config)


def _tokenizer(folder: Path, max_length: int) -> Any:
    """A small T5 tokenizer (the prompt only needs ids; the sequence is padded to
    ``max_length`` tokens as with the real one, so the text encoder does the same work)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_pipelines import write_tokenizer

    return write_tokenizer(folder, fast=True, max_length=max_length)


@contextmanager
def _on(torch: Any, device: Any, dtype: Any) -> Iterator[None]:
    """Modules built inside are allocated on ``device`` in ``dtype`` (no fp32 copy first)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def _svd(torch: Any, diffusers: Any, on: Any, frames: int, workdir: Path) -> Any:
    from transformers import CLIPImageProcessor

    with on():
        unet = diffusers.UNetSpatioTemporalConditionModel(sample_size=96, num_frames=frames)
        vae = diffusers.AutoencoderKLTemporalDecoder(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
            sample_size=768,
        )
        image_encoder = _clip_vit_h(projection=True)
    scheduler = diffusers.EulerDiscreteScheduler(
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
        use_karras_sigmas=True,
    )
    return diffusers.StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )


def _cogvideox(torch: Any, diffusers: Any, on: Any, image: bool, workdir: Path) -> Any:
    with on():
        transformer = diffusers.CogVideoXTransformer3DModel(
            num_attention_heads=48 if image else 30,
            num_layers=42 if image else 30,
            in_channels=32 if image else 16,
            use_rotary_positional_embeddings=image,
            use_learned_positional_embeddings=image,
        )
        vae = diffusers.AutoencoderKLCogVideoX(scaling_factor=0.7 if image else 1.15258426)
        text_encoder = _t5_xxl(torch, umt5=False)
    config = {
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
    parts = {
        "tokenizer": _tokenizer(workdir / "tokenizer", 226),
        "text_encoder": text_encoder,
        "vae": vae,
        "transformer": transformer,
    }
    if image:
        scheduler = diffusers.CogVideoXDPMScheduler(snr_shift_scale=1.0, **config)
        return diffusers.CogVideoXImageToVideoPipeline(scheduler=scheduler, **parts)
    scheduler = diffusers.CogVideoXDDIMScheduler(snr_shift_scale=3.0, **config)
    return diffusers.CogVideoXPipeline(scheduler=scheduler, **parts)


def _wan(torch: Any, diffusers: Any, on: Any, variant: str, workdir: Path) -> Any:
    from transformers import CLIPImageProcessor

    extra: dict[str, Any] = {}
    with on(torch.float32):  # Wan's VAE and CLIP image encoder run in fp32 (diffusers' docs)
        if variant == "2.2":  # Wan2.2-TI2V-5B
            vae = diffusers.AutoencoderKLWan(
                base_dim=160,
                decoder_base_dim=256,
                z_dim=48,
                dim_mult=[1, 2, 4, 4],
                num_res_blocks=2,
                temperal_downsample=[False, True, True],
                in_channels=12,
                out_channels=12,
                patch_size=2,
                is_residual=True,
                scale_factor_spatial=16,
                scale_factor_temporal=4,
                latents_mean=[0.0] * 48,
                latents_std=[1.0] * 48,
            )
        else:  # Wan2.1-I2V-14B-480P: the class defaults are its VAE
            vae = diffusers.AutoencoderKLWan()
            extra["image_encoder"] = _clip_vit_h(projection=False)
    with on():
        if variant == "2.2":
            transformer = diffusers.WanTransformer3DModel(
                num_attention_heads=24,
                attention_head_dim=128,
                in_channels=48,
                out_channels=48,
                ffn_dim=14336,
                num_layers=30,
            )
            extra["expand_timesteps"] = True
        else:
            transformer = diffusers.WanTransformer3DModel(
                in_channels=36, image_dim=1280, added_kv_proj_dim=5120
            )
            extra["image_processor"] = CLIPImageProcessor(crop_size=224, size=224)
        text_encoder = _t5_xxl(torch, umt5=True)
    scheduler = diffusers.UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=5.0 if variant == "2.2" else 3.0,
        num_train_timesteps=1000,
    )
    return diffusers.WanImageToVideoPipeline(
        tokenizer=_tokenizer(workdir / "tokenizer", 512),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=transformer,
        **extra,
    )


def _ltx(torch: Any, diffusers: Any, on: Any, workdir: Path) -> Any:
    with on():
        vae = diffusers.AutoencoderKLLTXVideo()  # class defaults: LTX-Video 0.9's VAE
        transformer = diffusers.LTXVideoTransformer3DModel()  # class defaults: LTX-Video 2B
        text_encoder = _t5_xxl(torch, umt5=False)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=1024,
        base_shift=0.95,
        max_image_seq_len=4096,
        max_shift=2.05,
        shift_terminal=0.1,
        use_dynamic_shifting=True,
    )
    return diffusers.LTXImageToVideoPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_tokenizer(workdir / "tokenizer", 128),
        transformer=transformer,
    )


def full_pipeline(name: str, device: Any, dtype: Any, frames: int, workdir: Path) -> Any:
    """The model's pipeline at full size, random weights, built directly on ``device``
    (``device="meta"`` builds it without memory: parameter counts only)."""
    import diffusers
    import torch

    def on(kind: Any = dtype) -> Any:
        return _on(torch, device, kind)

    torch.manual_seed(0)
    if name in ("svd", "svd-xt"):
        return _svd(torch, diffusers, on, frames, workdir)
    if name.startswith("cogvideox"):
        return _cogvideox(torch, diffusers, on, name == "cogvideox-5b-i2v", workdir)
    if name.startswith("wan"):
        return _wan(torch, diffusers, on, name.removeprefix("wan-"), workdir)
    return _ltx(torch, diffusers, on, workdir)


def tiny_pipeline(name: str, workdir: Path) -> Any:
    """The tests' tiny pipeline of the model (tests/tiny_pipelines.py), loaded from a folder."""
    import diffusers

    sys.path.insert(0, str(ROOT / "tests"))
    from imagear.engines.diffusers_weights import pipeline_class_name
    from imagear.models import get_model
    from tiny_pipelines import build

    folder = build(name, workdir / name)
    pipeline_class = getattr(diffusers, pipeline_class_name(get_model(name)))
    return pipeline_class.from_pretrained(folder, local_files_only=True)


# -- the two sides ----------------------------------------------------------------------------------


def reference_kwargs(
    name: str, image: Any, width: int, height: int, frames: int, steps: int
) -> dict[str, Any]:
    """The documented call of each model (diffusers' pipeline docs and the model cards), with
    the benchmark's size, frames and steps made explicit."""
    resized = image.resize((width, height))
    size = {"height": height, "width": width, "num_frames": frames, "num_inference_steps": steps}
    if name in ("svd", "svd-xt"):  # pipe(image, decode_chunk_size=8, generator=generator)
        return {"image": resized, "decode_chunk_size": 8, "fps": 7, "motion_bucket_id": 127,
                "noise_aug_strength": 0.02, **size}  # fmt: skip
    if name == "cogvideox-2b":
        return {"prompt": PROMPT, "num_videos_per_prompt": 1, "guidance_scale": 6, **size}
    if name == "cogvideox-5b-i2v":
        return {"prompt": PROMPT, "image": resized, "num_videos_per_prompt": 1,
                "guidance_scale": 6, "use_dynamic_cfg": True, **size}  # fmt: skip
    if name.startswith("wan"):
        return {"image": resized, "prompt": PROMPT, "negative_prompt": NEGATIVE,
                "guidance_scale": 5.0, **size}  # fmt: skip
    return {"image": resized, "prompt": PROMPT, "negative_prompt": NEGATIVE, **size}  # ltx


def _sync(torch: Any, device: Any, reset_peak: bool = False) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if reset_peak:
            torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(torch: Any, device: Any) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 1024**3, 2)


def run_reference(
    torch: Any, pipe: Any, device: Any, kwargs: dict[str, Any], seed: int
) -> tuple[float, bool]:
    import numpy as np

    generator = torch.Generator(device="cuda" if device.type == "cuda" else "cpu").manual_seed(seed)
    _sync(torch, device)
    started = time.perf_counter()
    frames = pipe(**kwargs, generator=generator, output_type="np").frames
    _sync(torch, device)
    secs = time.perf_counter() - started
    return secs, bool(np.isfinite(np.asarray(frames)).all())


def imagear_options(desc: Any, width: int, height: int, frames: int, steps: int, seed: int) -> Any:
    values: dict[str, Any] = {"num_frames": frames, "width": width, "height": height, "seed": seed}
    fields = desc.Options.model_fields
    if desc.uses_prompt:
        values["prompt"] = PROMPT
    if "negative_prompt" in fields and desc.family in ("wan", "ltx"):
        values["negative_prompt"] = NEGATIVE
    if "num_inference_steps" in fields:
        values["num_inference_steps"] = steps
    if "decode_chunk_size" in fields:
        values["decode_chunk_size"] = None  # imagear's own choice
    return desc.Options(**values)


def _build(name: str, args: argparse.Namespace, device: Any, workdir: Path) -> tuple[Any, ...]:
    """(pipeline on the device, descriptor, frames, steps, dtype) for the run."""
    import torch

    from imagear.engines.diffusers_weights import cuda_dtype_name
    from imagear.models import get_model

    if args.tiny:
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_pipelines import TINY_FRAMES, tiny_descriptors

        desc = tiny_descriptors()[name]()
        frames = args.frames or TINY_FRAMES.get(name, 2)
        pipe = tiny_pipeline(name, workdir).to(device)
        return pipe, desc, frames, args.steps or 2, torch.float32
    desc = get_model(name)
    frames = args.frames or desc.default_frames
    steps = args.steps or int(desc.Options.model_fields["num_inference_steps"].default)
    dtype = getattr(torch, cuda_dtype_name(desc)) if device.type == "cuda" else torch.float32
    pipe = full_pipeline(name, device, dtype, frames, workdir).to(device)
    return pipe, desc, frames, steps, dtype


def bench_model(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch
    from PIL import Image

    from imagear.engines.base import EngineConfig
    from imagear.engines.diffusers import DiffusersEngine
    from imagear.engines.diffusers_setup import quiet
    from imagear.media import sample_image_path

    device = torch.device(args.device)
    with quiet(verbose=False):  # the libraries' build and load progress bars
        pipe, desc, frames, steps, dtype = _build(name, args, device, workdir)
    pipe.set_progress_bar_config(disable=True)
    width, height = (32, 32) if args.tiny else (desc.native_width, desc.native_height)
    image = Image.open(args.image or sample_image_path()).convert("RGB")
    kwargs = reference_kwargs(name, image, width, height, frames, steps)

    out = Path(args.out) / f"{name}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    # The recipe first, on the plain pipeline (imagear's setup changes it: channels-last, offload).
    finite = True
    reference_secs: list[float] = []
    reference_peak = None
    if not args.skip_reference:
        run_reference(torch, pipe, device, {**kwargs, "num_inference_steps": 2}, args.seed)
        for _ in range(args.repeat):
            _sync(torch, device, reset_peak=True)
            secs, ok = run_reference(torch, pipe, device, kwargs, args.seed)
            reference_secs.append(secs)
            reference_peak = _peak_gb(torch, device)
            finite = finite and ok
    engine = DiffusersEngine(
        desc,
        EngineConfig(device=str(device), low_vram=args.low_vram, verbose=False,
                     torch_compile=args.compile or ""),
    )  # fmt: skip
    engine.use_pipeline(
        pipe, source="tests/tiny_pipelines.py" if args.tiny else "the published configs"
    )
    options = imagear_options(desc, width, height, frames, steps, args.seed)
    warm = options.model_copy(update={"num_inference_steps": 2}) if steps > 2 else options
    started = time.perf_counter()
    engine.generate(image, options if args.compile else warm, out)  # warm-up (and compile)
    compile_secs = round(time.perf_counter() - started, 2) if args.compile else None
    imagear_secs: list[float] = []
    split: dict[str, Any] = {}
    peak = None
    for _ in range(args.repeat):
        _sync(torch, device, reset_peak=True)
        result = engine.generate(image, options, out)
        if not imagear_secs or result.generation_secs < min(imagear_secs):
            split = {k: result.extra.get(k) for k in ("pipeline_secs", "encode_secs")}
        imagear_secs.append(result.generation_secs)
        peak = _peak_gb(torch, device)
        finite = finite and bool(result.extra.get("finite", True))
    line: dict[str, Any] = {
        "model": name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "frames": frames,
        "width": width,
        "height": height,
        "imagear_secs": round(min(imagear_secs), 3),
        "imagear_pipeline_secs": split.get("pipeline_secs"),
        "imagear_encode_secs": split.get("encode_secs"),
        "reference_secs": round(min(reference_secs), 3) if reference_secs else None,
        "peak_vram_gb": peak,
        "reference_peak_vram_gb": reference_peak,
        "steps": steps,
        "finite": finite,
        "mp4": str(out),
    }
    if compile_secs is not None:
        line["compile_warmup_secs"] = compile_secs
    engine.close()
    del pipe
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiny", action="store_true", help="tiny pipelines (tests/) instead of full size"
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "imagear-bench-gpu"),
                        help="folder for {model}.mp4")  # fmt: skip
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=None, help="default: each model's own")
    parser.add_argument("--frames", type=int, default=None, help="default: each model's own")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per side (best kept)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--image", default=None, help="source image (default: the bundled sample)")
    parser.add_argument("--low-vram", action="store_true", help="imagear in low-VRAM mode")
    parser.add_argument("--compile", default=None, help="torch.compile mode for imagear")
    parser.add_argument("--skip-reference", action="store_true", help="time imagear only")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device here: use --tiny --device cpu for the CPU run")
    if args.tiny:  # tiny tensors: one thread beats several spinning on a shared box
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="imagear-bench-") as tmp:
        for name in args.models:
            print(json.dumps(bench_model(name, args, Path(tmp) / name)), flush=True)
            import gc

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
