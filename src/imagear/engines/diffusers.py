"""The diffusers engine: Stable Video Diffusion, CogVideoX and Wan 2.1, run in-process.

torch and diffusers are imported inside functions only, so ``import imagear.engines.diffusers``
is cheap and works without the ``diffusers`` extra; a missing extra surfaces as
:class:`~imagear.errors.EngineUnavailable` (naming ``pip install 'imagear[diffusers]'``) when
the engine first loads. Where weights are looked up is documented in
:mod:`imagear.engines.diffusers_weights`; every ``from_pretrained`` call passes
``local_files_only=True``, so nothing is ever downloaded at request time.

Pipelines and dtypes on CUDA (on a CPU, or any other device, everything runs in float32):

- svd, svd-xt: ``StableVideoDiffusionPipeline`` in float16, with ``variant="fp16"`` when the
  folder has fp16 weight files.
- cogvideox-2b (text-to-video: the image is ignored): ``CogVideoXPipeline`` in float16.
- cogvideox-5b-i2v: ``CogVideoXImageToVideoPipeline`` in bfloat16 (float16 gives black frames).
- wan-2.1: ``WanImageToVideoPipeline`` in bfloat16, its VAE (``AutoencoderKLWan``) and image
  encoder (``CLIPVisionModel``) in float32, as diffusers' Wan docs recommend.

The descriptor's ``pipeline`` and ``torch_dtype`` attributes, when set, override these.

``low_vram``: SVD gets ``unet.enable_forward_chunking()`` and a default decode chunk of 2
frames; CogVideoX and Wan get VAE tiling and slicing. On CUDA (or another accelerator) the
pipeline is then offloaded with ``enable_model_cpu_offload()`` instead of ``.to(device)``; Wan on
CUDA gets leaf-level group offload instead, since whole-model offload cannot fit its 14B
transformer. On a CPU there is nothing to offload to (``enable_model_cpu_offload`` needs an
accelerator), so the pipeline just stays on the CPU.

The first frame: SVD, CogVideoX-I2V and Wan are conditioned on the source image, so their first
frame already shows it (through the VAE). The engine does NOT paste the resized source over frame
0: decoded frames differ slightly from the source in colour and sharpness, and a pasted frame 0
would show as a visible pop, every time the clip loops.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagear.engines.base import EngineConfig, GenerationResult
from imagear.engines.diffusers_weights import (
    DiffusersModel,
    cuda_dtype_name,
    dtype_kwarg,
    find_weights,
    has_variant,
    native_size,
    pipeline_class_name,
    weight_dirs,
)
from imagear.engines.runtime import free_accelerator_memory
from imagear.errors import EngineUnavailable, GenerationFailed, ImagearError, OutOfGpuMemory

__all__ = ["INSTALL_HINT", "DiffusersEngine", "DiffusersModel", "find_weights", "weight_dirs"]

INSTALL_HINT = "Install it with: pip install 'imagear[diffusers]'"

# SVD knobs, as the model authors and diffusers default them.
_SVD_DEFAULTS = {
    "motion_bucket_id": 127,
    "noise_aug_strength": 0.02,
    "num_inference_steps": 25,
    "min_guidance_scale": 1.0,
    "max_guidance_scale": 3.0,
}


def _import_torch_diffusers() -> tuple[Any, Any]:
    try:
        import diffusers
        import torch
    except ImportError as exc:
        raise EngineUnavailable(
            f"The diffusers engine needs torch and diffusers, which are not installed ({exc}). "
            f"{INSTALL_HINT}.",
        ) from exc
    return torch, diffusers


def _pick_device(torch: Any, wanted: str | None) -> Any:
    if wanted:
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _is_oom(torch: Any, exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or a RuntimeError saying "out of memory" (other backends)."""
    candidates = (
        getattr(torch, "OutOfMemoryError", None),
        getattr(torch.cuda, "OutOfMemoryError", None),
    )
    oom_types = tuple(t for t in candidates if isinstance(t, type))
    if oom_types and isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _uint8_frames(frames: Any) -> Iterator[Any]:
    """Yield HxWx3 uint8 arrays from a pipeline's ``frames`` (an np batch or lists of PIL)."""
    import numpy as np

    for frame in frames[0]:  # one video per request
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8:
                frame = (np.clip(frame, 0.0, 1.0) * 255.0).round().astype(np.uint8)
            yield frame
        else:  # a PIL image
            yield np.asarray(frame.convert("RGB"))


class DiffusersEngine:
    """One diffusers model, loaded on first use and kept in memory until :meth:`close`.

    ``descriptor`` is a model descriptor (class or instance: name, family, hf_repo, takes_image,
    uses_prompt, native_fps, default_frames); ``config`` says where weights live, the device and
    low-VRAM mode. Callers run one generation at a time, but a lock serialises load and generate
    anyway: a diffusers pipeline must never run from two threads at once.
    """

    def __init__(self, descriptor: DiffusersModel, config: EngineConfig | None = None) -> None:
        self.descriptor = descriptor
        self.config = config if config is not None else EngineConfig()
        self.name: str = descriptor.name
        self.source: str | None = None  # where the weights were loaded from, once loaded
        self._pipe: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------------

    def loaded(self) -> bool:
        """True when the pipeline is in memory."""
        return self._pipe is not None

    def load(self) -> float:
        """Load the pipeline if needed; return the seconds it took (0.0 when already loaded).

        Raises EngineUnavailable (no torch/diffusers, no weights, unreadable weights) or
        OutOfGpuMemory (the model does not fit on the device).
        """
        with self._lock:
            if self._pipe is not None:
                return 0.0
            started = time.perf_counter()
            torch, diffusers = _import_torch_diffusers()
            folder, source = find_weights(self.descriptor, self.config.models_dir)
            device = _pick_device(torch, self.config.device)
            on_cuda = device.type == "cuda"
            dtype = getattr(torch, cuda_dtype_name(self.descriptor)) if on_cuda else torch.float32
            try:
                pipe = self._from_pretrained(torch, diffusers, folder, dtype, on_cuda)
                pipe.set_progress_bar_config(disable=True)  # services never print
                self._place(pipe, device)
            except ImagearError:
                raise
            except Exception as exc:
                oom = _is_oom(torch, exc)
                free_accelerator_memory()
                if oom:
                    raise OutOfGpuMemory(
                        f"Loading model '{self.name}' ran out of GPU memory on {device}."
                    ) from exc
                raise EngineUnavailable(
                    f"Model '{self.name}' could not be loaded from {source}: {exc}",
                    advice=(
                        "The weights may be incomplete or for another diffusers version: fetch "
                        f"them again with `huggingface-cli download {self.descriptor.hf_repo}`."
                    ),
                ) from exc
            self._pipe, self._device, self._dtype, self.source = pipe, device, dtype, source
            return time.perf_counter() - started

    def warmup(self) -> float:
        """Load now rather than on the first request (the first call after load is slow)."""
        return self.load()

    def close(self) -> None:
        """Drop the pipeline and give its memory back. Safe to call twice."""
        with self._lock:
            if self._pipe is None:
                return
            self._pipe = None
            self.source = None
            free_accelerator_memory()

    # -- loading -----------------------------------------------------------------------------

    def _from_pretrained(
        self, torch: Any, diffusers: Any, folder: Path, dtype: Any, on_cuda: bool
    ) -> Any:
        class_name = pipeline_class_name(self.descriptor)
        pipeline_class = getattr(diffusers, class_name, None)
        if pipeline_class is None:
            raise EngineUnavailable(
                f"diffusers {diffusers.__version__} has no {class_name}, which model "
                f"'{self.name}' needs.",
                advice="Upgrade it with: pip install -U 'imagear[diffusers]'.",
            )
        kwargs: dict[str, Any] = {"local_files_only": True, dtype_kwarg(diffusers): dtype}
        if self.descriptor.family == "svd" and on_cuda and has_variant(folder, "fp16"):
            kwargs["variant"] = "fp16"  # half the bytes to read; loading it needs the files
        if self.descriptor.family == "wan":
            # Wan's VAE and CLIP image encoder lose quality below fp32 (diffusers' Wan docs).
            import transformers

            kwargs["vae"] = diffusers.AutoencoderKLWan.from_pretrained(
                folder,
                subfolder="vae",
                local_files_only=True,
                **{dtype_kwarg(diffusers): torch.float32},
            )
            if self.descriptor.takes_image:
                kwargs["image_encoder"] = transformers.CLIPVisionModel.from_pretrained(
                    folder,
                    subfolder="image_encoder",
                    local_files_only=True,
                    **{dtype_kwarg(transformers): torch.float32},
                )
        return pipeline_class.from_pretrained(folder, **kwargs)

    def _place(self, pipe: Any, device: Any) -> None:
        """Move the pipeline to ``device``, or set up offloading in low-VRAM mode."""
        family = self.descriptor.family
        if self.config.low_vram:
            if family == "svd":
                pipe.unet.enable_forward_chunking()  # feed-forward layers in chunks
            else:
                for switch in ("enable_tiling", "enable_slicing"):
                    if hasattr(pipe.vae, switch):
                        getattr(pipe.vae, switch)()
            if device.type == "cuda" and family == "wan" and hasattr(pipe, "enable_group_offload"):
                # Wan's 14B transformer alone needs ~30 GB, so whole-model offload would not
                # help; leaf-level group offload with CUDA streams gets it to ~14 GB.
                pipe.enable_group_offload(
                    onload_device=device, offload_type="leaf_level", use_stream=True
                )
                return
            if device.type != "cpu":
                # Whole models hop to the accelerator one at a time; needs accelerate.
                pipe.enable_model_cpu_offload(device=device)
                return
            # On a CPU there is nothing to offload to: the pipeline stays where it is.
        pipe.to(device)

    # -- generation --------------------------------------------------------------------------

    def _size(self, options: Any) -> tuple[int, int]:
        native_w, native_h = native_size(self.descriptor)
        width = getattr(options, "width", None) or native_w
        height = getattr(options, "height", None) or native_h
        return int(width), int(height)

    def _call_kwargs(self, image: Any, options: Any, width: int, height: int) -> dict[str, Any]:
        """The pipeline arguments for one request, per family (no generator yet)."""
        from PIL import Image

        family = self.descriptor.family
        num_frames = int(getattr(options, "num_frames", None) or self.descriptor.default_frames)
        kwargs: dict[str, Any] = {
            "num_frames": num_frames,
            "height": height,
            "width": width,
            "output_type": "np",
        }
        if self.descriptor.takes_image:
            # Stretched to width x height, as Heratio's server does; the caller picks a size
            # that keeps the image's aspect ratio where the model allows it.
            kwargs["image"] = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        if family == "svd":
            for key, default in _SVD_DEFAULTS.items():
                value = getattr(options, key, None)
                kwargs[key] = default if value is None else value
            # diffusers documents `fps` as the clip's frame rate and subtracts 1 itself (SVD was
            # micro-conditioned on fps - 1), so the requested fps goes in unchanged.
            kwargs["fps"] = int(getattr(options, "fps", None) or self.descriptor.native_fps)
            chunk = getattr(options, "decode_chunk_size", None)
            if chunk is None and self.config.low_vram:
                chunk = 2  # the VAE decode is the memory peak of SVD
            kwargs["decode_chunk_size"] = chunk  # None: diffusers decodes all frames at once
            return kwargs
        kwargs["prompt"] = getattr(options, "prompt", None) or ""
        negative = getattr(options, "negative_prompt", None)
        if negative:
            kwargs["negative_prompt"] = negative
        steps = getattr(options, "num_inference_steps", None)
        kwargs["num_inference_steps"] = int(steps) if steps else 50
        guidance = getattr(options, "guidance_scale", None)
        default_guidance = 6.0 if family == "cogvideox" else 5.0
        kwargs["guidance_scale"] = default_guidance if guidance is None else float(guidance)
        return kwargs

    def generate(self, image: Any, options: Any, out_path: Path) -> GenerationResult:
        """Generate one clip from ``image`` with ``options`` and write it to ``out_path``.

        Loads the model on first use (that time is reported as ``extra["load_secs"]``, not in
        ``generation_secs``). Raises OutOfGpuMemory, GenerationFailed (any other pipeline
        failure), MediaError (encoding; no partial file is left) or EngineUnavailable (loading).
        """
        from imagear.media import write_mp4

        with self._lock:
            load_secs = self.load()
            import torch

            started = time.perf_counter()
            width, height = self._size(options)
            kwargs = self._call_kwargs(image, options, width, height)
            num_frames = kwargs["num_frames"]
            seed = int(options.seed)
            # CUDA generator on CUDA; elsewhere a CPU one (MPS generators are unreliable).
            gen_device = "cuda" if self._device.type == "cuda" else "cpu"
            kwargs["generator"] = torch.Generator(device=gen_device).manual_seed(seed)
            try:
                output = self._pipe(**kwargs)
            except Exception as exc:
                if not _is_oom(torch, exc):
                    free_accelerator_memory()
                    raise GenerationFailed(
                        f"Model '{self.name}' failed while generating {num_frames} frames at "
                        f"{width}x{height}: {exc}"
                    ) from exc
                # The traceback's frames pin the activations that filled the GPU: drop them
                # before emptying the cache, or empty_cache() frees nothing.
                if exc.__traceback__ is not None:
                    traceback.clear_frames(exc.__traceback__)
                exc.__traceback__ = None
                free_accelerator_memory()
                raise OutOfGpuMemory(
                    f"Model '{self.name}' ran out of GPU memory generating {num_frames} frames "
                    f"at {width}x{height}."
                ) from exc
            finally:
                kwargs.clear()  # the generator and the resized image are no longer needed
            fps = int(getattr(options, "fps", None) or self.descriptor.native_fps)
            written = write_mp4(_uint8_frames(output.frames), fps, out_path, width, height)
            del output
            motion_bucket_id = None
            if self.descriptor.family == "svd":
                value = getattr(options, "motion_bucket_id", None)
                motion_bucket_id = int(
                    _SVD_DEFAULTS["motion_bucket_id"] if value is None else value
                )
            prompt = getattr(options, "prompt", None) or None
            return GenerationResult(
                model=self.name,
                seed=seed,
                num_frames=written,
                fps=fps,
                generation_secs=time.perf_counter() - started,
                motion_bucket_id=motion_bucket_id,
                prompt=prompt if self.descriptor.uses_prompt else None,
                motion=f"ai-{self.name}",
                extra={
                    "device": str(self._device),
                    "dtype": str(self._dtype).removeprefix("torch."),
                    "width": width,
                    "height": height,
                    "load_secs": round(load_secs, 3),
                    "weights": self.source,
                    "low_vram": self.config.low_vram,
                },
            )
