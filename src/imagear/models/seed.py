"""Seeds: 0 means "draw a random one", and it is drawn here, once, for every path.

The in-process path (:mod:`imagear.animate`) and the server (:mod:`imagear.server`) both draw
the seed before generating, so the clip records (and the X-Seed header reports) the seed that
made it and the clip can be reproduced. A drawn seed is in 1..2**31-1: never 0 (which means
"random"), and it fits a signed 32-bit integer wherever it is stored or sent.
"""

from __future__ import annotations

import secrets

MAX_RANDOM_SEED = 2**31 - 1
"""The largest seed :func:`random_seed` draws (a user may give any seed up to ``MAX_SEED``)."""


def random_seed() -> int:
    """A random seed in 1..2**31-1 (0 means "random", so it is never drawn)."""
    return secrets.randbelow(MAX_RANDOM_SEED) + 1


__all__ = ["MAX_RANDOM_SEED", "random_seed"]
