"""imagear.media: image loading/preparation and MP4 encoding/probing."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from imagear import media
from imagear.errors import ImageMissing, InvalidImage, MediaError

if TYPE_CHECKING:
    import numpy as np


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims ``width`` x ``height`` but holds almost no data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _jpeg_with_orientation(path: Path, size: tuple[int, int], orientation: int) -> None:
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))  # left half red
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif.tobytes())


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    import numpy as np

    return [np.full((h, w, 3), (i * 9) % 256, np.uint8) for i in range(n)]


# ---------------------------------------------------------------------------- open / sniff


def test_open_image_missing_raises_image_missing(tmp_path: Path) -> None:
    with pytest.raises(ImageMissing):
        media.open_image(tmp_path / "nope.jpg")


def test_open_image_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello, I am text")
    with pytest.raises(InvalidImage, match="is not an image Pillow can read"):
        media.open_image(bad)


def test_open_image_truncated_jpeg(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.effect_noise((256, 256), 40).convert("RGB").save(good, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:600])
    with pytest.raises(InvalidImage):
        media.open_image(cut)


def test_open_image_loads_a_good_image(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (30, 20), "green").save(path)
    img = media.open_image(path)
    assert img.size == (30, 20)
    assert img.format == "PNG"


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "PNG"])
def test_opening_a_master_registers_only_the_raster_plugins(tmp_path: Path, fmt: str) -> None:
    """A TIFF or WebP master does not make Pillow import all of its plugins (about 50 ms, and
    EPS's and PDF's among them): only those of the formats imagear reads are loaded."""
    import subprocess
    import sys

    path = tmp_path / f"master.{fmt.lower()}"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(path, fmt)
    code = (
        "import sys; from imagear.media import open_image; "
        f"img = open_image({str(path)!r}); assert img.size == (40, 30); "
        "print(sorted(m for m in sys.modules if m.startswith('PIL.') and m.endswith('Plugin')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.strip().strip("[]").replace("'", "").split(", "))
    raster = {"Jpeg", "Png", "Tiff", "WebP", "Bmp", "Gif", "Jpeg2K", "Ppm", "Mpo"}  # Ppm: Pillow's
    assert "PIL.EpsImagePlugin" not in loaded
    assert loaded <= {f"PIL.{name}ImagePlugin" for name in raster}


def test_decompression_bomb_header_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30_000, 30_000)  # 900 MP
    with pytest.raises(InvalidImage, match="too large"):
        media.open_image(bomb)
    with pytest.raises(InvalidImage):
        media.prepare_image(bomb, (100, 100))


def test_pixel_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (200, 200)).save(path)
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(InvalidImage, match="10,000 pixels"):
        media.open_image(path)


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_sniff_mime_reads_the_content(tmp_path: Path, fmt: str, mime: str) -> None:
    path = tmp_path / "misnamed.txt"  # the name must not matter
    Image.new("RGB", (8, 8)).save(path, format=fmt)
    assert media.sniff_mime(path) == mime


def test_sniff_mime_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"\x00\x01 not a png")
    with pytest.raises(InvalidImage):
        media.sniff_mime(path)


# ---------------------------------------------------------------------------- prepare


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "rotated.jpg"
    _jpeg_with_orientation(path, (40, 20), 6)  # stored landscape, displayed portrait
    img = media.prepare_image(path, None)
    assert img.size == (20, 40)
    arr = np.asarray(img).astype(int)
    # orientation 6 = rotate 90 degrees clockwise for display: the stored left half is on top
    assert arr[:18, :, 0].mean() > 200 and arr[:18, :, 2].mean() < 60
    assert arr[22:, :, 2].mean() > 200


def test_exif_orientation_with_draft_and_downscale(tmp_path: Path) -> None:
    path = tmp_path / "big_rotated.jpg"
    _jpeg_with_orientation(path, (1600, 800), 6)
    img = media.prepare_image(path, (100, 400))
    assert img.size == (100, 200)
    assert img.mode == "RGB"


def test_large_jpeg_is_drafted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import JpegImagePlugin

    path = tmp_path / "big.jpg"
    Image.new("RGB", (1600, 1200), "white").save(path)
    sizes: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: object) -> object:
        result = real_draft(self, mode, size)  # type: ignore[arg-type]
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    img = media.prepare_image(path, (200, 150))
    assert img.size == (200, 150)
    assert sizes == [(200, 150)]  # decoded at 1/8 scale, not at full size


def test_downscale_keeps_aspect_and_never_upscales(tmp_path: Path) -> None:
    big = Image.new("RGB", (400, 200), "red")
    assert media.prepare_image(big, (100, 100)).size == (100, 50)
    assert media.prepare_image(big, (1000, 50)).size == (100, 50)
    small = Image.new("RGB", (50, 20), "red")
    assert media.prepare_image(small, (100, 100)).size == (50, 20)
    assert media.prepare_image(small, None).size == (50, 20)


def _save_and_prepare(tmp_path: Path, img: Image.Image, name: str, **save: object) -> np.ndarray:
    import numpy as np

    path = tmp_path / name
    img.save(path, **save)
    out = media.prepare_image(path, None)
    assert out.mode == "RGB"
    assert out.size == img.size
    return np.asarray(out).astype(int)


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    arr = _save_and_prepare(tmp_path, Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "c.jpg")
    r, g, b = arr[..., 0].mean(), arr[..., 1].mean(), arr[..., 2].mean()
    assert r > 200 and g < 60 and b < 60  # red


def test_16_bit_gray_becomes_rgb(tmp_path: Path) -> None:
    import numpy as np

    data = np.full((10, 20), 65535, np.uint16)
    data[:, 10:] = 32768
    img = Image.fromarray(data)  # mode I;16
    assert img.mode.startswith("I;16")
    arr = _save_and_prepare(tmp_path, img, "g16.png")
    assert arr[:, :10].min() == 255
    assert abs(arr[:, 10:].mean() - 128) <= 1


def test_32_bit_integer_becomes_rgb(tmp_path: Path) -> None:
    import numpy as np

    img = Image.fromarray(np.full((6, 6), 1000, np.int32), "I")
    out = media.prepare_image(img, None)
    assert out.mode == "RGB"
    assert np.asarray(out).max() <= 255


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    img.info["transparency"] = 0
    arr = _save_and_prepare(tmp_path, img, "p.png", transparency=0)
    assert (arr[:, 4:] == 255).all()  # transparent black -> white
    assert (arr[:, :4, 0] == 255).all() and (arr[:, :4, 1] == 0).all()


def test_plain_palette_becomes_rgb(tmp_path: Path) -> None:
    img = Image.new("RGB", (8, 8), (10, 200, 30)).convert("P")
    arr = _save_and_prepare(tmp_path, img, "p.gif")
    assert abs(arr[..., 1].mean() - 200) < 10


def test_rgba_and_la_are_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 4, 8))
    arr = _save_and_prepare(tmp_path, rgba, "a.png")
    assert (arr[:, 4:] == 255).all()
    assert (arr[:, :4, 2] == 255).all() and (arr[:, :4, 0] == 0).all()
    la = Image.new("LA", (8, 8), (0, 128))
    arr = _save_and_prepare(tmp_path, la, "la.png")
    assert abs(arr.mean() - 127) < 3  # black at half alpha over white


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    arr = _save_and_prepare(tmp_path, Image.new("L", (8, 8), 77), "l.png")
    assert (arr == 77).all()


def test_prepare_never_modifies_the_source(tmp_path: Path) -> None:
    path = tmp_path / "rot.jpg"
    _jpeg_with_orientation(path, (300, 200), 8)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    media.prepare_image(path, (50, 50))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    given = Image.new("RGBA", (40, 30))
    media.prepare_image(given, (10, 10))
    assert given.size == (40, 30) and given.mode == "RGBA"


def test_encode_upload_is_jpeg(tmp_path: Path) -> None:
    data = media.encode_upload(Image.new("RGBA", (32, 24), (0, 0, 0, 0)), quality=80)
    assert data[:2] == b"\xff\xd8"
    back = Image.open(io.BytesIO(data))
    assert back.format == "JPEG" and back.size == (32, 24) and back.mode == "RGB"


def test_encode_upload_gives_the_bytes_of_an_in_memory_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Encoded through a temporary file (the GIL let go), or in memory where none can be made:
    the same JPEG bytes either way."""
    import tempfile

    with Image.open(media.sample_image_path()) as img:
        photo = img.convert("RGB")
    expected = io.BytesIO()
    photo.save(expected, format="JPEG", quality=92)
    assert media.encode_upload(photo) == expected.getvalue()

    def no_temp(*_args: object, **_kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_temp)
    assert media.encode_upload(photo) == expected.getvalue()


def test_sample_image_is_shipped() -> None:
    path = media.sample_image_path()
    assert media.sniff_mime(path) == "image/jpeg"
    assert 100_000 < path.stat().st_size < 500_000


# ---------------------------------------------------------------------------- MP4


def test_write_and_probe_mp4(tmp_path: Path) -> None:
    import av

    out = tmp_path / "clip.mp4"
    frames = _frames(12)
    frames[3] = Image.fromarray(frames[3])  # PIL frames are accepted too
    assert media.write_mp4(iter(frames), 8, out, 64, 48) == 12
    info = media.probe_mp4(out)
    assert (info.frames, info.width, info.height, info.codec) == (12, 64, 48, "h264")
    assert info.fps == pytest.approx(8.0)
    assert info.duration_secs == pytest.approx(1.5, abs=0.01)
    assert info.size_bytes == out.stat().st_size
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 12
    assert abs(int(decoded[5].mean()) - 45) <= 2
    head = out.read_bytes()
    assert media.looks_like_mp4(head[:16])
    assert head.find(b"moov") < head.find(b"mdat")  # +faststart


def test_write_mp4_takes_yuv420p_planes(tmp_path: Path) -> None:
    import av
    import numpy as np

    out = tmp_path / "yuv.mp4"
    w, h = 64, 48
    planes = np.empty((h * 3 // 2, w), np.uint8)
    planes[:h] = 180  # Y
    planes[h:] = 128  # U and V: neutral gray
    assert media.write_mp4([planes] * 4, 10, out, w, h) == 4
    with av.open(str(out)) as container:
        rgb = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(rgb) == 4
    expected = round((180 - 16) * 255 / 219)  # limited range -> full range gray
    assert abs(float(rgb[0].mean()) - expected) < 2
    with pytest.raises(MediaError, match="yuv420p"):
        media.write_mp4([planes[:-2]], 10, tmp_path / "short.mp4", w, h)


def test_write_mp4_refuses_odd_sizes_and_empty_input(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="even"):
        media.write_mp4(_frames(2, 63, 48), 8, tmp_path / "odd.mp4", 63, 48)
    with pytest.raises(MediaError, match="no frames"):
        media.write_mp4([], 8, tmp_path / "empty.mp4", 64, 48)
    assert not (tmp_path / "empty.mp4").exists()


def test_write_mp4_wrong_frame_size_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(MediaError, match="32x48"):
        media.write_mp4([*_frames(2), *_frames(1, 32, 48)], 8, out, 64, 48)
    assert not out.exists()


def test_write_mp4_producer_error_propagates_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "boom.mp4"

    def frames():  # type: ignore[no-untyped-def]
        yield from _frames(3)
        raise RuntimeError("producer broke")

    with pytest.raises(RuntimeError, match="producer broke"):
        media.write_mp4(frames(), 8, out, 64, 48)
    assert not out.exists()


def test_write_mp4_to_a_missing_folder_is_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        media.write_mp4(_frames(2), 8, tmp_path / "no" / "such" / "x.mp4", 64, 48)


def test_probe_truncated_mp4(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    media.write_mp4(iter(_frames(20)), 10, out, 64, 48)
    data = out.read_bytes()
    for keep in (len(data) // 2, len(data) - 40, 100):
        cut = tmp_path / f"cut{keep}.mp4"
        cut.write_bytes(data[:keep])
        with pytest.raises(MediaError, match="not a playable MP4"):
            media.probe_mp4(cut)


def test_probe_not_an_mp4(tmp_path: Path) -> None:
    jpeg = tmp_path / "x.mp4"
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    with pytest.raises(MediaError, match="ftyp"):
        media.probe_mp4(jpeg)
    with pytest.raises(MediaError):
        media.probe_mp4(tmp_path / "missing.mp4")
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    with pytest.raises(MediaError, match="not a playable MP4"):
        media.probe_mp4(fake)


def test_looks_like_mp4() -> None:
    assert media.looks_like_mp4(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00")
    assert not media.looks_like_mp4(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert not media.looks_like_mp4(b"ftyp")
    assert not media.looks_like_mp4(b"")


def _top_boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of a small MP4's top-level boxes."""
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        out.append((pos, size, data[pos + 4 : pos + 8]))
        pos += size
    return out


def test_probe_walks_the_top_level_boxes(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    media.write_mp4(iter(_frames(10)), 10, out, 64, 48)
    data = out.read_bytes()
    boxes = {kind: (offset, size) for offset, size, kind in _top_boxes(data)}
    assert {b"ftyp", b"moov", b"mdat"} <= set(boxes)

    def without(kind: bytes) -> bytes:
        offset, size = boxes[kind]
        return data[:offset] + data[offset + size :]

    for kind in (b"moov", b"mdat"):
        cut = tmp_path / f"no-{kind.decode()}.mp4"
        cut.write_bytes(without(kind))
        with pytest.raises(MediaError, match=f"no '{kind.decode()}' box"):
            media.probe_mp4(cut)
    stray = tmp_path / "stray.mp4"
    stray.write_bytes(data + b"\0\0\0")  # less than a box header after the last box
    with pytest.raises(MediaError, match="truncated"):
        media.probe_mp4(stray)
    bad_size = tmp_path / "bad-size.mp4"
    bad_size.write_bytes(data + b"\0\0\0\x04free")  # a box smaller than its own header
    with pytest.raises(MediaError, match="impossible size"):
        media.probe_mp4(bad_size)


def test_probe_undecodable_first_frame(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    media.write_mp4(iter(_frames(10)), 10, out, 64, 48)
    data = bytearray(out.read_bytes())
    offset, size, kind = _top_boxes(bytes(data))[-1]
    assert kind == b"mdat"
    data[offset + 8 : offset + size] = b"\xff" * (size - 8)  # structure intact, samples garbage
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="not a playable MP4"):
        media.probe_mp4(garbage)


def test_probe_fragmented_mp4_counts_packets(tmp_path: Path) -> None:
    """A fragmented MP4's moov declares no samples: the frames are counted from the packets."""
    from fractions import Fraction

    import av

    out = tmp_path / "frag.mp4"
    with av.open(
        str(out), mode="w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as container:
        stream = container.add_stream("libx264", rate=Fraction(10, 1))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, arr in enumerate(_frames(15)):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 0
    info = media.probe_mp4(out)
    assert (info.frames, info.width, info.height) == (15, 64, 48)
    assert info.duration_secs == pytest.approx(1.5, abs=0.01)
