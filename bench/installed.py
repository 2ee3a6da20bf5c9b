"""Run imagear's commands in a benchmark as an installed copy runs: with its byte code cached.

pip compiles an installed package's modules when it installs them; a source checkout run with
``PYTHONDONTWRITEBYTECODE=1`` (as CI and this development machine set it) compiles every
imagear module again in every new process: 200-300 ms on this 2-core machine, more than the
whole start-up of some commands. :func:`as_installed` gives a subprocess environment whose byte
code goes to a cache of its own (``PYTHONPYCACHEPREFIX``: nothing is written into the source
tree), and :func:`warm` fills it with one untimed run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def as_installed(env: Mapping[str, str], cache: Path) -> dict[str, str]:
    """``env`` with byte code written to and read from ``cache``."""
    out = dict(env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["PYTHONPYCACHEPREFIX"] = str(cache)
    return out


def warm(command: Sequence[str], env: Mapping[str, str]) -> None:
    """Run ``command`` once, untimed, to fill the byte-code cache of ``env`` (its outcome does
    not matter: the imports are what is cached)."""
    subprocess.run(list(command), env=dict(env), capture_output=True, check=False)


__all__ = ["as_installed", "warm"]
