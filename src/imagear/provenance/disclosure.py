"""The words a person reads next to a clip (EU AI Act Article 50(4): AI-generated video is
disclosed as such): records show, recent, the web record page and grid tile.

Light: the model registry is imported inside the function; a model imagear does not know is
taken to be AI (never claim less than may be true), no model at all is Heratio's earlier
pan-and-zoom renderer.
"""

from __future__ import annotations

AI_SHORT = "AI-generated"
PAN_SHORT = "animated pan, no AI"
PAN_LONG = "Not AI: an animated pan over the photograph; nothing in it was invented."


def is_ai(model: str | None) -> bool:
    """Whether a clip made by ``model`` is AI-generated (unknown models count as AI)."""
    if not model:
        return False
    from imagear.errors import UnknownModel
    from imagear.models import get_model

    try:
        return bool(get_model(model).generative)
    except UnknownModel:
        return True


def short(model: str | None) -> str:
    """A table cell: "AI-generated" or "animated pan, no AI"."""
    return AI_SHORT if is_ai(model) else PAN_SHORT


def sentence(model: str | None) -> str:
    """One plain sentence for a record page."""
    if is_ai(model):
        return (
            f"AI-generated: the model {model} invented this motion from the photograph; "
            "it is not film of the scene."
        )
    return PAN_LONG


__all__ = ["AI_SHORT", "PAN_LONG", "PAN_SHORT", "is_ai", "sentence", "short"]
