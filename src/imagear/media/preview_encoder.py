"""The preview's encoding: a small muted H.264 MP4 of frames kept while a clip was scanned
(:mod:`imagear.media.preview` writes it beside the clip), now or ahead, on a thread of its own
(:class:`PreviewAhead`).

Failures become :class:`~imagear.errors.MediaError`; ``av`` is imported when used.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import MediaError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PREVIEW_CRF", "PREVIEW_PRESET", "PreviewAhead", "encode"]

PREVIEW_CRF = 30
"""libx264's CRF for previews: a 320 px thumbnail seen in motion, for a few KB a second."""
PREVIEW_PRESET = "superfast"


def encode(frames: Sequence[np.ndarray], fps: float, path: str | Path) -> None:
    """The preview's MP4 of ``frames`` (planar yuv420p, even sizes) at ``path``."""
    from imagear.media.mp4 import write_mp4

    rows, width = frames[0].shape
    write_mp4(
        frames,
        _rate(fps or 10.0),
        path,
        width,
        rows * 2 // 3,
        crf=PREVIEW_CRF,
        preset=PREVIEW_PRESET,
        threads=1,
    )


class PreviewAhead:
    """A preview being encoded on a thread of its own (``imagear-preview``) from ``frames``;
    :meth:`result` waits for its MP4's bytes. The thread encodes into a temporary file (the MP4
    muxer's ``+faststart`` rewrites a file), reads it back and removes it, whether or not its
    result is ever asked for; x264 lets go of the GIL while it encodes."""

    def __init__(self, frames: Sequence[np.ndarray], fps: float) -> None:
        if not frames:
            raise MediaError("No preview frames were kept while scanning the clip.")
        self._frames, self._fps = list(frames), fps
        self._data: bytes | None = None
        self._error: MediaError | None = None
        self._thread = threading.Thread(target=self._run, name="imagear-preview")
        self._thread.start()

    def _run(self) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix="imagear-preview-", suffix=".m4v")
            os.close(fd)
            try:
                encode(self._frames, self._fps, name)
                self._data = Path(name).read_bytes()
            finally:
                Path(name).unlink(missing_ok=True)
        except MediaError as err:
            self._error = MediaError(f"Could not make the preview: {err.message}")
        except OSError as exc:
            self._error = MediaError(f"Could not make the preview in a temporary file: {exc}")
        except Exception as exc:  # noqa: BLE001 - raised by result(), never a thread's traceback
            self._error = MediaError(f"Could not make the preview: {exc}")
        finally:
            self._frames = []

    def result(self) -> bytes:
        """The preview's MP4 bytes, once encoded (MediaError when it could not be made)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._data is not None
        return self._data


def _rate(fps: float) -> int | float:
    """The preview's frame rate: whole when it is (12.5 stays 12.5)."""
    return int(fps) if float(fps).is_integer() else round(float(fps), 3)
