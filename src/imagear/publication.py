"""Publication: which records a guest (a visitor who has not signed in) may see.

The rule is :mod:`imagear.db.publication`'s (AtoM's publication status on an AtoM/Heratio
database; every record on imagear's own), switched off altogether by the config key
``web_public = false`` (``IMAGEAR_WEB_PUBLIC``). Signed-in users see every record; front ends
ask :func:`guest_may_see` only for guests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagear.app import App


def public(app: App) -> bool:
    """Whether guests see anything at all (config ``web_public``, default true)."""
    return bool(app.config.web_public)


def guest_may_see(app: App, object_id: int) -> bool:
    """Whether a guest may see record ``object_id`` (its clip, poster, preview, status, page)."""
    from imagear.db.publication import is_published

    return is_published(app.engine, object_id, public(app))
