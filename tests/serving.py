"""Waiting for an `imagear serve` / `imagear web` subprocess to answer HTTP (shared by the tests
that start real servers)."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_answering(proc: subprocess.Popen[str], url: str, timeout: float = 60) -> None:
    """Return once ``url`` gives any HTTP answer; AssertionError with the process's output if it
    exits first, or if it never answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}: {out}{err}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url} within {timeout:g} s")
