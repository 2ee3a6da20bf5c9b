"""Masters prepared at the size the model needs (JPEG decoded with DCT scaling, big TIFF/PNG
reduced by a whole factor on load) give the same pixels as decoding the whole master and fitting
it: within a grey level on average, the same size, orientation and colour, over a corpus made
here (every EXIF orientation, CMYK, 16-bit grey and RGB, palette, alpha, plain TIFF)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from imagear.media import (
    UPLOAD_SLACK,
    open_image,
    open_reduced,
    prepare_image,
    sample_image_path,
)

BOX = (300, 200)  # what the model needs of a 1200x800 master: a quarter of each side


def photo() -> Image.Image:
    """A real photograph (the sample), 1200x800, with a red corner: a wrong rotation or
    channel order shows."""
    with Image.open(sample_image_path()) as img:
        out = img.convert("RGB").resize((1200, 800), Image.Resampling.LANCZOS)
    out.paste((220, 30, 30), (0, 0, 200, 150))
    return out


def _tiff16_rgb(img: Image.Image, path: Path) -> None:
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from tiff16 import write_tiff16  # the benchmark's scan writer (standard library only)

    write_tiff16(np.asarray(img, dtype=np.uint16) * 257, path)


def _corpus(folder: Path) -> dict[str, Path]:
    import numpy as np

    base = photo()
    out: dict[str, Path] = {}
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out[f"jpeg-orientation-{orientation}"] = folder / f"o{orientation}.jpg"
        base.save(out[f"jpeg-orientation-{orientation}"], quality=92, exif=exif)
    out["jpeg-cmyk"] = folder / "cmyk.jpg"
    base.convert("CMYK").save(out["jpeg-cmyk"], quality=92)
    out["png-16-bit-grey"] = folder / "g16.png"
    grey = np.asarray(base.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(out["png-16-bit-grey"])
    out["tiff-16-bit-rgb"] = folder / "rgb16.tif"
    _tiff16_rgb(base, out["tiff-16-bit-rgb"])
    out["png-palette"] = folder / "p.png"
    base.convert("P", palette=Image.Palette.ADAPTIVE).save(out["png-palette"])
    out["png-alpha"] = folder / "a.png"
    rgba = base.copy()
    rgba.putalpha(Image.linear_gradient("L").rotate(180).resize(base.size))  # opaque at the top
    rgba.save(out["png-alpha"])
    out["tiff"] = folder / "t.tif"
    base.save(out["tiff"])
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _corpus(tmp_path_factory.mktemp("masters"))


KINDS = [
    *(f"jpeg-orientation-{o}" for o in range(1, 9)),
    "jpeg-cmyk",
    "png-16-bit-grey",
    "tiff-16-bit-rgb",
    "png-palette",
    "png-alpha",
    "tiff",
]


@pytest.mark.parametrize("kind", KINDS)
def test_prepared_masters_keep_their_pixels(corpus: dict[str, Path], kind: str) -> None:
    import numpy as np

    path = corpus[kind]
    fast = prepare_image(path, BOX)  # reduced while or right after decoding
    whole = prepare_image(open_image(path), BOX)  # every pixel decoded, then fitted
    assert fast.mode == whole.mode == "RGB" and fast.size == whole.size
    a, b = np.asarray(fast, dtype=np.float32), np.asarray(whole, dtype=np.float32)
    assert float(np.abs(a - b).mean()) <= 1.0  # within a grey level on average
    assert abs(float(a.mean()) - float(b.mean())) <= 0.5  # the same colour overall
    # orientation and channels: the red corner is in the same corner of both
    if kind != "png-16-bit-grey":
        red_a, red_b = (x[..., 0] - x[..., 1] > 60 for x in (a, b))
        assert red_a.sum() > 100 and (red_a & red_b).sum() >= 0.9 * red_b.sum()


MODEL = (440, 294)  # a model's size that no whole reduction of 1200x800 gives exactly


@pytest.mark.parametrize("kind", KINDS)
def test_uploads_fitted_by_the_server_keep_their_pixels(corpus: dict[str, Path], kind: str) -> None:
    """A client's upload is what the reduced decode gave (never resampled: the server fits it);
    once the server has fitted it, it is the whole master fitted, within a grey level."""
    import numpy as np

    path = corpus[kind]
    upload = prepare_image(path, MODEL, slack=UPLOAD_SLACK)
    fitted = prepare_image(path, MODEL)
    # it covers the fit, and is at most twice it on a side
    assert fitted.width <= upload.width <= UPLOAD_SLACK * fitted.width
    assert fitted.height <= upload.height <= UPLOAD_SLACK * fitted.height
    if kind != "png-palette":  # palette images are never reduced on load: fitted whole
        assert upload.size != fitted.size  # not resampled by the client
    served = prepare_image(upload, MODEL)  # what the server's fit makes of it
    assert np.array_equal(np.asarray(served), np.asarray(fitted))  # one Lanczos pass, as before
    whole = prepare_image(open_image(path), MODEL)
    assert served.size == whole.size
    a, b = np.asarray(served, dtype=np.float32), np.asarray(whole, dtype=np.float32)
    assert float(np.abs(a - b).mean()) <= 1.0
    assert abs(float(a.mean()) - float(b.mean())) <= 0.5
    if kind != "png-16-bit-grey":
        red_a, red_b = (x[..., 0] - x[..., 1] > 60 for x in (a, b))
        assert red_a.sum() > 50 and (red_a & red_b).sum() >= 0.9 * red_b.sum()


def test_an_upload_far_larger_than_the_box_is_still_fitted(tmp_path: Path) -> None:
    """Where nothing reduces while decoding (an EXIF-rotated PNG), the client still fits."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "r.png"
    photo().save(path, exif=exif)
    upload = prepare_image(path, MODEL, slack=UPLOAD_SLACK)
    assert upload.size == prepare_image(path, MODEL).size == (196, 294)


def test_jpeg_masters_are_decoded_at_a_reduced_scale(corpus: dict[str, Path]) -> None:
    with open_reduced(corpus["jpeg-orientation-1"], BOX) as img:
        img.load()
        assert img.size == (300, 200)  # DCT scaling: 1/4 of 1200x800, never the whole
    with open_reduced(corpus["jpeg-orientation-6"], BOX) as img:  # upright 800x1200 -> 133x200
        img.load()
        assert img.size == (300, 200)  # stored sideways: 1/4 still covers 200x133
