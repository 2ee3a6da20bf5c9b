"""How a front end names options in the registry's messages: :class:`Wording`.

The registry knows options by their option names (num_frames, motion_bucket_id, ...); how a
user gives them depends on the front end: the command line has flags and key=value pairs
(its wording is in :mod:`imagear.cli.wording`), the server and the web console have form
fields. Each front end hands :func:`~imagear.models.resolve_generation` its own wording;
without one, messages name the options by their option names (:class:`OptionNames`).
"""

from __future__ import annotations

from typing import Literal, Protocol

from imagear.models.base import COMMON_PARAMETERS

GivenAs = Literal["option", "pair"]
"""How a per-call value was given: ``option``, one of the common parameters (the keys of
``overrides``); ``pair``, a model option (the keys of ``extra``, as the caller spelt them)."""


class Wording(Protocol):
    """How one front end words options in messages."""

    def label(self, key: str, given_as: GivenAs) -> str:
        """How the user gives ``key`` (a flag, a key=value pair, a form field)."""
        ...

    def term(self, key: str) -> str:
        """``key`` named in running text about a setting (``ar_num_frames=14 is not valid for
        wan-2.1 (frames: 4N+1, ...)``)."""
        ...

    def model(self, name: str) -> str:
        """How the user chooses model ``name`` (``model svd`` in option names)."""
        ...

    def motion_control(self) -> str | None:
        """The one control that takes either a motion bucket (a number, ``motion_bucket_id``)
        or a motion name (``motion``), where the front end has one (the command line does);
        None where the two are separate options."""
        ...

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        """Where to see ``model``'s options (``listed``: the message has just named them)."""
        ...


class OptionNames:
    """The wording that names every option by its option name (the default)."""

    def label(self, key: str, given_as: GivenAs) -> str:
        return key

    def term(self, key: str) -> str:
        return key

    def model(self, name: str) -> str:
        return f"model {name}"

    def motion_control(self) -> str | None:
        return None

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        return None


OPTION_NAMES = OptionNames()


def name_of(wording: Wording, key: str) -> str:
    """``key`` as the user would give it, when the call did not give it."""
    return wording.label(key, "option" if key in COMMON_PARAMETERS else "pair")


__all__ = ["OPTION_NAMES", "GivenAs", "OptionNames", "Wording", "name_of"]
