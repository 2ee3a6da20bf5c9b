"""What a generator is: the one protocol local, remote and pool generators share.

The pipeline never asks which generator it holds. It asks each to describe itself
(:attr:`Generator.placement`: where it runs, for messages and logs), what it would send
(:meth:`Generator.params`), to prepare a job's image (:meth:`Generator.prepare`, before a
generation slot is taken) and to generate from it (:meth:`Generator.generate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagear.generation.events import Observer

if TYPE_CHECKING:
    from PIL.Image import Image

    from imagear.models import BaseOptions, ModelDescriptor
    from imagear.settings import Settings
    from imagear.wire import Health


@dataclass
class Job:
    """One generation: the model, its validated options (seed never 0) and the source image."""

    object_id: int
    descriptor: ModelDescriptor
    options: BaseOptions
    source: Path
    extra_keys: tuple[str, ...] = ()  # -o keys the caller gave: forwarded to the server too


@dataclass(frozen=True)
class Placement:
    """Where a generator runs, for messages, progress and logs."""

    remote: bool  # on a server (its clip is checked as an answer: a bad one is BadResponse)
    url: str | None  # the server (without a password), or None in this process
    waiting: str  # what the record waits for while it generates


@dataclass
class Prepared:
    """A job's image, prepared for its generator: decoded once and shrunk to what the model
    renders (``image``: the PIL image, or ``payload``: its JPEG bytes), with its size as sent
    and the small grey ``reference`` the quality gate compares the clip with."""

    job: Job
    upload: dict[str, int]  # width, height (and bytes, when encoded)
    reference: object = None
    payload: bytes = b""
    image: Image | None = None
    whole: bool = False  # payload: the master's own file, not decoded here (no reference)

    def close(self) -> None:
        """Free the decoded image (after the generation, or when it is not sent)."""
        if self.image is not None:
            self.image.close()
        self.image, self.payload = None, b""


@dataclass
class Generated:
    """What made the clip (from the server's X- headers or the engine, else what was sent)."""

    model: str
    seed: int
    generation_secs: float
    motion_bucket_id: int | None = None
    frames: int | None = None
    fps: float | None = None
    motion: str | None = None
    prompt: str | None = None
    upload: dict[str, int] = field(default_factory=dict)  # size/bytes of the image sent
    # the image as the model got it, small and grey, for the quality gate (imagear.quality)
    reference: object = None
    # an in-process engine's media.scan.ClipScan of the frames it encoded (None: decode the clip)
    scan: object = None


class Generator(Protocol):
    """What the pipeline needs from any generator (in-process, a server, a pool of servers)."""

    @property
    def placement(self) -> Placement: ...

    def params(self, job: Job) -> dict[str, object]:
        """What is sent to the model (for the start event): the form fields or the options."""
        ...

    def prepare(self, job: Job) -> Prepared: ...

    def generate(self, prepared: Prepared, dest: Path, observe: Observer) -> Generated:
        """Write the clip to ``dest``; ``observe`` hears the upload and the transfer."""
        ...

    def health(self, settings: Settings) -> Health: ...

    def check_ready(self, descriptor: ModelDescriptor, settings: Settings) -> Health: ...

    def close(self) -> None: ...


__all__ = ["Generated", "Generator", "Job", "Placement", "Prepared"]
