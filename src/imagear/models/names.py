"""The built-in models' names and aliases, known without importing them (light: no pydantic).

Validating ``ar_model`` is part of reading the settings, which a script's
``imagear settings get`` does on every call; the registry (:mod:`imagear.models.registry`)
imports every descriptor and their pydantic options (30-80 ms) to answer what this table
answers for the built-ins. ``tests/test_model_names.py`` holds it equal to the descriptors.
"""

from __future__ import annotations

BUILTIN_NAMES: dict[str, tuple[str, ...]] = {
    "svd": ("stable-video-diffusion", "svd-img2vid"),
    "svd-xt": ("svd_xt", "stable-video-diffusion-xt", "svd-img2vid-xt"),
    "cogvideox-2b": ("cogvideox2b", "cogvideox-2b-t2v"),
    "cogvideox-5b-i2v": ("cogvideox-5b", "cogvideox-i2v", "cogvideox5b-i2v"),
    "wan-2.1": ("wan", "wan2.1", "wan21", "wan-2.1-i2v-480p"),
    "wan-2.2": ("wan2.2", "wan22", "wan-2.2-ti2v-5b", "wan2.2-ti2v-5b"),
    "wan-2.2-a14b": ("wan2.2-a14b", "wan22-a14b", "wan-2.2-i2v-a14b"),
    "ltx-video": ("ltx", "ltxv", "ltx-video-i2v"),
    "kenburns": ("ken-burns", "ken_burns"),
}
"""Each built-in model's name and its aliases (the registry's lookup: case-insensitive)."""

_CANONICAL = {
    alias.lower(): name for name, aliases in BUILTIN_NAMES.items() for alias in (name, *aliases)
}


def builtin_name(name: str) -> str | None:
    """The built-in model ``name`` (or one of its aliases, any case) stands for, or None."""
    return _CANONICAL.get(name.strip().lower())


__all__ = ["BUILTIN_NAMES", "builtin_name"]
