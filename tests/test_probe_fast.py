"""probe_mp4 reads headers only: its cost does not grow with the clip, truncation is still caught.

The big clips here are sparse files (a real small MP4 whose last box is stretched with
truncate(), or with a hole inside a 'free' box), so 200 MB costs no disk and no write time.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from imagear import media
from imagear.errors import MediaError

if TYPE_CHECKING:
    import numpy as np

BIG = 200 * 1024 * 1024
FAST_SECS = 0.5  # "well under a second"; a probe takes milliseconds, reading 200 MB does not


def _boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of the top-level boxes of a small, whole MP4."""
    out = []
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            size = len(data) - pos
        out.append((pos, size, data[pos + 4 : pos + 8]))
        pos += size
    return out


def _frames(n: int) -> list[np.ndarray]:
    import numpy as np

    return [np.full((48, 64, 3), (i * 13) % 256, np.uint8) for i in range(n)]


def _timed_probe(path: Path) -> tuple[media.Mp4Info, float]:
    t0 = time.perf_counter()
    info = media.probe_mp4(path)
    return info, time.perf_counter() - t0


def _assert_truncation_refused(path: Path, cut: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size - cut)
    t0 = time.perf_counter()
    with pytest.raises(MediaError, match="not a playable MP4: it is truncated"):
        media.probe_mp4(path)
    assert time.perf_counter() - t0 < FAST_SECS


def test_200_mb_mdat_probes_fast_and_its_cut_tail_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "big.mp4"
    media.write_mp4(_frames(12), 8, clip, 64, 48)  # +faststart: ftyp, moov, free, mdat
    offset, size, kind = _boxes(clip.read_bytes())[-1]
    assert kind == b"mdat"
    with clip.open("r+b") as fh:  # the mdat grows by 200 MB of (sparse) zeros after the samples
        fh.seek(offset)
        fh.write((size + BIG).to_bytes(4, "big"))
        fh.truncate(offset + size + BIG)
    assert clip.stat().st_size > BIG

    info, secs = _timed_probe(clip)
    assert secs < FAST_SECS
    assert (info.frames, info.width, info.height, info.codec) == (12, 64, 48, "h264")
    assert info.fps == pytest.approx(8.0)
    assert info.duration_secs == pytest.approx(1.5, abs=0.01)
    assert info.size_bytes == clip.stat().st_size

    _assert_truncation_refused(clip, 1000)


def test_moov_after_a_200_mb_largesize_box_and_its_cut_tail(tmp_path: Path) -> None:
    """No +faststart (moov last, as many servers write it) and a 64-bit ``largesize`` box: the
    walk must seek past the 200 MB, not read it."""
    import av

    small = tmp_path / "small.mp4"
    with av.open(str(small), mode="w", format="mp4") as out:  # ftyp, free, mdat, moov
        stream = out.add_stream("libx264", rate=Fraction(10, 1))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, arr in enumerate(_frames(15)):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = small.read_bytes()
    offset, size, kind = _boxes(data)[-1]
    assert kind == b"moov"

    clip = tmp_path / "big.mp4"
    filler = 16 + BIG
    with clip.open("wb") as fh:
        fh.write(data[:offset])  # ftyp, free, mdat: the sample offsets in moov stay valid
        fh.write((1).to_bytes(4, "big") + b"free" + filler.to_bytes(8, "big"))
        fh.seek(offset + filler)  # a hole: no disk, no write time
        fh.write(data[offset:])
    info, secs = _timed_probe(clip)
    assert secs < FAST_SECS
    assert (info.frames, info.width, info.height) == (15, 64, 48)
    assert info.duration_secs == pytest.approx(1.5, abs=0.01)

    _assert_truncation_refused(clip, size // 2)  # half of the moov is gone


def test_a_box_that_runs_to_the_end_of_the_file(tmp_path: Path) -> None:
    """size == 0: the last box runs to the end of the file, however long that is."""
    clip = tmp_path / "tail.mp4"
    media.write_mp4(_frames(6), 6, clip, 64, 48)
    with clip.open("ab") as fh:
        fh.write((0).to_bytes(4, "big") + b"free")
        fh.truncate(clip.stat().st_size + BIG)
    info, secs = _timed_probe(clip)
    assert secs < FAST_SECS and info.frames == 6
