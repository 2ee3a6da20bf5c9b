"""The decode budget of `imagear serve`: memory for decoded pixels.

Every request's decode is priced before it is queued (:func:`imagear.media.decoded_bytes`, read
from the header: the pixels decoded after any reduction while decoding, and the copies made from
them); an image that needs more than the whole budget can never be decoded here and is refused
with 413 at once. The pixels themselves are decoded only when the request's generation starts
(:func:`deferred`: the worker calls it), so a queued request holds its upload on disk, not its
pixels; the decode is then counted until the prepared image is made. While the budget is spent
(decodes sharing one budget from several threads) a decode is refused with 503 + Retry-After
rather than run, so parallel decodes of huge images (three 196-megapixel PNGs of 571 KB each)
cannot take the server's memory together.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import InvalidImage
from imagear.server import MB
from imagear.server.upload import ImageTooLarge, relabel
from imagear.server.worker import QueueFull

if TYPE_CHECKING:
    from PIL import Image

RECENT = 20
DEFAULT_HOLD_SECS = 2.0  # Retry-After estimate before any decode has been timed


class DecodeBudget:
    """``total`` bytes of decoded pixels, taken and given back by concurrent requests
    (thread-safe: requests are prepared in a thread pool)."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("the decode budget must be at least 1 byte")
        self.total = int(total)
        self._used = 0
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=RECENT)

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._used

    def take(self, cost: int) -> bool:
        """Take ``cost`` bytes if they are free now; False when they are not (never blocks)."""
        with self._lock:
            if self._used + cost > self.total:
                return False
            self._used += cost
            return True

    def give(self, cost: int) -> None:
        """Give back bytes taken by :meth:`take`."""
        with self._lock:
            self._used = max(0, self._used - cost)

    def check(self, cost: int, label: str = "The upload") -> None:
        """Raise ImageTooLarge (413) when ``cost`` is over the whole budget: never decodable."""
        if cost > self.total:
            raise ImageTooLarge(
                f"{label} needs about {cost / MB:,.0f} MB to decode; this server decodes at most "
                f"{self.total / MB:,.0f} MB of pixels at once.",
                advice="Send a smaller derivative of the image (e.g. the reference copy).",
            )

    def retry_after(self) -> int:
        """Seconds until enough is likely given back: the mean time a decode held its share."""
        with self._lock:
            recent = list(self._recent)
        per = sum(recent) / len(recent) if recent else DEFAULT_HOLD_SECS
        return max(1, math.ceil(per))

    @contextmanager
    def hold(self, cost: int, label: str = "The upload") -> Iterator[None]:
        """Hold ``cost`` bytes for the block. Raises ImageTooLarge (413) when ``cost`` is over
        the whole budget, and QueueFull (503 + Retry-After) when it is spent for now."""
        self.check(cost, label)
        if not self.take(cost):
            with self._lock:
                free = self.total - self._used
            raise QueueFull(
                f"The server is busy decoding other images: {label[:1].lower()}{label[1:]} needs about "
                f"{cost / MB:,.0f} MB and {max(0, free) / MB:,.0f} MB of its "
                f"{self.total / MB:,.0f} MB decode budget is free.",
                retry_after=self.retry_after(),
            )
        started = time.monotonic()
        try:
            yield
        finally:
            self.give(cost)
            with self._lock:
                self._recent.append(time.monotonic() - started)


def deferred(
    budget: DecodeBudget, path: Path, box: tuple[int, int] | None, label: str, slack: float = 1.0
) -> Callable[[], Image.Image]:
    """Price the upload at ``path`` now (from its header: 413 when it could never fit
    ``budget``) and return what decodes it later, when its generation starts: :func:`decode`.
    Until then only the file on disk is held, not its pixels. ``slack``: as
    :func:`imagear.media.prepare_image` takes it (the reduction while decoding kept as it is
    when at most that much larger than ``box``)."""
    from imagear.media import decoded_bytes

    try:
        cost = decoded_bytes(path, box)
    except InvalidImage as exc:
        raise relabel(exc, path, label) from exc
    budget.check(cost, label)
    return partial(decode, budget, path, box, label, cost, slack)


def decode(
    budget: DecodeBudget,
    path: Path,
    box: tuple[int, int] | None,
    label: str,
    cost: int,
    slack: float = 1.0,
) -> Image.Image:
    """The upload at ``path`` prepared for a model (:func:`imagear.media.prepare_image`, reduced
    while decoding where the format allows), its ``cost`` (priced by :func:`deferred`) held
    against ``budget`` while it decodes."""
    from imagear.media import prepare_image

    with budget.hold(cost, label):
        try:
            return prepare_image(path, max_size=box, slack=slack)
        except InvalidImage as exc:  # e.g. a truncated file whose header was fine
            raise relabel(exc, path, label) from exc
