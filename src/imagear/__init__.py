"""imagear: turn archival master images into short looping MP4 clips."""

from __future__ import annotations

import functools


@functools.cache
def _version() -> str:
    # importlib.metadata costs ~50 ms to import: only pay it when the version is asked for.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imagear")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'imagear' has no attribute {name!r}")
