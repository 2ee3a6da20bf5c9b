"""A good model plugin: descriptors offered through the ``imagear.models`` entry point group."""

from __future__ import annotations

from pydantic import Field

from imagear.models import BaseOptions, ModelDescriptor


class FakeOptions(BaseOptions):
    """Options of the fake model: 3..30 frames, any size divisible by 4."""

    num_frames: int = Field(10, description="Frames to generate.", ge=3, le=30)
    fps: int = Field(12, description="Frames per second.", ge=1, le=30)
    strength: float = Field(0.5, description="How much it moves.", ge=0.0, le=1.0)


class FakeModel(ModelDescriptor):
    """A model that exists only in tests."""

    name = "test-fake"
    aliases = ("fake-plugin",)
    family = "test"
    takes_image = True
    uses_prompt = True
    native_width = 256
    native_height = 256
    divisible_by = 4
    min_side = 32
    max_side = 512
    native_fps = 12
    default_frames = 10
    frames_rule = "from 3 to 30"
    memory = "none"
    licence = "MIT"
    requires_gpu = False
    notes = "Test plugin."

    Options = FakeOptions


class MoreModel(FakeModel):
    """A second plugin model, offered by a function; it inherits FakeModel's Options."""

    name = "test-more"
    aliases = ()


def more_models() -> list[type[ModelDescriptor]]:
    """An entry point may name a function that returns descriptor classes."""
    return [MoreModel]
