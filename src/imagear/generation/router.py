"""Route: which generator makes a record's clip (in this process, a server or a pool of them).

:class:`Router` keeps one generator per destination (HTTP clients and in-process engines are
expensive to make) and is shared by every record an Animator animates; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagear import heratio
from imagear.generation.protocol import Generator
from imagear.generators import ClientOptions, LocalGenerator, RemoteGenerator

if TYPE_CHECKING:
    import httpx

    from imagear.app import App
    from imagear.settings import Settings


class Router:
    """Where generation requests go, and the generator for each destination.

    ``transport`` replaces the network of the HTTP clients (tests); ``request_timeout``
    overrides ``ar_request_timeout``; ``client_options`` go to each client.
    """

    def __init__(
        self,
        app: App,
        *,
        transport: httpx.BaseTransport | None = None,
        request_timeout: float | None = None,
        client_options: ClientOptions | None = None,
        local: Callable[[], Generator] | None = None,
    ) -> None:
        self.app = app
        self._transport = transport
        self._request_timeout = request_timeout
        self._client_options = dict(client_options or {})
        self._lock = threading.Lock()
        self._remotes: dict[tuple[tuple[str, ...], str, float], Generator] = {}
        self._local = local() if local is not None else LocalGenerator(app.config)

    def route(self, settings: Settings, in_process: bool = False) -> heratio.Route:
        """Where generation requests go (``server_url`` in imagear.toml, else the database's
        ``ar_server_url``), and why."""
        return heratio.route(self.app.config, settings, heratio.is_shared(self.app), in_process)

    def generator(self, settings: Settings, in_process: bool = False) -> Generator:
        """The generator for the route (made once per server, token and timeout)."""
        return self.for_route(self.route(settings, in_process), settings)

    def for_route(self, route: heratio.Route, settings: Settings) -> Generator:
        url = route.url
        if url is None:
            return self._local
        # advice names the setting that chose the server (imagear.toml's, or the database's)
        setting = "server_url" if route.source.startswith("server_url") else "ar_server_url"
        timeout = self._request_timeout or max(60.0, float(settings.ar_request_timeout))
        # ar_server_pool adds servers to the one the route names (imagear.pool); httpx and the
        # pool are loaded here, for a server: an in-process generation never needs them
        from imagear.pool import PoolGenerator, pool_urls

        urls = tuple(pool_urls(url, settings.ar_server_pool))
        token = self.app.config.server_token
        key = (urls, token, timeout)
        with self._lock:
            remote = self._remotes.get(key)
            if remote is None:
                cap = int(self.app.config.max_clip_mb * 1024 * 1024)  # refused while streaming
                options = {
                    "max_clip_bytes": cap,
                    "setting": setting,
                    "sleep": self.app.sleep,  # the App's pause between retries
                    **self._client_options,
                }
                if len(urls) > 1:
                    remote = PoolGenerator(
                        urls,
                        token=token,
                        timeout=timeout,
                        transport=self._transport,
                        client_options=options,
                    )
                else:
                    remote = RemoteGenerator(
                        url,
                        token=token,
                        timeout=timeout,
                        transport=self._transport,
                        client_options=options,
                    )
                remote.whole_bytes = int(self.app.config.upload_whole_mb * 1024 * 1024)
                self._remotes[key] = remote
            return remote

    def close(self) -> None:
        """Close the HTTP clients and release in-process engines."""
        with self._lock:
            remotes, self._remotes = list(self._remotes.values()), {}
        for remote in remotes:
            remote.close()
        self._local.close()


__all__ = ["ClientOptions", "Router"]
