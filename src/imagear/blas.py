"""numpy's BLAS on one thread in imagear's own processes.

numpy's OpenBLAS starts a thread per core when it loads, and its threads wait for work by
spinning for a while before they sleep, again after every matrix product. imagear's numpy
work is element-wise or tiny (a frame's colour conversion, the quality gate's statistics):
those threads never speed it up, and they take CPU from what does the work, the frame
renderers and x264 on a small machine. ``imagear animate --model kenburns`` (1280x720, 125
frames, a 2-core host) spent 2.15 s of CPU with one BLAS thread instead of 2.25 s.

``OPENBLAS_NUM_THREADS`` is read once, when numpy loads OpenBLAS, so it is set in the
environment (inherited by child processes too) before anything imports numpy: the command
line does it first thing (:func:`imagear.cli._common.run_as_program`). A value given by the
environment is kept. It does not touch torch, whose CPU threads are its own (OpenMP).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

VARIABLE = "OPENBLAS_NUM_THREADS"


def one_thread(env: MutableMapping[str, str] | None = None) -> str:
    """Set :data:`VARIABLE` to 1 in ``env`` (this process's environment) unless it is set;
    the value in force."""
    env = os.environ if env is None else env
    given = env.get(VARIABLE, "").strip()
    if given:
        return given
    env[VARIABLE] = "1"
    return "1"


__all__ = ["VARIABLE", "one_thread"]
