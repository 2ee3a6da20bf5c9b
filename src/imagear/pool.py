"""A pool of image-to-video servers: the one ``ar_server_url`` names (or ``server_url`` in
imagear.toml, per install) and the further ones of ``ar_server_pool`` (docs/batch.md, "A pool
of servers"). :class:`PoolGenerator` prepares the upload once, as
:class:`~imagear.generators.RemoteGenerator` does, and :class:`ServerPool` picks the server:

- a free slot first: a server takes at most ``queue_size + 1`` requests at once when its
  ``/health`` says ``queue_size``, else what it held when it last answered 503/429 (and nothing
  before its ``Retry-After``); the least full server gets the request, or it waits here;
- a refused connection (nothing was sent) moves the request to another server, and the server
  is taken out and probed again after :data:`PROBE_SECS`, doubling up to :data:`PROBE_MAX_SECS`;
- a server that keeps answering errors is taken out too, and a request it answered with an
  error goes to another server without spending the record's attempt (:mod:`.pool_health`);
- a request that reached a server is never sent again while it could still be answered: a
  timeout, an error or a broken connection is the record's failure, except when the server is
  proven gone (its address refuses connections after the break): another server gets it, once;
- a server whose ``/health`` lacks the model gets no request for it; with no server left,
  ServerUnreachable (or ModelNotAvailable) names every server and why.

Health and pre-flight report every server: the first ready server's health, with each server's
state in ``extra["pool"]`` (:func:`pool_lines` words it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from imagear.client import TurnRefused, VideoClient
from imagear.errors import (
    BadResponse,
    ImagearError,
    ModelNotAvailable,
    ServerBusy,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
)
from imagear.generators import ClientOptions, Fields, RemoteGenerator, server_models
from imagear.pool_health import (
    PROBE_TIMEOUT,
    Streak,
    broke,
    capacity_of,
    not_in,
    pool_lines,
    refuses,
    server_failed,
    sick_error,
)
from imagear.urls import parse_pool
from imagear.wire import ClipResponse, Health

if TYPE_CHECKING:
    from imagear.models import ModelDescriptor
    from imagear.settings import Settings

PROBE_SECS = 5.0
"""Seconds before a server taken out is probed again (doubling while it stays down)."""
PROBE_MAX_SECS = 60.0
BUSY_SECS = 2.0
"""How long a busy server gets no request when it did not say (no ``Retry-After``)."""


def pool_urls(primary: str | None, pool: str | None) -> list[str]:
    """Every server: ``primary`` first (None: requests run in-process, so no pool), then those
    of ``pool``, each once."""
    if not primary:
        return []
    urls = [primary.rstrip("/")]
    for url in parse_pool(pool):
        if url not in urls:
            urls.append(url)
    return urls


@dataclass
class Server:
    """One server of the pool and what the pool knows of it."""

    url: str
    client: VideoClient
    capacity: int | None = None  # requests it takes at once; None: not known (unbounded)
    in_flight: int = 0
    peak: int = 0  # the most requests in flight at once
    up: bool = True
    error: str | None = None  # why it was taken out
    next_probe: float = 0.0
    probe_wait: float = PROBE_SECS
    probing: bool = False
    busy_until: float = 0.0
    models: set[str] | None = None  # None: it did not say
    sent: int = 0
    streak: Streak = field(default_factory=Streak)  # its recent error answers

    @property
    def shown(self) -> str:
        return self.client.shown_url

    def serves(self, model: str | None) -> bool:
        return model is None or self.models is None or model in self.models

    def state(self) -> dict[str, object]:
        return {
            "url": self.shown,
            "reachable": self.up,
            "capacity": self.capacity,
            "in_flight": self.in_flight,
            "peak": self.peak,
            "sent": self.sent,
            "error": self.error,
        }


@dataclass(frozen=True)
class Slot:
    """A request's place on a server (:meth:`ServerPool.slot`); what it learns goes through it."""

    pool: ServerPool
    server: Server

    def busy(self, wait: float | None) -> None:
        self.pool.busy(self.server, wait)

    def take_out(self, err: ImagearError) -> None:
        self.pool.take_out(self.server, err)

    def gone(self) -> bool:
        return self.pool.gone(self.server)

    def answered(self) -> None:
        self.pool.answered(self.server)

    def failed(self, err: ImagearError) -> None:
        self.pool.failed(self.server, err)


class ServerPool:
    """The servers and their state; thread-safe. ``clock`` replaces ``time.monotonic`` (tests)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        token: str = "",
        timeout: float = 900.0,
        transport: httpx.BaseTransport | None = None,
        client_options: ClientOptions | None = None,
        probe_secs: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        options = dict(client_options or {})
        # the pool decides what a refused connection or a busy answer (TurnRefused) means
        options.update(max_retries=0, wait_turns=False)
        self.servers = [
            Server(
                url, VideoClient(url, token=token, timeout=timeout, transport=transport, **options)
            )
            for url in urls
        ]
        self.timeout = float(timeout)
        self.probe_secs = PROBE_SECS if probe_secs is None else probe_secs
        self._clock = clock
        self._cond = threading.Condition()
        self._asked = threading.Lock()
        self._known = False  # every server's /health was asked once (capacity, models)

    def close(self) -> None:
        for server in self.servers:
            server.client.close()

    def now(self) -> float:
        """The pool's clock (deadlines of :meth:`acquire` are on it)."""
        return self._clock()

    # -- what the servers say ----------------------------------------------------------------

    def _learn(self, server: Server, health: Health) -> None:
        with self._cond:
            server.capacity = capacity_of(health)
            names = server_models(health)
            server.models = names if (health.loaded_models or health.available_models) else None
            server.up, server.error = True, None
            server.probe_wait = self.probe_secs
            self._cond.notify_all()

    def probe(self, server: Server) -> Health | ImagearError:
        """``GET /health`` of one server: it is (back) in the pool when it answers, taken out
        when it does not. Returns its health or the error."""
        try:
            health = server.client.health(timeout=PROBE_TIMEOUT)
        except ImagearError as err:
            self.take_out(server, err)
            return err
        finally:
            with self._cond:
                server.probing = False
        self._learn(server, health)
        return health

    def probe_all(self) -> list[Health | ImagearError]:
        """Every server's health (asked at once), in pool order."""
        with ThreadPoolExecutor(len(self.servers), thread_name_prefix="imagear-probe") as ex:
            found = list(ex.map(self.probe, self.servers))
        self._known = True
        return found

    def _know(self) -> None:
        """Ask every server's /health once, before the first request is routed."""
        if self._known:
            return
        with self._asked:
            if not self._known:
                self.probe_all()

    def _probe_later(self, now: float) -> None:
        """Probe, in the background, the servers taken out whose time has come (lock held)."""
        for server in self.servers:
            if not server.up and not server.probing and now >= server.next_probe:
                server.probing = True
                threading.Thread(
                    target=self._probe_quietly, args=(server,), name="imagear-probe", daemon=True
                ).start()

    def _probe_quietly(self, server: Server) -> None:
        try:
            self.probe(server)
        except Exception:  # noqa: BLE001 - e.g. the pool was closed meanwhile: no traceback
            with self._cond:
                server.probing = False

    # -- routing -----------------------------------------------------------------------------

    def take_out(self, server: Server, err: ImagearError, wait: float | None = None) -> None:
        """``server`` stopped answering: no request goes there until a probe answers (after
        ``wait`` seconds when given, else :data:`PROBE_SECS` doubling while it stays down)."""
        with self._cond:
            if wait is not None:
                server.probe_wait = wait
            elif server.up:
                server.probe_wait = self.probe_secs
            else:
                server.probe_wait = min(PROBE_MAX_SECS, server.probe_wait * 2)
            server.up, server.error = False, err.message
            server.next_probe = self._clock() + server.probe_wait
            self._cond.notify_all()

    def answered(self, server: Server) -> None:
        """``server`` answered a clip: its error row ends."""
        with self._cond:
            server.streak.answered()

    def failed(self, server: Server, err: ImagearError) -> None:
        """``server`` answered an error: out of the rotation when it keeps doing so."""
        with self._cond:
            errors = server.streak.errors + 1
            if not server.streak.failed(self._clock()):
                return
            wait = server.streak.out_for(self.probe_secs, PROBE_MAX_SECS)
            self.take_out(server, sick_error(server.shown, err, errors), wait)

    def others(self, model: str | None, avoid: Sequence[Server]) -> bool:
        """Is a server other than those of ``avoid`` in the rotation for ``model``?"""
        with self._cond:
            return any(s.up and s.serves(model) and not_in(s, avoid) for s in self.servers)

    def busy(self, server: Server, wait: float | None) -> None:
        """``server`` answered 429/503 with ``server.in_flight`` requests of ours (this one
        included): it takes one fewer at once, and nothing before ``wait`` seconds."""
        with self._cond:
            server.capacity = max(1, server.in_flight - 1)
            server.busy_until = self._clock() + (BUSY_SECS if wait is None else wait)
            self._cond.notify_all()

    @contextlib.contextmanager
    def slot(
        self, model: str | None, deadline: float, avoid: Sequence[Server] = ()
    ) -> Iterator[Slot]:
        """A free slot for ``model`` on the best server but ``avoid``, held while the block runs."""
        server = self.acquire(model, deadline, avoid)
        try:
            yield Slot(self, server)
        finally:
            self.release(server)

    def acquire(self, model: str | None, deadline: float, avoid: Sequence[Server] = ()) -> Server:
        """A server with a free slot for ``model`` (its slot is held until :meth:`release`);
        waits for one until ``deadline`` (on the pool's clock)."""
        self._know()
        reprobed = False
        with self._cond:
            while True:
                now = self._clock()
                self._probe_later(now)
                usable = [s for s in self.servers if s.up and s.serves(model) and not_in(s, avoid)]
                free = [
                    s
                    for s in usable
                    if now >= s.busy_until and (s.capacity is None or s.in_flight < s.capacity)
                ]
                if free:
                    best = min(
                        free,
                        key=lambda s: (s.in_flight / (s.capacity or 1), s.in_flight, s.sent),
                    )
                    best.in_flight += 1
                    best.peak = max(best.peak, best.in_flight)
                    best.sent += 1
                    return best
                if not usable and not any(s.probing for s in self.servers):
                    if not reprobed:  # each down server gets one more chance, now
                        reprobed = True
                        self._cond.release()
                        try:
                            for server in [s for s in self.servers if not s.up]:
                                self.probe(server)
                        finally:
                            self._cond.acquire()
                        continue
                    raise self._none_left(model)
                left = deadline - now
                if left <= 0:
                    raise self._all_busy()
                waits = [s.busy_until - now for s in usable if s.busy_until > now]
                waits += [s.next_probe - now for s in self.servers if not s.up and not s.probing]
                self._cond.wait(min([left, 1.0, *[w for w in waits if w > 0]]))

    def release(self, server: Server) -> None:
        with self._cond:
            server.in_flight = max(0, server.in_flight - 1)
            self._cond.notify_all()

    def gone(self, server: Server) -> bool:
        """After a broken connection: is ``server`` gone, i.e. does its address refuse a new
        connection now (so the process that had the request is dead, and its generation with
        it)? Taken out when it is. A timeout or an answer says it may still be generating."""
        if not refuses(server.url):
            return False
        self.take_out(
            server,
            ServerUnreachable(
                f"The image-to-video server at {server.shown} went away while generating "
                "(the connection broke, and it refuses connections now)."
            ),
        )
        return True

    # -- errors ------------------------------------------------------------------------------

    def _listing(self) -> str:
        return "; ".join(
            f"{s.shown} ({s.error or ('up' if s.up else 'down')})" for s in self.servers
        )

    def _none_left(self, model: str | None) -> ImagearError:
        if any(s.up for s in self.servers):
            return ModelNotAvailable(
                f"No server of the pool has model {model} ({self._listing()}).",
                "Load it on a server, or choose another model with {flag:model NAME} or "
                "{set:ar_model NAME}.",
            )
        return ServerUnreachable(
            f"Cannot reach any image-to-video server of the pool: {self._listing()}.",
            "Check ar_server_url and ar_server_pool ({get:ar_server_pool}) "
            "and that the services are running ({see:health}).",
        )

    def _all_busy(self) -> ServerBusy:
        return ServerBusy(
            f"Every image-to-video server of the pool stayed busy for {self.timeout:g} s "
            f"({self._listing()}).",
            "Try again later, or lower the batch concurrency.",
        )


class PoolGenerator(RemoteGenerator):
    """Generation on a pool of servers (see the module docstring)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        token: str = "",
        timeout: float = 900.0,
        transport: httpx.BaseTransport | None = None,
        client_options: ClientOptions | None = None,
        probe_secs: float | None = None,
    ) -> None:
        self.pool = ServerPool(
            urls,
            token=token,
            timeout=timeout,
            transport=transport,
            client_options=client_options,
            probe_secs=probe_secs,
        )
        first = self.pool.servers[0].shown
        self.url = f"{first} (+{len(urls) - 1} in the pool)"  # messages and progress
        self.client = self.pool.servers[0].client

    # -- health --------------------------------------------------------------------------------

    def _report(self, found: list[Health | ImagearError], model: str | None = None) -> Health:
        states = []
        first: Health | None = None
        for server, got in zip(self.pool.servers, found, strict=True):
            state = server.state()
            if isinstance(got, Health):
                state["ready"] = server.serves(model)
                state["default_model"], state["status"] = got.default_model, got.status
                state["loaded_models"] = list(got.loaded_models)
                if first is None and state["ready"]:
                    first = got
            else:
                state["ready"] = False
                state["kind"] = got.kind
            states.append(state)
        if first is None:
            raise self.pool._none_left(model)
        first.extra["pool"] = states
        return first

    def health(self, settings: Settings) -> Health:
        """The first reachable server's health, with every server's state in
        ``extra["pool"]``; ServerUnreachable naming each when none answers."""
        return self._report(self.pool.probe_all())

    def check_ready(self, descriptor: ModelDescriptor, settings: Settings) -> Health:
        """Every server asked; fails only when none can take ``descriptor``'s requests."""
        return self._report(self.pool.probe_all(), descriptor.name)

    # -- sending -------------------------------------------------------------------------------

    def send(
        self,
        payload: bytes,
        sent: Fields,
        dest: Path,
        filename: str,
        progress: Callable[..., None],
        whole: bool = False,
    ) -> ClipResponse:
        pool = self.pool
        animate = partial(VideoClient.animate, filename=filename, extras=True, reference=whole)
        deadline = pool.now() + pool.timeout
        model = str(sent["model"])  # fields() always names the model
        resent, failed, failure = False, list[Server](), None  # failed: answered an error
        while True:
            inside = False
            try:
                with pool.slot(model, deadline, failed) as slot:
                    inside = True
                    try:
                        clip = animate(slot.server.client, payload, sent, dest, progress=progress)
                        slot.answered()
                        return clip
                    except TurnRefused as turn:  # 429/503: it did not take the request
                        slot.busy(min(turn.wait, pool.timeout))
                    except ServerUnreachable as err:  # refused before anything was sent
                        slot.take_out(err)
                    except (BadResponse, ServerTimeout) as err:
                        # reached the server: never sent again while it could still be answered;
                        # only a server proven gone (refusing connections now) is replaced
                        if resent or not broke(err) or not slot.gone():
                            raise
                        resent = True
                    except ServerError as err:  # an error answer: another server, once each
                        if not server_failed(err):
                            raise
                        slot.failed(err)
                        failed.append(slot.server)
                        if not pool.others(model, failed):
                            raise
                        failure = err
            except (ServerUnreachable, ModelNotAvailable):
                if failure is None or inside:  # no server left after an error answer: that
                    raise  # error is the record's failure (not the run's)
                raise failure from None

    def close(self) -> None:
        self.pool.close()


__all__ = [
    "PoolGenerator",
    "Server",
    "ServerPool",
    "Slot",
    "capacity_of",
    "pool_lines",
    "pool_urls",
]
