"""Where the diffusers engine finds weights, and which pipeline class and dtype it picks.

Nothing here imports torch or diffusers at module level (see :mod:`imagear.engines.diffusers`).

Weights are never downloaded at request time. The first match wins:

1. ``models_dir`` (``EngineConfig.models_dir``; ``models_dir`` in imagear.toml): the first of
   these folders that holds a ``model_index.json``, shown for svd
   (``stabilityai/stable-video-diffusion-img2vid``):

   - ``models_dir/svd``                                            the model's name
   - ``models_dir/stabilityai--stable-video-diffusion-img2vid``     repo id, ``/`` -> ``--``
   - ``models_dir/stabilityai/stable-video-diffusion-img2vid``      repo id as two folders
   - ``models_dir/stable-video-diffusion-img2vid``                  repo name only

2. the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``): a snapshot of ``hf_repo`` with a
   ``model_index.json`` (what ``huggingface-cli download <repo>`` leaves there). It is found
   with ``huggingface_hub.try_to_load_from_cache``, which never touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

from imagear.errors import EngineUnavailable

# Native sizes (width, height) per family, for descriptors without native_width/native_height.
NATIVE_SIZE = {"svd": (1024, 576), "cogvideox": (720, 480), "wan": (832, 480), "ltx": (704, 512)}
FAMILIES = ("svd", "cogvideox", "wan", "ltx")


class DiffusersModel(Protocol):
    """What the engine reads from a model descriptor (see imagear.models).

    Optional attributes, read with getattr: ``pipeline`` (diffusers class name),
    ``torch_dtype`` (dtype name on CUDA), ``native_width`` / ``native_height``.
    """

    name: str
    family: str  # "svd" | "cogvideox" | "wan" | "ltx"
    hf_repo: str | None
    takes_image: bool
    uses_prompt: bool
    native_fps: int
    default_frames: int


def weight_dirs(descriptor: DiffusersModel, models_dir: Path | None) -> list[Path]:
    """The folders under ``models_dir`` searched for the model's weights, in order."""
    if models_dir is None:
        return []
    names = [descriptor.name]
    repo = descriptor.hf_repo
    if repo:
        names += [repo.replace("/", "--"), repo, repo.rsplit("/", 1)[-1]]
    root = Path(models_dir).expanduser()
    found: list[Path] = []
    for name in names:
        if root / name not in found:
            found.append(root / name)
    return found


def hf_cache_snapshot(repo: str) -> Path | None:
    """The cached snapshot folder of ``repo`` if it has a model_index.json; never downloads."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, "model_index.json")
    return Path(found).parent if isinstance(found, str) else None


def hf_cache_dir() -> str:
    """The Hugging Face hub cache folder, for messages."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return "~/.cache/huggingface/hub"


def find_weights(descriptor: DiffusersModel, models_dir: Path | None) -> tuple[Path, str]:
    """Return (folder to load from, where it was found, in words) or raise EngineUnavailable.

    The folder holds a diffusers pipeline layout (``model_index.json`` + component folders).
    """
    candidates = weight_dirs(descriptor, models_dir)
    for path in candidates:
        if (path / "model_index.json").is_file():
            return path, str(path)
    repo = descriptor.hf_repo
    snapshot = hf_cache_snapshot(repo) if repo else None
    if snapshot is not None:
        return snapshot, f"the Hugging Face cache ({repo}, {snapshot})"
    looked = [str(p) for p in candidates]
    if repo:
        looked.append(f"the Hugging Face cache at {hf_cache_dir()} ({repo})")
    target = candidates[0] if candidates else Path("<models_dir>") / descriptor.name
    how = (
        f"Download them once with `huggingface-cli download {repo} --local-dir {target}`"
        if repo
        else f"Put a diffusers checkpoint (with model_index.json) in {target}"
    )
    raise EngineUnavailable(
        f"The weights of model '{descriptor.name}' are not on this machine; looked in "
        + (", ".join(looked) if looked else "nowhere (no models_dir is configured)")
        + ".",
        advice=f"{how}; imagear never downloads weights while generating.",
    )


def pipeline_class_name(descriptor: DiffusersModel) -> str:
    """The diffusers pipeline class: the descriptor's ``pipeline``, else by family."""
    named = getattr(descriptor, "pipeline", None)
    if named:
        return str(named)
    family = descriptor.family
    if family == "svd":
        return "StableVideoDiffusionPipeline"
    if family == "cogvideox":
        return "CogVideoXImageToVideoPipeline" if descriptor.takes_image else "CogVideoXPipeline"
    if family == "wan":
        return "WanImageToVideoPipeline" if descriptor.takes_image else "WanPipeline"
    if family == "ltx":
        return "LTXImageToVideoPipeline" if descriptor.takes_image else "LTXPipeline"
    raise EngineUnavailable(
        f"Model '{descriptor.name}' has family '{family}', which the diffusers engine cannot run.",
        advice=f"Supported families: {', '.join(FAMILIES)}.",
    )


def cuda_dtype_name(descriptor: DiffusersModel) -> str:
    """The torch dtype name to load with on CUDA: the descriptor's ``torch_dtype``, else by
    family. (Off CUDA the engine always uses float32.)"""
    named = getattr(descriptor, "torch_dtype", None)
    if named:
        return str(named)
    if descriptor.family == "svd":
        return "float16"
    if descriptor.family == "cogvideox":
        # CogVideoX-5b (and its I2V) only works in bf16: fp16 overflows into black frames.
        return "bfloat16" if descriptor.takes_image or "5b" in descriptor.name else "float16"
    return "bfloat16"  # wan, ltx


def has_variant(folder: Path, variant: str) -> bool:
    """True when some component folder holds ``*.{variant}.safetensors`` (or ``.bin``)."""
    return any(folder.glob(f"*/*.{variant}.safetensors")) or any(folder.glob(f"*/*.{variant}.bin"))


def dtype_kwarg(module: ModuleType) -> str:
    """The name of ``from_pretrained``'s dtype keyword for diffusers or transformers.

    ``dtype`` where the library renamed it (diffusers with ``_resolve_dtype``, transformers
    4.56+), else the old ``torch_dtype``, which newer versions still accept but deprecate.
    """
    if getattr(module, "__name__", "") == "diffusers":
        from importlib import import_module

        try:
            utils = import_module("diffusers.utils.deprecation_utils")
        except ImportError:
            return "torch_dtype"
        return "dtype" if hasattr(utils, "_resolve_dtype") else "torch_dtype"
    parts = str(getattr(module, "__version__", "0.0")).split(".")[:2]
    version = tuple(int(p) for p in parts if p.isdigit())
    return "dtype" if version >= (4, 56) else "torch_dtype"


def native_size(descriptor: DiffusersModel) -> tuple[int, int]:
    """The model's native (width, height)."""
    fallback = NATIVE_SIZE.get(descriptor.family, (1024, 576))
    width = getattr(descriptor, "native_width", None) or fallback[0]
    height = getattr(descriptor, "native_height", None) or fallback[1]
    return int(width), int(height)


@dataclass(frozen=True)
class Layout:
    """What a checkpoint folder holds, read from its ``model_index.json`` (cheap: no torch).

    ``components``: the component folders it names (``None`` entries left out);
    ``tokenizer_files``: the files of its ``tokenizer`` folder; ``config``: the pipeline's own
    settings (``expand_timesteps``, ``boundary_ratio`` for Wan 2.2).
    """

    components: frozenset[str]
    tokenizer_files: frozenset[str]
    config: dict[str, object]

    @property
    def two_experts(self) -> bool:
        """Wan 2.2 A14B: ``transformer`` and ``transformer_2`` switched at ``boundary_ratio``."""
        return "transformer_2" in self.components and self.config.get("boundary_ratio") is not None

    @property
    def has_image_encoder(self) -> bool:
        return "image_encoder" in self.components

    @property
    def sentencepiece_tokenizer(self) -> bool:
        """The tokenizer ships as ``spiece.model`` only (no ``tokenizer.json``): transformers
        can read it only with sentencepiece and protobuf installed."""
        files = self.tokenizer_files
        return "spiece.model" in files and "tokenizer.json" not in files

    def describe(self) -> str:
        """The layout in words, for results and logs."""
        if self.two_experts:
            return "two experts (transformer + transformer_2)"
        if self.config.get("expand_timesteps"):
            return "expand_timesteps (Wan 2.2 TI2V)"
        return "one denoiser"


def read_layout(folder: Path) -> Layout:
    """The :class:`Layout` of a diffusers folder; an unreadable index gives an empty one (the
    pipeline's own loader then says what is wrong)."""
    try:
        index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    if not isinstance(index, dict):
        index = {}
    components = frozenset(
        key
        for key, value in index.items()
        if not key.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[0] is not None
    )
    config = {
        key: value
        for key, value in index.items()
        if not key.startswith("_") and not isinstance(value, list)
    }
    tokenizer = Path(folder) / "tokenizer"
    try:
        files = (
            frozenset(p.name for p in tokenizer.iterdir()) if tokenizer.is_dir() else frozenset()
        )
    except OSError:
        files = frozenset()
    return Layout(components, files, config)
