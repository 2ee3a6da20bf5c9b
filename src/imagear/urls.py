"""Server URLs and bearer tokens: the one rule for each, and the one way a password is hidden.

Every place that takes an image-to-video server's URL (``server_url`` in imagear.toml or
``IMAGEAR_SERVER_URL``, ``settings set ar_server_url``, ``ar_server_pool``, the HTTP client)
checks it with :func:`check_server_url`, so a URL refused in one place is refused, in the same
words, in all of them. Every message, log line or listing that shows a URL (server or database)
passes it through :func:`redact_url`. Light: the standard library and :mod:`imagear.errors` only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from imagear.errors import UsageError

IN_PROCESS = "in-process"
"""``server_url`` meaning "no server: run the engines in this process"."""

EXAMPLE_URL = "http://gpu-host:5052"

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# user:password@ right after "//": the user is kept, the password (up to the first "@", even
# when it holds a "/" a URL parser would stop at) becomes ***
_PASSWORD = re.compile(r"(?<=//)([^/?#@:\s]*):[^@\s]*?@")
_TOKEN = re.compile(r"[!-~]+")  # visible ASCII: what an HTTP header can carry as it is
_POOL_SEPARATORS = re.compile(r"[\s,;]+")


def redact_url(text: str) -> str:
    """``text`` (a URL, or a message quoting some) with each URL's password shown as ``***``:
    ``postgresql://bob:pw@host/db`` -> ``postgresql://bob:***@host/db``. For messages, logs,
    ``config show`` and JSON output; a screen share or a pasted bug report never shows one."""
    return _PASSWORD.sub(r"\1:***@", text)


def server_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an image-to-video server's base URL, or None when it can.

    It must be http(s) with a host, a port in 1..65535 when one is given, and no space, tab,
    newline or control character (each would break the request line, or send it elsewhere).
    """
    if _UNSAFE.search(url):
        return "it contains a space, tab, line break or control character"
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        if "port" in str(exc).lower():
            return "its port must be a number in 1..65535"
        return f"it is not a valid URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "it must start with http:// or https:// and name a host"
    if port is not None and not 1 <= port <= 65535:
        return "its port must be a number in 1..65535"
    return None


def check_server_url(
    url: str, what: str, error: type[UsageError], advice: str, *, pool: bool = False
) -> str:
    """``url`` (stripped, without a trailing slash) when it can be a server's base URL; else
    ``error`` saying why, in the one wording every entry point shares. ``what`` names where the
    value came from (``ar_server_url``, ``server_url in /etc/imagear.toml``, ...)."""
    text = url.strip()
    problem = server_url_problem(text)
    if problem is None:
        return text.rstrip("/")
    shown = redact_url(text)
    if pool:
        message = (
            f"{what} must list http(s) URLs such as http://gpu-host-2:5052, and {shown!r} is not "
            f"one: {problem}."
        )
    else:
        message = f"{what} must be an http(s) URL such as {EXAMPLE_URL}, not {shown!r}: {problem}."
    raise error(message, advice)


def parse_pool(text: str | None) -> list[str]:
    """The URLs of an ``ar_server_pool`` value (separated by spaces, commas or semicolons)."""
    return [u.rstrip("/") for u in _POOL_SEPARATORS.split(text or "") if u.strip()]


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be sent as ``Authorization: Bearer <token>``, or None."""
    if not token or _TOKEN.fullmatch(token):
        return None
    if any(ord(c) > 0x7E for c in token):
        return "it has a character that is not ASCII"
    return "it has a space, line break or control character"


__all__ = [
    "EXAMPLE_URL",
    "IN_PROCESS",
    "check_server_url",
    "parse_pool",
    "redact_url",
    "server_url_problem",
    "token_problem",
]
