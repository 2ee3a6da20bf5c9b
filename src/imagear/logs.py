"""The one logging set-up of `imagear serve`, `imagear web` and `imagear batch`.

:func:`configure` installs one handler on the root logger (stderr) with one of two formats:

- ``text``: ``2026-12-04T14:05:03Z INFO imagear.server message key=value ...``
- ``json``: one JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
  ``message`` and the structured fields passed with ``extra=`` (:data:`FIELDS`) when present.

uvicorn's own loggers lose their handlers and propagate to the same one. :class:`RequestLog`
is the ASGI middleware that writes one line per HTTP request (method, route template, status,
duration, request id, and for every 4xx or 5xx the reason) and returns ``X-Request-ID``.

Modules log with ``logging.getLogger("imagear.<area>")`` and never configure handlers.
"""

from __future__ import annotations

import http
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from imagear.errors import UsageError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMATS = ("text", "json")
FIELDS = (
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "model",
    "object_id",
    "action",
    "user",
    "reason",
)
"""The structured fields a record may carry (``extra=``), in the order they are written."""

UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""An incoming X-Request-ID that is kept (else a fresh one is drawn)."""
REASON_BYTES = 16 * 1024
access = logging.getLogger("imagear.access")


def log_format_name(value: str) -> str:
    """``value`` as one of FORMATS, or UsageError (exit 2)."""
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"--log-format must be text or json, not {value!r}.")
    return fmt


def timestamp(created: float | None = None) -> str:
    """``created`` (default now) as ``2026-12-04T14:05:03Z``."""
    moment = datetime.fromtimestamp(time.time() if created is None else created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = {key: getattr(record, key) for key in FIELDS if getattr(record, key, None) is not None}
    extra = getattr(record, "fields", None)  # more fields, as a dict (e.g. the server's own)
    if isinstance(extra, dict):
        for key, value in extra.items():
            found.setdefault(str(key), value)
    return found


def _plain(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=\n') else text


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger message key=value ...``, one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\n", " ")
        parts = [timestamp(record.created), record.levelname, record.name, message]
        parts += [f"{key}={_plain(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            trace = self.formatException(record.exc_info).replace("\n", " | ")
            line = f"{line} error={json.dumps(trace)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the fields present."""

    def format(self, record: logging.LogRecord) -> str:
        return json_line(
            record.levelname,
            record.name,
            record.getMessage(),
            created=record.created,
            error=self.formatException(record.exc_info) if record.exc_info else None,
            **_fields(record),
        )


def json_line(
    level: str, logger: str, message: str, created: float | None = None, **fields: Any
) -> str:
    """One log line as a JSON object (fields that are None are left out)."""
    body: dict[str, Any] = {
        "time": timestamp(created),
        "level": level,
        "logger": logger,
        "message": message,
    }
    body.update({key: value for key, value in fields.items() if value is not None})
    return json.dumps(body, default=str, ensure_ascii=False)


OURS = "_imagear_logs"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes (not as it was when configured)."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> None:
    """Root logger: one handler on ``stream`` (stderr) in ``fmt`` at ``level``; uvicorn's
    loggers lose their own handlers and propagate to it."""
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(formatter(log_format_name(fmt)))
    setattr(handler, OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, OURS, False)]:
        root.removeHandler(old)  # configured again: one handler, not two
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)  # uvicorn.Config sets them again (its log_level)
        logger.propagate = True
        logger.disabled = False
    for name, known in logging.root.manager.loggerDict.items():
        if name.startswith("imagear") and isinstance(known, logging.Logger):
            known.disabled = False  # a dictConfig before (in one process) may have turned it off


def progress_logger(name: str) -> Callable[[str, str], None]:
    """A ``progress(event, message)`` callback (server start-up) that logs instead of printing:
    "warning" events as warnings, the rest as info."""
    logger = logging.getLogger(name)

    def say(event: str, message: str) -> None:
        logger.log(logging.WARNING if event == "warning" else logging.INFO, message)

    return say


def _reason(status: int, body: bytes, content_type: str) -> str:
    """Why a request was refused: the error of a JSON body, else the status's phrase (an app
    that answers with a page says why in ``request.state.log_reason``)."""
    if "json" in content_type:
        try:
            data = json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                value = data.get(key)
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    first = value[0]
                    where = ".".join(str(p) for p in first.get("loc", ()))
                    return f"{where}: {first.get('msg', '')}".strip(": ")
                if value:
                    return str(value)
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return str(scope.get("path", ""))


class RequestLog:
    """ASGI middleware: one ``imagear.access`` line per HTTP request and ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        """The wrapped app's attributes (e.g. the server's ``.api``) show through."""
        if name == "app":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1").strip()
                if REQUEST_ID.fullmatch(given):
                    request_id = given
        request_id = request_id or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        seen: dict[str, Any] = {"status": 0, "type": "", "body": b""}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"
                ]
                for name, value in headers:
                    if name.lower() == b"content-type":
                        seen["type"] = value.decode("latin-1").lower()
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and seen["status"] >= 400:
                if len(seen["body"]) < REASON_BYTES:
                    seen["body"] += message.get("body", b"")[:REASON_BYTES]
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            status = seen["status"] or 500
            extra: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "route": _route(scope),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            if status >= 400:
                extra["reason"] = state.get("log_reason") or _reason(
                    status, seen["body"], seen["type"]
                )
            more = state.get("log_fields")
            if isinstance(more, dict) and more:
                extra["fields"] = dict(more)
            level = logging.WARNING if status >= 500 else logging.INFO
            access.log(level, "%s %s %s", scope.get("method"), extra["route"], status, extra=extra)


__all__ = [
    "FIELDS",
    "FORMATS",
    "JsonFormatter",
    "RequestLog",
    "TextFormatter",
    "configure",
    "formatter",
    "json_line",
    "log_format_name",
    "progress_logger",
    "timestamp",
]
