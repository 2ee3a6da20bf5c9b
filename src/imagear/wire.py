"""The wire types of the image-to-video protocol (REFERENCE.md section 1) and their parsers:
:class:`Health` (``GET /health``), :class:`ClipResponse` (what ``POST /animate`` sent back),
``Retry-After`` and error-body parsing. Used by :mod:`imagear.client`, which re-exports them.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from imagear.errors import BadResponse

if TYPE_CHECKING:  # annotations only: an in-process run never loads httpx
    import httpx

_N = TypeVar("_N", int, float, str)

EXTRAS_HEADER = "X-Imagear-Extras"
"""Request header (value ``1``): send the clip's measurements after it (imagear.media.extras)."""
REFERENCE_HEADER = "X-Imagear-Reference"
"""Request header (value ``1``, with :data:`EXTRAS_HEADER`): the upload is the master's own file,
so send the quality gate's reference of it too, with the upload's SHA-256."""

_HEALTH_KNOWN = (
    "status",
    "default_model",
    "loaded_models",
    "cuda",
    "low_vram_mode",
    "device",
    "vram_total_gb",
    "vram_free_gb",
)

_HEALTH_OPS = ("reason", "queue_length", "busy_slots", "version", "uptime_secs")


@dataclass
class Health:
    """What ``GET /health`` reported (or, for in-process engines, what this machine offers)."""

    status: str = "ok"
    default_model: str | None = None
    loaded_models: list[str] = field(default_factory=list)
    cuda: bool = False
    low_vram_mode: bool = False
    device: str | None = None
    vram_total_gb: float | None = None
    vram_free_gb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, kept as sent
    url: str | None = None  # the server asked; None for in-process engines
    local: bool = False  # True: no server, in-process engines
    engines: list[dict[str, Any]] = field(default_factory=list)  # local: name/available/reason

    @property
    def available_models(self) -> list[str] | None:
        """Models the server says it can load (``available_models`` / ``models``), if it says."""
        for key in ("available_models", "models"):
            value = self.extra.get(key)
            if isinstance(value, list):
                names = [
                    (v.get("name") if v.get("available", True) else None)
                    if isinstance(v, dict)
                    else v
                    for v in value
                ]
                return [str(n) for n in names if n]
        if self.local:
            return [e["name"] for e in self.engines if e.get("available")]
        return None

    @property
    def degraded(self) -> bool:
        """The server is up but says its default model cannot run there (``"degraded"``)."""
        return self.status == "degraded"

    def ops(self) -> dict[str, Any]:
        """What the server reports of itself beyond Heratio's fields (None where it does not
        say): ``reason`` (why degraded), ``queue_length``, ``busy_slots``, ``version``,
        ``uptime_secs``."""
        return {key: self.extra.get(key) for key in _HEALTH_OPS}

    def uptime(self) -> str | None:
        """The server's ``uptime_secs`` for people ("3h 12m"), None when it does not say."""
        secs = self.extra.get("uptime_secs")
        if not isinstance(secs, int | float) or isinstance(secs, bool) or not secs >= 0:
            return None
        minutes, sec = divmod(int(min(secs, 1e12)), 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        units = ((days, "d"), (hours, "h"), (minutes, "m"), (sec, "s"))
        shown = [f"{n}{unit}" for n, unit in units if n]
        return " ".join(shown[:2]) or "0s"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, plus ``reachable``, ``available_models`` and :meth:`ops`."""
        data = asdict(self)
        data["reachable"] = True
        data["available_models"] = self.available_models
        data.update(self.ops())
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object], url: str | None = None) -> Health:
        """Parse a /health body, tolerating missing fields and keeping unknown ones."""

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        loaded = data.get("loaded_models")
        return cls(
            status=str(data.get("status", "ok")),
            default_model=str(data["default_model"]) if data.get("default_model") else None,
            loaded_models=[str(m) for m in loaded] if isinstance(loaded, list) else [],
            cuda=bool(data.get("cuda", False)),
            low_vram_mode=bool(data.get("low_vram_mode", False)),
            device=str(data["device"]) if data.get("device") else None,
            vram_total_gb=num("vram_total_gb"),
            vram_free_gb=num("vram_free_gb"),
            extra={k: v for k, v in data.items() if k not in _HEALTH_KNOWN},
            url=url,
        )


@dataclass
class ClipResponse:
    """A clip the server sent: where it was written and what its X- headers said."""

    path: Path
    size_bytes: int
    model: str | None = None
    seed: int | None = None
    motion_bucket_id: int | None = None
    generation_secs: float | None = None
    frames: int | None = None
    fps: float | None = None
    elapsed_secs: float = 0.0  # wall time of the whole call, upload and download included


def header(headers: httpx.Headers, name: str, kind: type[_N]) -> _N | None:
    """A typed X- header (``kind`` int, float or str), None when missing or malformed."""
    raw = headers.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return kind(float(raw)) if kind is int else kind(raw.strip())
    except ValueError:
        return None


def motion_bucket(headers: httpx.Headers, sent: Mapping[str, object]) -> int | None:
    """The motion bucket of a clip: ``X-Motion-Bucket``, else the ``motion_bucket_id`` sent.

    A server leaves the header out for a model without a motion bucket (kenburns), and then
    nothing was sent either: None. The protocol's buckets are 1..255, so a 0 (what older imagear
    servers sent for such models) also means "none" and falls back the same way.
    """
    value = header(headers, "x-motion-bucket", int)
    if value is not None and value > 0:
        return int(value)
    raw = sent.get("motion_bucket_id")
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        fallback = int(float(raw))
    except (TypeError, ValueError):
        return None
    return fallback if fallback > 0 else None


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


MAX_ERROR_TEXT = 500
"""A server's error text is cut to this many characters in messages."""


def error_type(body: bytes) -> str | None:
    """The ``type`` of a JSON error body (``{"error": ..., "type": "QualityRejected"}``)."""
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind else None


def error_text(response: httpx.Response, body: bytes) -> str:
    """The server's own words: ``error`` / ``detail`` of a JSON body, else the start of it
    (at most :data:`MAX_ERROR_TEXT` characters)."""
    text = _error_text(response, body)
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "..."


def _error_text(response: httpx.Response, body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                kind = data.get("type")
                return (
                    f"{value.strip()} ({kind})" if isinstance(kind, str) and kind else value.strip()
                )
            if isinstance(value, list) and value:  # FastAPI validation errors
                parts = []
                for item in value[:5]:
                    if isinstance(item, dict):
                        loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                        parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
                    else:
                        parts.append(str(item))
                return "; ".join(parts)
    text = body.decode("utf-8", errors="replace").strip()
    if text:
        return text[:300]
    return response.reason_phrase or f"HTTP {response.status_code}"


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a (streamed) response body: enough for an error message."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return body[:limit]


def clip_too_big(url: str, cap: int, what: str) -> BadResponse:
    """A clip over ``max_clip_mb``: ``what`` the server at ``url`` did ("sent more than ...")."""
    return BadResponse(
        f"The image-to-video server at {url} {what} for one clip, over the limit of "
        f"{cap / (1024 * 1024):g} MB (max_clip_mb); the clip was refused and the previous one "
        "is kept.",
        "Check the server (`imagear health`), or raise max_clip_mb (IMAGEAR_MAX_CLIP_MB) if "
        "clips this large are expected.",
    )


def form_value(value: object) -> str:
    """A form field's text (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_head(
    head: bytes, response: httpx.Response, base_url: str, setting: str = "ar_server_url"
) -> None:
    """A 200 answer to /animate must start like an MP4; BadResponse saying what came instead."""
    from imagear.media import looks_like_mp4

    if looks_like_mp4(head):
        return
    ctype = response.headers.get("content-type", "unknown")
    raise BadResponse(
        f"The image-to-video server at {base_url} answered 200 but sent {ctype} that is not an "
        f"MP4 (it starts with {head[:12]!r}).",
        f"Check that {setting} points at an image-to-video server (`imagear health`).",
    )


def extras_headers(extras: bool, reference: bool = False) -> dict[str, str] | None:
    """The request headers asking an imagear server for its measurements (and the reference)."""
    if not extras:
        return None
    return {EXTRAS_HEADER: "1", **({REFERENCE_HEADER: "1"} if reference else {})}


__all__ = [
    "check_head",
    "extras_headers",
    "ClipResponse",
    "Health",
    "clip_too_big",
    "error_text",
    "error_type",
    "form_value",
    "header",
    "motion_bucket",
    "read_capped",
    "retry_after",
]
