"""Loading a diffusers pipeline and setting it up on its device: the diffusers engine's helpers.

Nothing here imports torch or diffusers at module level; the callers hand them in.

- :func:`quiet`: diffusers', transformers' and huggingface_hub's log lines, progress bars and
  Python warnings are silenced while a pipeline loads and runs, unless ``verbose`` (the CLI's
  ``--verbose``, ``IMAGEAR_VERBOSE=1``). A service never prints.
- :func:`load_pipeline`: ``from_pretrained`` with ``local_files_only=True`` in the model's dtype;
  Wan's VAE and CLIP image encoder (when the checkpoint has one) stay in float32, as diffusers'
  Wan docs recommend.
- :func:`place`: onto the device, or, in low-VRAM mode on an accelerator, the descriptor's
  ``low_vram_offload``: whole-model CPU offload, sequential (layer by layer) CPU offload, or
  leaf-level group offload; low-VRAM mode also turns on SVD's forward chunking and the other
  VAEs' tiling and slicing (never otherwise: they cost time).
- No other speed setting by default: attention is PyTorch's SDPA, diffusers' default, and
  channels-last memory for SVD's UNet (once set here) made its pipeline about 6 % slower on an
  H200 (bench/bench_gpu.py, docs/performance.md). :func:`compile_denoiser`: ``torch.compile``
  of the denoiser (UNet or transformer(s)) when asked (``IMAGEAR_TORCH_COMPILE``), off by
  default.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

from imagear.engines.diffusers_weights import (
    DiffusersModel,
    Layout,
    dtype_kwarg,
    has_variant,
    pipeline_class_name,
)
from imagear.engines.torchlike import Device, Pipeline
from imagear.errors import EngineUnavailable

VERBOSE_ENV = "IMAGEAR_VERBOSE"
COMPILE_ENV = "IMAGEAR_TORCH_COMPILE"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DENOISERS = ("unet", "transformer", "transformer_2")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def verbose_wanted() -> bool:
    """IMAGEAR_VERBOSE is 1 / true / yes / on (the CLI's ``--verbose`` sets it)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in _TRUE


def compile_mode() -> str | None:
    """The ``torch.compile`` mode from IMAGEAR_TORCH_COMPILE: None (off, the default), or one
    of :data:`COMPILE_MODES` (``1`` / ``true`` mean ``default``)."""
    value = os.environ.get(COMPILE_ENV, "").strip().lower()
    if value in _FALSE:
        return None
    if value in _TRUE:
        return "default"
    if value in COMPILE_MODES:
        return value
    raise EngineUnavailable(
        f"{COMPILE_ENV}={value!r} is not a torch.compile setting.",
        advice=f"Use 0 (off), 1 (on) or a mode: {', '.join(COMPILE_MODES)}.",
    )


@contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Silence diffusers', transformers' and huggingface_hub's logs and progress bars, and
    Python warnings, for the duration; restore them after. ``verbose``: change nothing."""
    if verbose:
        yield
        return
    with ExitStack() as stack:
        for name in ("diffusers.utils.logging", "transformers.utils.logging"):
            try:
                module = __import__(name, fromlist=["get_verbosity"])
            except ImportError:
                continue
            level, bars = module.get_verbosity(), module.is_progress_bar_enabled()
            module.set_verbosity_error()
            module.disable_progress_bar()
            stack.callback(_restore, module, level, bars)
        try:
            from huggingface_hub import utils as hub_utils

            if not hub_utils.are_progress_bars_disabled():
                hub_utils.disable_progress_bars()
                stack.callback(hub_utils.enable_progress_bars)
        except ImportError:
            pass
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        yield


def _restore(module: ModuleType, level: int, bars: bool) -> None:
    module.set_verbosity(level)
    if bars:
        module.enable_progress_bar()


def load_pipeline(
    torch: ModuleType,
    diffusers: ModuleType,
    descriptor: DiffusersModel,
    folder: Path,
    layout: Layout,
    dtype: object,
    on_cuda: bool,
) -> Pipeline:
    """``from_pretrained`` of the model's pipeline class from ``folder``, never downloading."""
    class_name = pipeline_class_name(descriptor)
    pipeline_class = getattr(diffusers, class_name, None)
    if pipeline_class is None:
        raise EngineUnavailable(
            f"diffusers {diffusers.__version__} has no {class_name}, which model "
            f"'{descriptor.name}' needs.",
            advice="Upgrade it with: pip install -U 'imagear[diffusers]'.",
        )
    kwargs: dict[str, object] = {"local_files_only": True, dtype_kwarg(diffusers): dtype}
    if descriptor.family == "svd" and on_cuda and has_variant(folder, "fp16"):
        kwargs["variant"] = "fp16"  # half the bytes to read; loading it needs the files
    if descriptor.family == "wan" and dtype != torch.float32:
        # Wan's VAE and CLIP image encoder lose quality below fp32 (diffusers' Wan docs).
        import transformers

        kwargs["vae"] = diffusers.AutoencoderKLWan.from_pretrained(
            folder,
            subfolder="vae",
            local_files_only=True,
            **{dtype_kwarg(diffusers): torch.float32},
        )
        if layout.has_image_encoder:  # Wan 2.1; Wan 2.2 checkpoints have none
            kwargs["image_encoder"] = transformers.CLIPVisionModel.from_pretrained(
                folder,
                subfolder="image_encoder",
                local_files_only=True,
                **{dtype_kwarg(transformers): torch.float32},
            )
    pipe: Pipeline = pipeline_class.from_pretrained(folder, **kwargs)
    return pipe


def place(
    torch: ModuleType, pipe: Pipeline, device: Device, descriptor: DiffusersModel, low_vram: bool
) -> str:
    """Put ``pipe`` on ``device`` (or offload it in low-VRAM mode); return how, in words."""
    family = descriptor.family
    if low_vram:
        if family == "svd":
            pipe.unet.enable_forward_chunking()  # feed-forward layers in chunks
        else:
            for switch in ("enable_tiling", "enable_slicing"):
                if hasattr(pipe.vae, switch):
                    getattr(pipe.vae, switch)()
        if device.type != "cpu":
            how = getattr(descriptor, "low_vram_offload", "model")
            if how == "group" and hasattr(pipe, "enable_group_offload"):
                # Leaf-level groups move onto the GPU just before they run (with CUDA streams,
                # overlapping the copy with compute): for models whose denoiser alone does not
                # fit, where whole-model offload cannot help.
                pipe.enable_group_offload(
                    onload_device=device,
                    offload_device=torch.device("cpu"),
                    offload_type="leaf_level",
                    use_stream=device.type == "cuda",
                )
                return "leaf-level group offload"
            if how == "sequential":
                pipe.enable_sequential_cpu_offload(device=device)  # needs accelerate
                return "sequential CPU offload"
            pipe.enable_model_cpu_offload(device=device)  # needs accelerate
            return "model CPU offload"
        # On a CPU there is nothing to offload to: the pipeline stays where it is.
    pipe.to(device)
    return f"on {device}"


def compile_denoiser(pipe: Pipeline, mode: str) -> list[str]:
    """``torch.compile`` the pipeline's denoiser(s) in place; return their names.

    Compiling is lazy: the first clip of each size pays for it (minutes for a large model), the
    following ones run faster. The module stays the same object, so offload hooks and configs
    still work.
    """
    compiled = []
    for name in DENOISERS:
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "compile"):
            module.compile(mode=None if mode == "default" else mode)
            compiled.append(name)
    return compiled
