"""What this host can run, and what its accelerator is: one answer for every caller.

Used by the in-process path (:mod:`imagear.generators`: ``imagear animate`` without a server,
``imagear health``) and by the server's worker and ``/health`` (:mod:`imagear.server`).

Cheap by design: nothing here imports torch or diffusers at module level. :func:`problem` looks
modules up without importing them and checks weights on disk; :func:`device_info` uses torch only
when it is already imported or when the caller says importing it is worth it (a torch-based model
can run here); :func:`free_accelerator_memory` never imports it.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Protocol, TypedDict

from imagear.engines.diffusers_weights import DiffusersModel
from imagear.errors import EngineUnavailable


class DeviceInfo(TypedDict, total=False):
    """The health report's GPU fields (REFERENCE.md section 1): ``cuda`` always."""

    cuda: bool
    device: str
    vram_total_gb: float
    vram_free_gb: float


class RunnableModel(DiffusersModel, Protocol):
    """What these checks read of a model descriptor (:class:`imagear.models.ModelDescriptor` is
    one). A protocol: the models build engines, so engines import nothing of imagear.models."""

    requires: tuple[str, ...]

    def has_own_engine(self) -> bool: ...


log = logging.getLogger("imagear.engines")

DIFFUSERS_MODULES = ("torch", "diffusers")
DIFFUSERS_EXTRA = "pip install 'imagear[diffusers]'"
# The module a distribution installs, where the two names differ.
MODULE_OF = {"protobuf": "google.protobuf", "pillow": "PIL"}
# What a tokenizer shipped as spiece.model only needs (transformers converts it on load).
SENTENCEPIECE_REQUIRES = ("sentencepiece", "protobuf")


def uses_diffusers(descriptor: RunnableModel) -> bool:
    """True when the model runs on the built-in diffusers engine (needs torch and weights)."""
    return bool(descriptor.hf_repo) and not descriptor.has_own_engine()


def importable(module: str) -> bool:
    """True when ``module`` is installed; looks it up without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def missing_requirements(requirements: tuple[str, ...] | list[str]) -> list[str]:
    """The requirements ("name" or "name>=version") that are not met here, in words
    ("ftfy (not installed)", "diffusers>=0.35 (0.34.0 is installed)"). Imports nothing: the
    module is looked up, the version read from the installed distribution's metadata."""
    from importlib.metadata import PackageNotFoundError, version

    missing: list[str] = []
    for requirement in requirements:
        name, _, minimum = (part.strip() for part in requirement.partition(">="))
        if not importable(MODULE_OF.get(name, name.replace("-", "_"))):
            missing.append(f"{name} (not installed)")
            continue
        if not minimum:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:  # importable but not pip-installed: trust it
            continue
        if _version_tuple(installed) < _version_tuple(minimum):
            missing.append(f"{name}>={minimum} ({installed} is installed)")
    return missing


def _requirements_problem(name: str, needs: list[str]) -> EngineUnavailable | None:
    lacking = missing_requirements(needs)
    if not lacking:
        return None
    upgrade = any("is installed" in item for item in lacking)
    return EngineUnavailable(
        f"Model {name} needs {', '.join(lacking)}.",
        advice=(
            "Upgrade with pip install -U 'imagear[diffusers]'."
            if upgrade
            else f"Install what it needs with {DIFFUSERS_EXTRA}."
        ),
    )


def problem(descriptor: RunnableModel, models_dir: Path | None) -> EngineUnavailable | None:
    """Why this host cannot run ``descriptor`` (None when it can). Cheap: imports no torch.

    Only the built-in diffusers engine is checked: torch and diffusers installed, the
    descriptor's ``requires`` met (e.g. ftfy for Wan), weights on disk, and sentencepiece and
    protobuf when the weights' tokenizer is a ``spiece.model`` only. A model with its own
    engine is trusted, and its load errors surface at generation.
    """
    if descriptor.has_own_engine():
        return None
    if not descriptor.hf_repo:  # what the default create_engine would refuse
        return EngineUnavailable(f"Model {descriptor.name!r} names no weights (hf_repo) to load.")
    missing = [m for m in DIFFUSERS_MODULES if not importable(m)]
    if missing:
        verb, them = ("is", "it") if len(missing) == 1 else ("are", "them")
        return EngineUnavailable(
            f"Model {descriptor.name} needs {' and '.join(missing)}, which {verb} not installed.",
            advice=f"Install {them} with {DIFFUSERS_EXTRA}.",
        )
    declared = _requirements_problem(descriptor.name, list(descriptor.requires))
    if declared is not None:
        return declared
    from imagear.engines.diffusers_weights import find_weights

    try:
        folder, _ = find_weights(descriptor, models_dir)
    except EngineUnavailable as exc:
        return exc
    return requirements_problem(descriptor, folder)


def requirements_problem(descriptor: DiffusersModel, folder: Path) -> EngineUnavailable | None:
    """What the model's pipeline needs beyond torch and diffusers and is not installed: the
    descriptor's ``requires``, plus sentencepiece and protobuf when ``folder``'s tokenizer is a
    ``spiece.model`` only. Cheap: imports nothing."""
    from imagear.engines.diffusers_weights import read_layout

    needs = list(getattr(descriptor, "requires", ()))
    if read_layout(folder).sentencepiece_tokenizer:
        needs += [r for r in SENTENCEPIECE_REQUIRES if r not in needs]
    return _requirements_problem(descriptor.name, needs)


def unavailable_reason(descriptor: RunnableModel, models_dir: Path | None) -> str | None:
    """:func:`problem` as one line (message and advice), for JSON and logs."""
    found = problem(descriptor, models_dir)
    return None if found is None else found.one_line()


_TORCH_IMPORT = threading.Lock()
"""Serialises the first import of torch (seconds long): two first loads of the admin page at
once must not both start it, nor one read the other's half-imported module."""


def loaded_torch(import_torch: bool) -> Any:
    """torch, fully imported: when another thread is importing it, this waits for it; when it
    is not imported yet, it is imported (once, under a lock) only if ``import_torch``. None
    when it is not (or cannot be) imported; a broken torch install never raises."""
    with _TORCH_IMPORT:
        if "torch" not in sys.modules and not (import_torch and importable("torch")):
            return None
        try:
            # waits for an import under way in another thread: sys.modules holds the module
            # from its first line, half-initialised
            import torch
        except Exception:  # a broken torch install must not break a health report
            return None
        return torch


def device_info(import_torch: bool) -> DeviceInfo:
    """The health report's GPU fields: cuda, and when it is true device and VRAM in GB
    (2 decimals), as REFERENCE.md section 1 has them.

    torch is used when it is already imported, or imported once when ``import_torch``;
    otherwise (a kenburns-only host) this reports ``cuda: false`` without paying for importing
    torch. A broken torch install or a driver error reads as "no CUDA", never raises.
    """
    torch = loaded_torch(import_torch)
    if torch is None:
        return {"cuda": False}
    try:
        if not torch.cuda.is_available():
            return {"cuda": False}
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return {
            "cuda": True,
            "device": str(torch.cuda.get_device_name(index)),
            "vram_total_gb": round(total / 1024**3, 2),
            "vram_free_gb": round(free / 1024**3, 2),
        }
    except Exception as exc:  # a driver error is reported, not raised
        log.warning("could not read the CUDA device: %s", exc)
        return {"cuda": False}


def free_accelerator_memory() -> None:
    """Collect garbage and give cached CUDA memory back (never imports torch to do it)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # best effort: the out-of-memory error has already been reported
            pass


def holds_accelerator(engine: object) -> bool:
    """Whether ``engine`` holds accelerator memory now: the engine's own answer
    (``holds_accelerator()``, the diffusers engine has one); an engine without one holds none.
    The server and the in-process generator keep one such model at a time (each 14B model
    alone fills most of a card)."""
    check = getattr(engine, "holds_accelerator", None)
    try:
        return bool(check()) if callable(check) else False
    except Exception:
        return False


__all__ = [
    "device_info",
    "free_accelerator_memory",
    "holds_accelerator",
    "importable",
    "loaded_torch",
    "missing_requirements",
    "problem",
    "requirements_problem",
    "unavailable_reason",
    "uses_diffusers",
]
