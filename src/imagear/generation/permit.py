"""Permits: how a caller bounds the generations in flight, handed to the pipeline explicitly.

The pipeline acquires the permit after the upload is prepared and before the generate stage
sends it (or runs the engine), and releases it as soon as the clip is back, before it is
checked and stored. :meth:`GenerationPermit.acquire` returning False means the caller stopped
while the record waited: nothing was sent, and the pipeline raises :class:`StoppedWaiting`.
"""

from __future__ import annotations

from typing import Protocol


class GenerationPermit(Protocol):
    """A slot in the generation step for one record."""

    def acquire(self) -> bool:
        """Wait for the slot; False when the caller stopped meanwhile (nothing is held)."""
        ...

    def release(self) -> None:
        """Give the slot back (a no-op when it is not held)."""
        ...


class Unlimited:
    """The permit of a caller that does not bound generations: always granted at once."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


UNLIMITED = Unlimited()


class StoppedWaiting(Exception):
    """The permit was refused: the caller stopped while the record waited for a generation
    slot. Nothing was sent; a batch gives the record's claim back."""


__all__ = ["UNLIMITED", "GenerationPermit", "StoppedWaiting", "Unlimited"]
