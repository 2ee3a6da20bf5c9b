"""glibc's malloc arenas bounded for the long-running servers (`imagear serve`, `imagear web`).

glibc gives each new thread its own malloc arena (up to 8 per core) and keeps their freed
memory: a server whose request threads decode images grows to 0.7-0.8 GB under 20 clients
with the same live data that fits in 350 MB with two arenas (docs/performance.md, "Server
memory"). ``MALLOC_ARENA_MAX`` in the environment is read by glibc once, when the process
starts, so setting it in ``os.environ`` from Python would be too late. Instead the server calls
``mallopt(M_ARENA_MAX, n)`` itself, first thing, before it starts any thread: glibc makes a
thread's arena when that thread first allocates, and fixes its arena limit only once 8 arenas
exist, so the bound holds for every thread made afterwards (uvicorn's, the worker's, torch's).
The variable is also set for child processes. A ``MALLOC_ARENA_MAX`` given by the environment
(the systemd units set 2) wins: glibc has already read it, and it is left as it is. On a C
library that is not glibc nothing is done (musl has no per-thread arenas).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping

ARENAS = 2
"""The bound the servers use (what the systemd units in deploy/ set too)."""
M_ARENA_MAX = -8  # glibc's malloc.h


def glibc() -> bool:
    """Is this process's C library glibc?"""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def bound_arenas(env: MutableMapping[str, str] | None = None, arenas: int = ARENAS) -> int | None:
    """Bound glibc's malloc arenas of this process to ``arenas`` (unless ``MALLOC_ARENA_MAX``
    was given at start: then that bound, read by glibc); the bound in force, None when there is
    none (not glibc, or mallopt refused). Call it before any thread is started."""
    env = os.environ if env is None else env
    given = env.get("MALLOC_ARENA_MAX", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    if not glibc():
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_ARENA_MAX, arenas) != 1:
        return None
    env["MALLOC_ARENA_MAX"] = str(arenas)  # for child processes (ffmpeg, a spawned worker)
    return arenas


__all__ = ["ARENAS", "M_ARENA_MAX", "bound_arenas", "glibc"]
