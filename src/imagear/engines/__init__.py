"""Engines turn (image, validated options) into an MP4. The same code runs in-process and behind
`imagear serve`. Heavy dependencies (torch, diffusers) are imported inside the engine that needs them."""

from imagear.engines.base import Engine, EngineConfig, GenerationResult

__all__ = ["Engine", "EngineConfig", "GenerationResult"]
