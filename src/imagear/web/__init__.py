"""`imagear web`: the curator console, a small server-rendered FastAPI + Jinja2 app.

Modules: :mod:`~imagear.web.app` (the app, error pages, the pages curators read),
:mod:`~imagear.web.actions` (the changes: generate, delete, approve, reject; Heratio's routes),
:mod:`~imagear.web.admin` (settings form, health card, recent generations, batch failures),
:mod:`~imagear.web.media` (clip, poster, preview and master files, with HTTP Range),
:mod:`~imagear.web.auth` (admin token: Bearer header or signed session cookie; CSRF),
:mod:`~imagear.web.worker` (generations in one background thread), :mod:`~imagear.web.run`
(bind and serve). Importing this package loads nothing heavy; FastAPI, Jinja2 and uvicorn load
in those modules (the ``server`` extra).
"""

DEFAULT_PORT = 8470

__all__ = ["DEFAULT_PORT"]
