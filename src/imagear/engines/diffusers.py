"""The diffusers engine: SVD, CogVideoX, Wan 2.1 / 2.2 and LTX-Video, run in-process.

torch and diffusers are imported inside functions only, so ``import imagear.engines.diffusers``
is cheap and works without the ``diffusers`` extra; a missing extra surfaces as
:class:`~imagear.errors.EngineUnavailable` (naming ``pip install 'imagear[diffusers]'``) when
the engine first loads. Where weights are looked up is documented in
:mod:`imagear.engines.diffusers_weights`; every ``from_pretrained`` call passes
``local_files_only=True``, so nothing is ever downloaded at request time. Loading and the
pipeline call are silent unless ``EngineConfig.verbose`` (``--verbose``, IMAGEAR_VERBOSE=1).

Pipelines and dtypes on CUDA (on a CPU, or any other device, everything runs in float32):

- svd, svd-xt: ``StableVideoDiffusionPipeline`` in float16, with ``variant="fp16"`` when the
  folder has fp16 weight files.
- cogvideox-2b (text-to-video: the image is ignored): ``CogVideoXPipeline`` in float16.
- cogvideox-5b-i2v: ``CogVideoXImageToVideoPipeline`` in bfloat16 (float16 gives black frames).
- wan-2.1, wan-2.2, wan-2.2-a14b: ``WanImageToVideoPipeline`` in bfloat16, its VAE (and the
  CLIP image encoder of Wan 2.1) in float32, as diffusers' Wan docs recommend. Which Wan layout
  a folder holds (one denoiser, ``expand_timesteps``, or two experts) is read from its
  ``model_index.json``.
- ltx-video: ``LTXImageToVideoPipeline`` in bfloat16.

The descriptor's ``pipeline`` and ``torch_dtype`` attributes, when set, override these.
Low-VRAM mode, offloading and compiling are in
:mod:`imagear.engines.diffusers_setup`; the call arguments per family in
:mod:`imagear.engines.diffusers_call`.

The first frame: every image-to-video model here is conditioned on the source image, so its
first frame already shows it (through the VAE). The engine does NOT paste the resized source over
frame 0: decoded frames differ slightly from the source in colour and sharpness, and a pasted
frame 0 would show as a visible pop, every time the clip loops.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

from imagear.engines.base import EngineConfig, GenerationOptions, GenerationResult
from imagear.engines.diffusers_call import SVD_DEFAULTS, call_kwargs, fps_of
from imagear.engines.diffusers_setup import (
    compile_denoiser,
    compile_mode,
    load_pipeline,
    place,
    quiet,
    verbose_wanted,
)
from imagear.engines.diffusers_weights import (
    DiffusersModel,
    Layout,
    cuda_dtype_name,
    find_weights,
    native_size,
    read_layout,
    weight_dirs,
)
from imagear.engines.runtime import free_accelerator_memory, requirements_problem
from imagear.engines.torchlike import Device, Pipeline
from imagear.errors import EngineUnavailable, GenerationFailed, ImagearError, OutOfGpuMemory

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = ["INSTALL_HINT", "DiffusersEngine", "DiffusersModel", "find_weights", "weight_dirs"]

INSTALL_HINT = "Install it with: pip install 'imagear[diffusers]'"
log = logging.getLogger("imagear.engines")


def _import_torch_diffusers() -> tuple[ModuleType, ModuleType]:
    try:
        import diffusers
        import torch
    except ImportError as exc:
        raise EngineUnavailable(
            f"The diffusers engine needs torch and diffusers, which are not installed ({exc}). "
            f"{INSTALL_HINT}.",
        ) from exc
    return torch, diffusers


def _pick_device(torch: ModuleType, wanted: str | None) -> Device:
    if wanted:
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def generator_device(device: Device) -> str:
    """Where the seeded ``torch.Generator`` lives: the CUDA device itself (with its index, so
    ``--device cuda:1`` draws on GPU 1), else the CPU (MPS generators are unreliable)."""
    return str(device) if device.type == "cuda" else "cpu"


def _is_oom(torch: ModuleType, exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or a RuntimeError saying "out of memory" (other backends)."""
    candidates = (
        getattr(torch, "OutOfMemoryError", None),
        getattr(torch.cuda, "OutOfMemoryError", None),
    )
    oom_types = tuple(t for t in candidates if isinstance(t, type))
    if oom_types and isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _release(exc: BaseException) -> None:
    """Drop the traceback's frames, then give cached accelerator memory back.

    The frames pin the tensors that filled the GPU (activations, half-loaded weights): while
    they live, ``torch.cuda.empty_cache()`` frees nothing.
    """
    if exc.__traceback__ is not None:
        traceback.clear_frames(exc.__traceback__)
    exc.__traceback__ = None
    free_accelerator_memory()


def _uint8_frames(
    frames: Sequence[Sequence[object]], seen: dict[str, bool] | None = None
) -> Iterator[np.ndarray]:
    """Yield HxWx3 uint8 arrays from a pipeline's ``frames`` (an np batch or lists of PIL).

    ``seen["finite"]`` is set False when a float frame holds NaN or infinity (a model that
    overflowed, e.g. in a dtype it does not tolerate); such values are written as 0.
    """
    import numpy as np

    for frame in frames[0]:  # one video per request
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8:
                finite = np.isfinite(frame)
                if not finite.all():
                    if seen is not None:
                        seen["finite"] = False
                    frame = np.where(finite, frame, 0.0)
                frame = (np.clip(frame, 0.0, 1.0) * 255.0).round().astype(np.uint8)
            yield frame
        else:  # a PIL image
            yield np.asarray(cast("Image.Image", frame).convert("RGB"))


class DiffusersEngine:
    """One diffusers model, loaded on first use and kept in memory until :meth:`close`.

    ``descriptor`` is a model descriptor (class or instance: name, family, hf_repo, takes_image,
    uses_prompt, native_fps, default_frames); ``config`` says where weights live, the device,
    low-VRAM mode and verbosity. Callers run one generation at a time, but a lock serialises
    load and generate anyway: a diffusers pipeline must never run from two threads at once.
    """

    def __init__(self, descriptor: DiffusersModel, config: EngineConfig | None = None) -> None:
        self.descriptor = descriptor
        self.config = config if config is not None else EngineConfig()
        self.name: str = descriptor.name
        self.source: str | None = None  # where the weights were loaded from, once loaded
        self.setup: dict[str, object] = {}  # how the pipeline was placed and sped up, once loaded
        self._pipe: Pipeline | None = None
        self._device: Device | None = None
        self._dtype: object = None
        self._layout = Layout(frozenset(), frozenset(), {})
        self._compiled_shapes: set[tuple[int, int, int]] | None = None  # None: not compiled
        self._lock = threading.RLock()

    @property
    def verbose(self) -> bool:
        return verbose_wanted() if self.config.verbose is None else self.config.verbose

    # -- lifecycle ---------------------------------------------------------------------------

    def loaded(self) -> bool:
        """True when the pipeline is in memory."""
        return self._pipe is not None

    def holds_accelerator(self) -> bool:
        """True when the loaded pipeline keeps memory on an accelerator (not the CPU)."""
        return self._pipe is not None and self._device is not None and self._device.type != "cpu"

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
            missing = requirements_problem(self.descriptor, folder)  # e.g. ftfy for Wan
            if missing is not None:
                raise missing
            layout = read_layout(folder)
            device = _pick_device(torch, self.config.device)
            on_cuda = device.type == "cuda"
            dtype = getattr(torch, cuda_dtype_name(self.descriptor)) if on_cuda else torch.float32
            try:
                with quiet(self.verbose):
                    pipe = load_pipeline(
                        torch, diffusers, self.descriptor, folder, layout, dtype, on_cuda
                    )
                self._set_up(torch, pipe, device, dtype, layout, source)
            except ImagearError:
                raise
            except Exception as exc:
                oom = _is_oom(torch, exc)
                _release(exc)
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
            return time.perf_counter() - started

    def use_pipeline(self, pipe: Pipeline, source: str = "a pipeline built in memory") -> float:
        """Adopt a pipeline built elsewhere (bench/bench_gpu.py builds full-size ones from
        configs) and set it up exactly as :meth:`load` sets up a loaded one: the device, low-VRAM
        offload, compiling. Its dtype is kept. Returns the seconds the setup took."""
        with self._lock:
            self.close()
            torch, _ = _import_torch_diffusers()
            started = time.perf_counter()
            device = _pick_device(torch, self.config.device)
            layout = Layout(
                frozenset(k for k, v in pipe.components.items() if v is not None),
                frozenset(),
                {k: v for k, v in pipe.config.items() if not isinstance(v, list | tuple)},
            )
            self._set_up(torch, pipe, device, pipe.dtype, layout, source)
            return time.perf_counter() - started

    def _set_up(
        self,
        torch: ModuleType,
        pipe: Pipeline,
        device: Device,
        dtype: object,
        layout: Layout,
        source: str,
    ) -> None:
        pipe.set_progress_bar_config(disable=True)  # services never print
        setup: dict[str, object] = {
            "placement": place(torch, pipe, device, self.descriptor, self.config.low_vram)
        }
        mode = compile_mode() if self.config.torch_compile is None else self.config.torch_compile
        self._compiled_shapes = None
        if mode:
            setup["compiled"] = compile_denoiser(pipe, mode)
            setup["compile_mode"] = mode
            self._compiled_shapes = set()
        setup["layout"] = layout.describe()
        self._pipe, self._device, self._dtype, self._layout = pipe, device, dtype, layout
        self.source, self.setup = source, setup

    def warmup(self) -> float:
        """Load now rather than on the first request (the first call after load is slow)."""
        return self.load()

    def close(self) -> None:
        """Drop the pipeline and give its memory back. Safe to call twice."""
        with self._lock:
            if self._pipe is None:
                return
            pipe, self._pipe = self._pipe, None
            if getattr(pipe, "_all_hooks", None) or self.config.low_vram:
                try:  # offload hooks hold references to the modules
                    pipe.remove_all_hooks()
                except Exception:  # best effort: the references go with `pipe` anyway
                    pass
            del pipe
            self.source, self.setup = None, {}
            free_accelerator_memory()

    # -- generation --------------------------------------------------------------------------

    def _size(self, options: object) -> tuple[int, int]:
        native_w, native_h = native_size(self.descriptor)
        width = getattr(options, "width", None) or native_w
        height = getattr(options, "height", None) or native_h
        return int(width), int(height)

    def call_kwargs(
        self, image: Image.Image, options: object, width: int, height: int
    ) -> dict[str, object]:
        """The pipeline arguments for one request (no generator yet)."""
        vae = getattr(self._pipe, "vae", None)
        timestep_vae = bool(getattr(getattr(vae, "config", None), "timestep_conditioning", False))
        return call_kwargs(
            self.descriptor,
            options,
            image,
            width,
            height,
            low_vram=self.config.low_vram,
            two_experts=self._layout.two_experts,
            timestep_vae=timestep_vae,
        )

    def generate(
        self, image: Image.Image, options: GenerationOptions, out_path: Path
    ) -> GenerationResult:
        """Generate one clip from ``image`` with ``options`` and write it to ``out_path``.

        Loads the model on first use (that time is reported as ``extra["load_secs"]``, not in
        ``generation_secs``). Raises OutOfGpuMemory, GenerationFailed (any other pipeline
        failure), MediaError (encoding; no partial file is left) or EngineUnavailable (loading).
        """
        from imagear.media import write_mp4
        from imagear.media.scan import FrameScanner

        with self._lock:
            load_secs = self.load()
            import torch

            started = time.perf_counter()
            width, height = self._size(options)
            kwargs = self.call_kwargs(image, options, width, height)
            num_frames = kwargs["num_frames"]
            pipe, device = self._pipe, self._device
            assert isinstance(num_frames, int) and pipe is not None and device is not None
            seed = int(options.seed)
            gen_device = generator_device(device)
            kwargs["generator"] = torch.Generator(device=gen_device).manual_seed(seed)
            warmup = self._compiled_shapes is not None and (
                (num_frames, width, height) not in self._compiled_shapes
            )
            try:
                with quiet(self.verbose):
                    output = pipe(**kwargs)  # output_type "np": the frames are on the host
                pipeline_secs = time.perf_counter() - started
            except Exception as exc:
                if not _is_oom(torch, exc):
                    free_accelerator_memory()
                    raise GenerationFailed(
                        f"Model '{self.name}' failed while generating {num_frames} frames at "
                        f"{width}x{height}: {exc}"
                    ) from exc
                _release(exc)
                raise OutOfGpuMemory(
                    f"Model '{self.name}' ran out of GPU memory generating {num_frames} frames "
                    f"at {width}x{height}."
                ) from exc
            finally:
                kwargs.clear()  # the generator and the resized image are no longer needed
            fps = fps_of(self.descriptor, options)
            seen = {"finite": True}
            scanner = FrameScanner(fps)  # the gate's measurements, poster and preview in memory
            frames = _uint8_frames(output.frames, seen)
            written = write_mp4(frames, fps, out_path, width, height, tap=scanner.add)
            del output
            secs = time.perf_counter() - started
            extra = self._extra(load_secs, width, height)
            extra["finite"] = seen["finite"]
            # Where the time went: the pipeline (denoising and VAE decode), then the host's part
            # (frames to 8 bits, the gate's scan, the H.264 encode).
            extra["pipeline_secs"] = round(pipeline_secs, 3)
            extra["encode_secs"] = round(secs - pipeline_secs, 3)
            if self._compiled_shapes is not None:
                self._compiled_shapes.add((num_frames, width, height))
                extra["torch_compile"] = "warm-up (includes compiling)" if warmup else "compiled"
                if warmup:
                    log.info(
                        "model %s: the first clip at %d frames %dx%d took %.1f s, compiling "
                        "included; the next ones of this size run compiled",
                        self.name,
                        num_frames,
                        width,
                        height,
                        secs,
                    )
            motion_bucket_id = None
            if self.descriptor.family == "svd":
                asked = getattr(options, "motion_bucket_id", None)
                motion_bucket_id = int(SVD_DEFAULTS["motion_bucket_id"] if asked is None else asked)
            prompt = getattr(options, "prompt", None) or None
            return GenerationResult(
                model=self.name,
                seed=seed,
                num_frames=written,
                fps=fps,
                generation_secs=secs,
                motion_bucket_id=motion_bucket_id,
                prompt=prompt if self.descriptor.uses_prompt else None,
                motion=f"ai-{self.name}",
                extra=extra,
                scan=scanner.result(),
            )

    def _extra(self, load_secs: float, width: int, height: int) -> dict[str, object]:
        return {
            "device": str(self._device),
            "dtype": str(self._dtype).removeprefix("torch."),
            "width": width,
            "height": height,
            "load_secs": round(load_secs, 3),
            "weights": self.source,
            "low_vram": self.config.low_vram,
            "placement": self.setup.get("placement"),
            "layout": self.setup.get("layout"),
        }
