"""A 16-bit RGB TIFF written by hand (Pillow cannot write one): the archive scan the benchmarks
and tests/test_master_prep.py prepare. Standard library only, so a test may import it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_tiff16(arr: Any, path: Path) -> None:
    """``arr`` (height x width x 3, 16-bit values) as an uncompressed RGB TIFF at ``path``."""
    height, width, _ = arr.shape
    data = arr.astype("<u2").tobytes()
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, 0),  # bits per sample: offset patched below
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, 0),  # strip offset: patched below
        (277, 3, 1, 3),
        (278, 4, 1, height),
        (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bps_at = 8 + ifd_size
    data_at = bps_at + 6
    out = bytearray(b"II*\x00" + (8).to_bytes(4, "little"))
    out += len(entries).to_bytes(2, "little")
    for tag, kind, count, value in entries:
        if tag == 258:
            value = bps_at
        if tag == 273:
            value = data_at
        out += tag.to_bytes(2, "little") + kind.to_bytes(2, "little")
        out += count.to_bytes(4, "little")
        if kind == 3 and count == 1:
            out += value.to_bytes(2, "little") + b"\x00\x00"
        else:
            out += value.to_bytes(4, "little")
    out += (0).to_bytes(4, "little")
    out += (16).to_bytes(2, "little") * 3
    out += data
    path.write_bytes(bytes(out))


__all__ = ["write_tiff16"]
