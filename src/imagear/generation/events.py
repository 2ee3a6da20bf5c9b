"""Progress events of the generation pipeline: small typed values, observed only.

An observer (:data:`Observer`) is called with each event; what it does cannot change the flow
(the batch's concurrency is a :mod:`permit <imagear.generation.permit>`, not an observer).
:func:`keywords` adapts a callback of the older form ``progress(name, object_id=..., **data)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar


@dataclass(frozen=True)
class Notice:
    """A warning about the request (e.g. "svd ignores --prompt"), once each."""

    NAME: ClassVar[str] = "notice"
    object_id: int | None
    message: str


@dataclass(frozen=True)
class Started:
    """Generation starts: the model, where it runs, what is sent, whether a clip is replaced."""

    NAME: ClassVar[str] = "start"
    object_id: int
    model: str
    remote: bool
    url: str | None
    params: Mapping[str, object] = field(default_factory=dict)
    replacing: bool = False


@dataclass(frozen=True)
class Phase:
    """A stage begins: ``phase`` is "generate", "probe", "check" or "store"."""

    NAME: ClassVar[str] = "phase"
    object_id: int
    phase: str
    message: str


@dataclass(frozen=True)
class Uploaded:
    """The prepared image is sent (remote generators only)."""

    NAME: ClassVar[str] = "upload"
    object_id: int
    width: int
    height: int
    bytes: int


@dataclass(frozen=True)
class Transfer:
    """Bytes of the clip received so far (remote generators only); ``total`` -1: not known."""

    NAME: ClassVar[str] = "transfer"
    object_id: int
    done: int
    total: int | None


@dataclass(frozen=True)
class Done:
    """The record is done: ``status`` "created", "replaced" or "skipped"."""

    NAME: ClassVar[str] = "done"
    object_id: int
    status: str


Event = Notice | Started | Phase | Uploaded | Transfer | Done
Observer = Callable[[Event], None]
KeywordCallback = Callable[..., None]


def ignore(event: Event) -> None:
    """The observer that observes nothing."""


def keywords(callback: KeywordCallback) -> Observer:
    """An observer calling ``callback(name, object_id=..., **fields)`` for each event."""

    def observe(event: Event) -> None:
        data = {f.name: getattr(event, f.name) for f in fields(event) if f.name != "object_id"}
        if isinstance(event, Started):
            data["params"] = dict(event.params)
        callback(event.NAME, object_id=event.object_id, **data)

    return observe


__all__ = [
    "Done",
    "Event",
    "KeywordCallback",
    "Notice",
    "Observer",
    "Phase",
    "Started",
    "Transfer",
    "Uploaded",
    "ignore",
    "keywords",
]
