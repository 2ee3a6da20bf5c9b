"""The httpx client for an image-to-video server: ``GET /health`` and ``POST /animate``.

It speaks the Heratio wire protocol (REFERENCE.md section 1) and maps every failure to an
:mod:`imagear.errors` class whose message says what happened and whose advice says what to try.

- Timeouts: connect 10 s; one real total deadline per call (``timeout``), enforced across
  connecting, uploading, waiting and downloading. httpx timeouts are per operation, so the read
  timeout is set to what is left, every chunk checks the clock, and a watchdog shuts the socket
  down at the deadline so even a stalled read cannot outlive it.
- Retries only where it is safe: the connection was refused before anything was sent
  (bounded in count and by the deadline), or the server answered 429/503: then the request
  waits its turn (never sooner than ``Retry-After``) for as long as the deadline allows.
- The clip is streamed to a file given by the caller, never held in memory; a body that is not
  an MP4, is under 1024 bytes (Heratio's rule), ends early or is larger than
  ``max_clip_bytes`` (config ``max_clip_mb``) raises :class:`BadResponse`.
- Messages name the server by its URL without a password (``http://***@host``).
- ``Authorization: Bearer <token>`` is sent when a token is configured; a 401/403 says
  whether no token was sent or the one sent was refused.
- ``X-Motion-Bucket`` missing (a model without one) or 0: the ``motion_bucket_id`` sent, if any.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from imagear.deadline import Deadline, watchdog
from imagear.errors import (
    AuthenticationFailed,
    BadResponse,
    ConfigError,
    ImagearError,
    ModelNotAvailable,
    OutOfGpuMemory,
    QualityRejected,
    ServerBusy,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    StorageError,
    UploadTooLarge,
)
from imagear.urls import redact_url, token_problem
from imagear.wire import (
    ClipResponse,
    Health,
    check_head,
    clip_too_big,
    error_text,
    error_type,
    extras_headers,
    form_value,
    header,
    motion_bucket,
    read_capped,
    retry_after,
)

CONNECT_TIMEOUT = 10.0
HEALTH_TIMEOUT = 30.0
MIN_BODY_BYTES = 1024  # Heratio treats a smaller body as a failure
MAX_RETRIES = 3
MAX_RETRY_WAIT = 60.0  # a Retry-After longer than this is not waited for (except when busy)
MAX_BUSY_WAIT = 8.0  # without a Retry-After, a busy server is asked again at least this often
MIN_BUSY_WAIT = 0.5  # and never more often than this
DEFAULT_MAX_CLIP_BYTES = 500 * 1024 * 1024  # config max_clip_mb (IMAGEAR_MAX_CLIP_MB)
_ERROR_BODY_LIMIT = 64 * 1024

Progress = Callable[..., None]


pause = time.sleep  # between retries: the default ``sleep`` of a VideoClient


class TurnRefused(ServerBusy):
    """A busy answer (429/503) to a client with ``wait_turns=False``: wait ``wait`` seconds."""

    def __init__(self, busy: ImagearError, wait: float) -> None:
        super().__init__(busy.message, busy.advice)
        self.wait = wait


def _turn_wait(attempt: int, asked: float | None) -> float:
    if asked is not None:
        return max(asked, MIN_BUSY_WAIT)
    return min(MAX_BUSY_WAIT, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


class VideoClient:
    """A client for one image-to-video server. Thread-safe; close it (or use ``with``).

    ``transport`` replaces the network (tests pass respx's or an ``httpx.MockTransport``);
    ``sleep`` and ``clock`` replace :func:`pause` / ``time.monotonic`` (tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = 900.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_clip_bytes: int | None = DEFAULT_MAX_CLIP_BYTES,
        busy_retries: int | None = None,
        wait_turns: bool = True,
        setting: str = "ar_server_url",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # for advice: the setting that named this server (ar_server_url, or imagear.toml's)
        self.setting = setting
        self.see = "{see:config}" if setting == "server_url" else f"{{get:{setting}}}"
        self.shown_url = redact_url(self.base_url)  # for messages and logs: no password
        if (problem := token_problem(token)) is not None:
            raise ConfigError(
                f"server_token (IMAGEAR_SERVER_TOKEN) cannot be sent as a bearer token: {problem}.",
                "Set it to the token the server was started with: printable ASCII, no spaces.",
            )
        self.max_clip_bytes = max_clip_bytes
        self.busy_retries = busy_retries  # None: wait for a turn as long as the deadline allows
        self.wait_turns = wait_turns  # False: a busy /animate answer raises TurnRefused
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self._sleep = sleep if sleep is not None else pause
        self._clock = clock
        self.sends_token = bool(token)
        headers = {"User-Agent": "imagear"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> VideoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors ------------------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> ServerUnreachable:
        return ServerUnreachable(
            f"Cannot reach the image-to-video server at {self.shown_url}: "
            f"{redact_url(str(exc)) or type(exc).__name__}.",
            f"Check {self.setting} ({self.see}) and that the service is running there "
            "({see:health}).",
        )

    def _timed_out(self, seconds: float, what: str) -> ServerTimeout:
        return ServerTimeout(
            f"The image-to-video server at {self.shown_url} timed out after {seconds:g} s "
            f"while {what}.",
            "Raise ar_request_timeout ({set:ar_request_timeout 1800}), use "
            "fewer frames, or check that the server is not stuck ({see:health}).",
        )

    def _status_error(
        self, response: httpx.Response, body: bytes, what: str, attempts: int = 1
    ) -> ImagearError:
        code = response.status_code
        text = error_text(response, body)
        where = f"The image-to-video server at {self.shown_url}"
        if code == 400:
            return ModelNotAvailable(
                f"{where} refused the request (400): {text}.",
                "Check which models it has loaded with {see:health}, or pick another "
                "with {flag:model}.",
            )
        if code in (401, 403):
            if not self.sends_token:
                return AuthenticationFailed(
                    f"{where} requires a bearer token and none was sent ({code}): {text}.",
                    "Set the server's token with IMAGEAR_SERVER_TOKEN (or server_token in "
                    "imagear.toml).",
                )
            return AuthenticationFailed(
                f"{where} refused the bearer token that was sent ({code}): {text}.",
                "Check that IMAGEAR_SERVER_TOKEN (or server_token in imagear.toml) matches the "
                "token the server was started with (its IMAGEAR_SERVER_TOKEN).",
            )
        if code == 507:
            return OutOfGpuMemory(f"{where} ran out of GPU memory (507): {text}.")
        if code == 413:
            return UploadTooLarge(
                f"{where} refused the image as too large (413): {text}.",
                "Attach a smaller derivative of the master image, or raise the server's upload "
                "limit.",
            )
        if code in (429, 503):
            asked = retry_after(response.headers)
            hint = f" (it asked to retry after {asked:g} s)" if asked else ""
            return ServerBusy(
                f"{where} is busy ({code}: {text}); gave up after {attempts} "
                f"attempt{'s' if attempts != 1 else ''}{hint}.",
                "Try again later, or lower the batch concurrency.",
            )
        if code >= 500 and error_type(body) == "QualityRejected":
            return QualityRejected(
                f"{where} refused the clip it made (its quality gate): {text}.",
                "The previous clip (if any) is kept; try again (another seed is drawn when "
                "ar_seed is 0, or pass {flag:seed}), or try another model.",
            )
        if code == 404:
            return ServerError(
                f"{where} has no {what} endpoint (404): {text}.",
                f"Check that {self.setting} ({self.see}) points at the image-to-video server "
                "itself.",
            )
        return ServerError(
            f"{where} failed ({code}): {text}.",
            "Look at the server's log; {see:health} shows its state.",
        )

    # -- retries -----------------------------------------------------------------------------

    def _backoff(
        self, attempt: int, deadline: Deadline, asked: float | None, limit: int | None = None
    ) -> bool:
        """Sleep before retry ``attempt`` (1-based); False when no retry is left or fits."""
        if attempt > (self.max_retries if limit is None else limit):
            return False
        if asked is not None:
            wait = asked  # the server said when: never sooner, and give up if it is too far
            if wait > MAX_RETRY_WAIT:
                return False
        else:
            wait = min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
        if wait >= deadline.remaining():
            return False
        if wait > 0:
            self._sleep(wait)
        return True

    def _wait_turn(self, attempt: int, deadline: Deadline, asked: float | None) -> bool:
        """After busy answer ``attempt`` (429/503): wait a turn; False when it cannot fit."""
        if self.busy_retries is not None and attempt > self.busy_retries:
            return False
        if (wait := _turn_wait(attempt, asked)) >= deadline.remaining():
            return False
        self._sleep(wait)
        return True

    # -- /health -----------------------------------------------------------------------------

    def health(self, timeout: float | None = None, retries: int = 1) -> Health:
        """``GET /health``. Raises ServerUnreachable, ServerTimeout, ServerError, BadResponse.

        A refused connection is retried ``retries`` times (once by default: a health check
        should answer quickly).
        """
        limit = min(retries, self.max_retries)
        deadline = Deadline(
            min(self.timeout, timeout or HEALTH_TIMEOUT), self._clock, CONNECT_TIMEOUT
        )
        attempt = 0
        while True:
            try:
                response = self._http.get("/health", timeout=deadline.httpx_timeout())
            except httpx.ConnectError as exc:
                attempt += 1
                if self._backoff(attempt, deadline, None, limit):
                    continue
                raise self._unreachable(exc) from exc
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout):
                    raise self._unreachable(exc) from exc
                raise self._timed_out(deadline.seconds, "answering /health") from exc
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from exc
            if response.status_code in (429, 503):
                attempt += 1
                if self._backoff(attempt, deadline, retry_after(response.headers), limit):
                    continue
            if response.status_code != 200:
                raise self._status_error(
                    response, response.content[:_ERROR_BODY_LIMIT], "/health", attempt + 1
                )
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise BadResponse(
                    f"{self.shown_url}/health did not answer with a JSON object, so this is not "
                    "an image-to-video server.",
                    f"Check {self.setting} ({self.see}).",
                )
            return Health.from_json(data, url=self.shown_url)

    # -- /animate ----------------------------------------------------------------------------

    def animate(
        self,
        image: bytes,
        fields: Mapping[str, object],
        dest: Path,
        *,
        filename: str = "image.jpg",
        progress: Progress | None = None,
        extras: bool = False,
        reference: bool = False,
    ) -> ClipResponse:
        """``POST /animate`` with ``image`` (JPEG bytes) and ``fields``; stream the MP4 to ``dest``.
        ``extras``: ask for the server's measurements after the clip (:mod:`imagear.media.extras`);
        ``reference``: with them, the gate's reference of ``image`` (the master's own file).

        ``dest`` is written (created or truncated) only once the server answers 200; on any
        failure it is removed. ``progress("transfer", done=..., total=...)`` reports the bytes.
        """
        deadline = Deadline(self.timeout, self._clock, CONNECT_TIMEOUT)
        started = self._clock()
        data = {k: form_value(v) for k, v in fields.items() if v is not None}
        got: list[int] = [0, -1]  # bytes received, Content-Length (-1: not given)
        attempt = 0  # connection attempts refused
        busy = 0  # busy answers (429/503): waited for, within the deadline
        while True:
            try:
                with self._http.stream(
                    "POST",
                    "/animate",
                    data=data,
                    files={"image": (filename, image, "image/jpeg")},
                    headers=extras_headers(extras, reference),
                    timeout=deadline.httpx_timeout(),
                ) as response:
                    if response.status_code in (429, 503):
                        asked = retry_after(response.headers)
                        body = read_capped(response, _ERROR_BODY_LIMIT)
                        busy += 1
                        if self.wait_turns and self._wait_turn(busy, deadline, asked):
                            continue
                        error = self._status_error(response, body, "/animate", busy)
                        if not self.wait_turns:
                            error = TurnRefused(error, _turn_wait(busy, asked))
                        raise error
                    if response.status_code != 200:
                        raise self._status_error(
                            response, read_capped(response, _ERROR_BODY_LIMIT), "/animate"
                        )
                    with watchdog(response, deadline):
                        size = self._download(response, dest, deadline, progress, got)
            except httpx.ConnectError as exc:
                attempt += 1
                if self._backoff(attempt, deadline, None):
                    continue
                raise self._unreachable(exc) from exc
            except httpx.ConnectTimeout as exc:
                raise self._unreachable(exc) from exc
            except httpx.TimeoutException as exc:
                dest.unlink(missing_ok=True)
                raise self._timed_out(deadline.seconds, "generating the clip") from exc
            except httpx.TransportError as exc:
                dest.unlink(missing_ok=True)
                if deadline.expired():
                    raise self._timed_out(deadline.seconds, "sending the clip") from exc
                expected = f" of {got[1]}" if got[1] >= 0 else ""
                raise BadResponse(
                    f"The clip from {self.shown_url} is truncated: the connection broke after "
                    f"{got[0]}{expected} bytes ({exc}).",
                    "The clip was not saved; try again, and check the network and the server's log.",
                ) from exc
            except BaseException:
                dest.unlink(missing_ok=True)
                raise
            headers = response.headers
            return ClipResponse(
                path=dest,
                size_bytes=size,
                model=header(headers, "x-model", str),
                seed=header(headers, "x-seed", int),
                motion_bucket_id=motion_bucket(headers, fields),
                generation_secs=header(headers, "x-generation-secs", float),
                frames=header(headers, "x-frames", int),
                fps=header(headers, "x-fps", float),
                elapsed_secs=round(self._clock() - started, 2),
            )

    def _download(
        self,
        response: httpx.Response,
        dest: Path,
        deadline: Deadline,
        progress: Progress | None,
        got: list[int],
    ) -> int:
        """Stream the body to ``dest`` (1 MiB chunks); check it is an MP4 as it arrives."""
        total_header = response.headers.get("content-length")
        total = (
            int(total_header)
            if total_header and total_header.isascii() and total_header.isdigit()
            else None
        )
        got[1] = total if total is not None else -1
        cap = self.max_clip_bytes
        if cap is not None and total is not None and total > cap:
            raise clip_too_big(self.shown_url, cap, f"announced {total:,} bytes")
        done = 0
        head = b""
        last_report = 0.0
        try:
            fh = dest.open("wb")
        except OSError as exc:
            raise StorageError(f"Cannot write the clip to {dest}: {exc.strerror}.") from exc
        with fh:
            for chunk in response.iter_bytes():
                if deadline.expired():
                    raise self._timed_out(deadline.seconds, "sending the clip")
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                    if len(head) >= 12:
                        check_head(head, response, self.shown_url, self.setting)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise StorageError(
                        f"Cannot write the clip to {dest}: {exc.strerror}.",
                        "Free some disk space under storage_root and try again.",
                    ) from exc
                done += len(chunk)
                got[0] = done
                if cap is not None and done > cap:
                    raise clip_too_big(self.shown_url, cap, f"sent more than {cap:,} bytes")
                now = self._clock()
                if progress is not None and now - last_report >= 0.1:
                    last_report = now
                    progress("transfer", done=done, total=total)
        if deadline.fired:
            raise self._timed_out(deadline.seconds, "sending the clip")
        if progress is not None:
            progress("transfer", done=done, total=total or done)
        if done < MIN_BODY_BYTES:
            if len(head) >= 12 or done == 0:
                raise BadResponse(
                    f"The image-to-video server at {self.shown_url} sent only {done} bytes, too "
                    f"few for a clip (at least {MIN_BODY_BYTES} expected).",
                    "Look at the server's log; the generation probably failed.",
                )
            check_head(head, response, self.shown_url, self.setting)
        if total is not None and done != total:
            raise BadResponse(
                f"The clip from {self.shown_url} is truncated: {done} of {total} bytes arrived.",
                "Try again; check the network and the server's log.",
            )
        return done


__all__ = ["ClipResponse", "Health", "TurnRefused", "VideoClient", "error_text", "retry_after"]
