"""Sharing a database with Heratio: where this install sends its requests, who a clip is
recorded as created by, and what a clip may be so that Heratio's columns can record it.

- :func:`route`: on a Heratio database the ``ar_server_url`` row is shared, and the two programs
  read it differently: Heratio ignores a loopback or private-network URL (and an empty one) and
  routes through its AI gateway with the gateway key; imagear uses the value as given (empty:
  in-process engines). So the choice is per install: ``server_url`` in imagear.toml (an http(s)
  URL, or ``in-process``) overrides the row. (imagear does not guess which rows Heratio
  ignores: Heratio's rule lives in its AnimationService and an approximation warned about URLs
  Heratio uses; `health` says where requests go and why.)
- :func:`created_by`: Heratio's ``object_image_ar.created_by`` is an INT user id; imagear
  writes ``heratio_user_id`` (or NULL, as Heratio's own CLI does) there, and the ``user`` name
  only on its own database.
- :func:`check_duration`: a clip whose length a column cannot hold (Heratio's
  ``mp4_duration_secs`` is DECIMAL(4,2): at most 99.99 s) is refused before anything is
  generated, with the limit named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagear.errors import InvalidOption
from imagear.urls import IN_PROCESS

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from imagear.app import App
    from imagear.config import Config
    from imagear.settings import Settings


@dataclass(frozen=True)
class Route:
    """Where generation requests go: ``url`` (None: the in-process engines), and why
    (``source``)."""

    url: str | None
    source: str


def route(config: Config, settings: Settings, shared: bool, in_process: bool = False) -> Route:
    """Where this install sends generation requests (see the module docstring). ``shared``:
    the database is a Heratio one, whose ``ar_server_url`` row Heratio reads too."""
    if in_process:
        return Route(None, "in-process for this call")
    origin = config.sources.get("server_url", "default")
    if config.server_url == IN_PROCESS:
        return Route(None, f"server_url = in-process ({origin})")
    if config.server_url:
        return Route(config.server_url, f"server_url ({origin})")
    row = settings.ar_server_url
    where = "ar_server_url in the database" + (", shared with Heratio" if shared else "")
    if not row:
        return Route(None, f"{where} is empty: in-process engines")
    return Route(row, where)


def created_by(config: Config, shared: bool) -> int | str | None:
    """The ``object_image_ar.created_by`` value: on a Heratio database the configured Heratio
    user id (an int) or None; on imagear's own database the ``user`` name."""
    if shared:
        return config.heratio_user_id
    return config.user


def created_by_user(app: App, name: str, heratio_user_id: int | None) -> int | str | None:
    """``created_by`` for a clip a console user asked for: on a Heratio database the user's
    Heratio user id (else the configured one); on imagear's own database the user's name."""
    if is_shared(app):
        return heratio_user_id if heratio_user_id is not None else app.config.heratio_user_id
    return name


def check_duration(engine: Engine, num_frames: int, fps: float, model: str) -> None:
    """InvalidOption (nothing generated) when a clip of ``num_frames`` at ``fps`` is longer
    than ``object_image_ar.mp4_duration_secs`` can hold on this database."""
    from imagear.db import clips as clips_db

    limit = clips_db.limit(engine, "mp4_duration_secs")
    if limit is None or limit.max_value is None or not fps:
        return
    seconds = num_frames / float(fps)
    if round(seconds, limit.scale or 0) <= limit.max_value:
        return
    most = int(limit.max_value * fps)
    raise InvalidOption(
        f"A clip of {num_frames} frames at {fps:g} fps lasts {seconds:.2f} s, longer than "
        f"this database can record: object_image_ar.mp4_duration_secs is {limit.type_text} "
        f"(at most {limit.max_value:g} s). Nothing was generated.",
        f"Ask {model} for at most {most} frames at {fps:g} fps (a clip of at most "
        f"{limit.max_value:g} s), or for a higher fps.",
        fields=("num_frames", "fps"),
    )


def is_shared(app: App) -> bool:
    """Whether ``app``'s database is an AtoM/Heratio one (its rows are shared with Heratio)."""
    from imagear.db import clips as clips_db

    return clips_db.is_heratio(app.engine)


__all__ = [
    "IN_PROCESS",
    "Route",
    "check_duration",
    "created_by",
    "created_by_user",
    "is_shared",
    "route",
]
