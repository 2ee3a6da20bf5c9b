"""Clips that fail the quality gate, made for real, and a model whose engine makes them.

``make_clip(kind, ...)`` writes a real H.264 MP4 with :func:`imagear.media.write_mp4` (through
tests/fake_server.py's ``render_clip``): ``echo`` (the image, moving: passes), ``black``,
``blank``, ``frozen`` (the image, still) and ``unrelated`` (moving stripes). ``BadClips`` is a
model descriptor, registered through the real registry, whose in-process engine writes the clip
kind named by the module variable ``KIND`` (at the asked size, frames and fps, or the ``SIZE``
override), so the in-process path and ``imagear serve`` can be made to produce each failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_server import render_clip
from imagear.engines.base import GenerationResult
from imagear.models import ModelDescriptor

KIND = "echo"
"""What the BadClips engine renders next (set by tests)."""
SIZE: tuple[int, int] | None = None
"""Render at this size instead of the asked one (a not-what-was-asked clip)."""


def make_clip(
    kind: str,
    out: Path,
    image: Any = None,
    size: tuple[int, int] = (160, 96),
    frames: int = 12,
    fps: int = 8,
) -> Path:
    """A real MP4 of ``kind`` at ``out`` (``image``: a PIL image for echo / frozen)."""
    render_clip(image, size[0], size[1], frames, fps, kind, out)
    return out


class BadClipsEngine:
    """Writes a clip of :data:`KIND` from the image it is given."""

    name = "bad-clips"

    def generate(self, image: Any, options: Any, out_path: Path) -> GenerationResult:
        width, height = SIZE or (int(options.width or 160), int(options.height or 96))
        render_clip(image, width, height, int(options.num_frames), int(options.fps), KIND, out_path)
        return GenerationResult(
            model=self.name,
            seed=int(options.seed),
            num_frames=int(options.num_frames),
            fps=int(options.fps),
            generation_secs=0.01,
        )

    def loaded(self) -> bool:
        return True

    def close(self) -> None:
        pass


class BadClips(ModelDescriptor):
    """Takes the image; renders whatever KIND says."""

    name = "bad-clips"
    family = "test"
    native_width, native_height, divisible_by, min_side = 160, 96, 2, 16
    native_fps = 8
    default_frames = 12
    requires_gpu = False
    honours_settings = False

    def create_engine(self, config: Any) -> Any:
        return BadClipsEngine()


def preview_facts(path: Path) -> tuple[tuple[int, int], int, float, int]:
    """(size, frames, fps, audio streams) of an MP4 preview."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        size = (stream.codec_context.width, stream.codec_context.height)
        return size, frames, float(stream.average_rate or 0), len(container.streams.audio)
