"""What the engines call on torch and diffusers objects, as protocols.

torch and diffusers are imported inside the functions that need them (a host without the
``diffusers`` extra still runs kenburns), so the objects they make are typed here by what
imagear does with them; the modules themselves are :class:`types.ModuleType`. Light: imports
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Device(Protocol):
    """A ``torch.device``."""

    @property
    def type(self) -> str: ...


class Chunkable(Protocol):
    """SVD's UNet: its feed-forward layers can run in chunks (less memory)."""

    def enable_forward_chunking(self) -> None: ...


class PipelineOutput(Protocol):
    """What a diffusers video pipeline returns: ``frames[0]`` is the one video asked for (an
    np batch of HxWx3 floats, or PIL images)."""

    @property
    def frames(self) -> Sequence[Sequence[object]]: ...


class Pipeline(Protocol):
    """A diffusers ``DiffusionPipeline``: what the engine calls by name (what only some
    families have is checked with hasattr / getattr first)."""

    @property
    def components(self) -> Mapping[str, object]: ...

    @property
    def config(self) -> Mapping[str, object]: ...

    @property
    def dtype(self) -> object: ...

    @property
    def unet(self) -> Chunkable: ...  # SVD's; the engine asks only an SVD pipeline for it

    @property
    def vae(self) -> object: ...  # its enable_tiling / enable_slicing, where it has them

    def set_progress_bar_config(self, **kwargs: object) -> None: ...

    def to(self, device: Device) -> object: ...

    def enable_model_cpu_offload(self, device: Device) -> None: ...

    def enable_sequential_cpu_offload(self, device: Device) -> None: ...

    def enable_group_offload(self, **kwargs: object) -> None: ...  # checked with hasattr first

    def remove_all_hooks(self) -> None: ...

    def __call__(self, **kwargs: object) -> PipelineOutput: ...


__all__ = ["Chunkable", "Device", "Pipeline", "PipelineOutput"]
