"""A clip's measurements sent by the imagear server that made it (imagear.media.extras, issue 27):
the client's quality gate, poster and preview then need no decode of the clip.

The box comes off before anything reads the clip, which is then the server's bytes exactly; a
box that does not describe those bytes, a malformed one, or none at all leave the client to
decode the clip as before; a real `imagear serve` sends it only when asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from imagear.app import App
from imagear.cli import app as cli
from imagear.media import check_boxes, write_mp4
from imagear.media.extras import BOX_UUID, HEADER, append, pack, take
from imagear.media.scan import ClipScan, FrameScanner, scan_clip

if TYPE_CHECKING:
    import numpy as np

pytest.importorskip("uvicorn")

from test_server import SMALL, jpeg_bytes, post, running_server  # noqa: E402


def frames(n: int = 10, size: tuple[int, int] = (96, 64)) -> Iterator[np.ndarray]:
    """RGB frames of a bright square moving over a gradient."""
    import numpy as np

    w, h = size
    base = np.tile(np.linspace(20, 200, w, dtype=np.uint8), (h, 1))
    for i in range(n):
        rgb = np.stack([base, base // 2, 255 - base], axis=-1).copy()
        rgb[10:30, 5 + 4 * i : 25 + 4 * i] = 250
        yield rgb


def made(tmp_path: Path, name: str = "clip.mp4") -> tuple[Path, ClipScan]:
    """A clip written through a FrameScanner, as an engine writes one, and its scan."""
    path = tmp_path / name
    scanner = FrameScanner(10)
    write_mp4(frames(), 10, path, 96, 64, crf=23, preset="superfast", tap=scanner.add)
    return path, scanner.result()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_box_comes_off_and_gives_the_servers_measurements(tmp_path: Path) -> None:
    import numpy as np

    path, scan = made(tmp_path)
    clip_bytes = path.read_bytes()
    added = append(path, scan)
    assert path.stat().st_size == len(clip_bytes) + added
    check_boxes(path)  # a player still sees a whole MP4 with the box on
    sent = take(path)
    assert path.read_bytes() == clip_bytes  # the server's clip, byte for byte
    assert sent is not None and sent.reference is None  # not asked for
    got = sent.scan
    assert (got.frames, got.width, got.height, got.fps) == (10, 96, 64, 10.0)
    for name in ("means", "stds", "from_first", "from_previous"):
        assert np.allclose(getattr(got, name), getattr(scan, name), atol=1e-3)
    assert scan.first is not None and got.first is not None
    assert np.abs(got.first - scan.first).max() <= 0.5  # rounded to whole grey levels
    assert got.poster_jpeg is not None and got.poster_jpeg.startswith(b"\xff\xd8\xff")
    assert got.preview_mp4 is not None and got.preview_mp4[4:8] == b"ftyp"
    # what the gate would have read by decoding agrees with what came with the clip
    decoded = scan_clip(path)
    assert decoded.frames == got.frames
    assert abs(float(decoded.means.mean()) - float(got.means.mean())) < 2.0


def test_poster_and_preview_are_written_as_sent(tmp_path: Path) -> None:
    from imagear.media.preview import write_poster, write_preview

    path, scan = made(tmp_path)
    append(path, scan)
    sent = take(path)
    assert sent is not None
    got = sent.scan
    assert got.poster is None and not got.preview
    write_poster(got, tmp_path / "p.jpg")
    write_preview(got, tmp_path / "p.m4v")
    assert (tmp_path / "p.jpg").read_bytes() == got.poster_jpeg
    assert (tmp_path / "p.m4v").read_bytes() == got.preview_mp4
    assert scan_clip(tmp_path / "p.m4v").frames == 10  # the preview plays


def test_a_clip_without_the_box_is_left_alone(tmp_path: Path) -> None:
    path, _scan = made(tmp_path)
    before = path.read_bytes()
    assert take(path) is None
    assert path.read_bytes() == before


def test_a_box_of_other_bytes_is_taken_off_and_not_believed(tmp_path: Path) -> None:
    path, scan = made(tmp_path)
    append(path, scan)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # the clip changed after the server measured it
    path.write_bytes(bytes(data))
    clip_len = check_len = len(data) - _box_len(path)
    assert take(path) is None
    assert path.stat().st_size == clip_len == check_len


def _box_len(path: Path) -> int:
    data = path.read_bytes()
    at = data.rfind(b"uuid" + BOX_UUID)
    return len(data) - (at - 4)


@pytest.mark.parametrize(
    "header",
    [
        b"not json",
        json.dumps({"version": 1, "sections": [1, 2]}).encode(),  # wrong section list
        json.dumps({"version": 99, "sections": [0, 0, 0]}).encode(),  # a later version
        b"[" * 100_000 + b"]" * 100_000,  # nested deeper than the JSON parser goes
    ],
)
def test_a_malformed_box_is_taken_off_and_the_clip_decoded(tmp_path: Path, header: bytes) -> None:
    path, _scan = made(tmp_path)
    clip = path.read_bytes()
    payload = BOX_UUID + len(header).to_bytes(4, "big") + header
    path.write_bytes(clip + (8 + len(payload)).to_bytes(4, "big") + b"uuid" + payload)
    assert take(path) is None
    assert path.read_bytes() == clip


def test_a_box_with_impossible_measurements_is_not_believed(tmp_path: Path) -> None:
    path, scan = made(tmp_path)
    clip = path.read_bytes()
    box = bytearray(pack(scan, len(clip), sha(path), b"", b""))
    text = bytes(box).replace(b'"means":[', b'"means":[NaN,', 1)  # a value that is no number
    length_at = 8 + len(BOX_UUID)
    body_len = int.from_bytes(box[length_at : length_at + 4], "big") + len(b"NaN,")
    text = text[:length_at] + body_len.to_bytes(4, "big") + text[length_at + 4 :]
    text = (len(text)).to_bytes(4, "big") + text[4:]
    path.write_bytes(clip + text)
    assert take(path) is None
    assert path.read_bytes() == clip


def test_a_box_without_a_real_poster_is_not_believed(tmp_path: Path) -> None:
    path, scan = made(tmp_path)
    clip = path.read_bytes()
    path.write_bytes(clip + pack(scan, len(clip), sha(path), b"not a jpeg", b"...."))
    assert take(path) is None  # the client could make no poster of its own: it decodes
    assert path.read_bytes() == clip


def test_a_cut_short_box_leaves_the_file_for_the_clip_check_to_refuse(tmp_path: Path) -> None:
    from imagear.errors import MediaError

    path, scan = made(tmp_path)
    append(path, scan)
    data = path.read_bytes()
    path.write_bytes(data[:-50])  # the download stopped inside the box
    assert take(path) is None
    with pytest.raises(MediaError, match="truncated"):
        check_boxes(path)


# -- through a real `imagear serve` ----------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_server(tmp_path_factory.mktemp("extras-server")) as srv:
        yield srv


def test_the_server_sends_the_box_only_when_asked(served: Any) -> None:
    plain = post(served.url, {"model": "kenburns", **SMALL}, jpeg_bytes())
    asked = post(served.url, {"model": "kenburns", **SMALL}, jpeg_bytes(), headers={HEADER: "1"})
    assert plain.status_code == asked.status_code == 200
    assert b"uuid" + BOX_UUID not in plain.content  # Heratio's clients get the clip as before
    assert asked.content.rfind(b"uuid" + BOX_UUID) > 0


def test_animate_through_a_server_stores_its_clip_without_decoding_it(
    served: Any, app: App, make_image: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear import quality, records, settings

    settings.set_value(app.engine, "ar_server_url", served.url)
    oid = records.add_record(app, make_image("photo.jpg", size=(320, 200))).id

    def no_decode(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the client decoded a clip the server had measured")

    monkeypatch.setattr(quality, "inspect", no_decode)
    args = ["animate", "--object-id", str(oid), "--model", "kenburns", "--json"]
    args += ["--frames", "12", "--fps", "8", "--width", "160", "--height", "96"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    clip = Path(data["file"])
    assert b"uuid" + BOX_UUID not in clip.read_bytes()  # the box never reaches storage
    anim = data["animation"]
    assert (anim["mp4_width"], anim["mp4_height"], anim["mp4_fps"]) == (160, 96, 8)
    assert anim["mp4_duration_secs"] == 1.5 and anim["mp4_size"] == clip.stat().st_size
    assert clip.with_suffix(".jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert scan_clip(clip.with_suffix(".m4v")).frames >= 1
    assert scan_clip(clip).frames == 12  # what was stored plays


# -- the reference of a master sent whole ------------------------------------------------------


def _reference(size: tuple[int, int] = (320, 200)) -> Any:
    import io

    from PIL import Image

    from imagear.media.reference import reference_of

    return reference_of(Image.open(io.BytesIO(jpeg_bytes(size))))


def test_the_reference_comes_with_the_hash_of_the_upload_it_was_made_from(
    tmp_path: Path,
) -> None:
    import numpy as np

    path, scan = made(tmp_path)
    clip = path.read_bytes()
    ref = _reference()
    append(path, scan, (ref, "ab" * 32))
    sent = take(path)
    assert path.read_bytes() == clip
    assert sent is not None and sent.scan.frames == 10
    got = sent.reference_for("ab" * 32)
    assert got is not None
    assert np.array_equal(got.pixels, ref.pixels)  # whole grey levels: sent exactly
    assert (got.mean, got.std) == (ref.mean, ref.std)
    # made from other bytes (another request's image): not believed, the client decodes its own
    assert sent.reference_for("cd" * 32) is None


def test_a_malformed_reference_is_left_out_and_the_measurements_kept(tmp_path: Path) -> None:
    path, scan = made(tmp_path)
    clip = path.read_bytes()
    ref = _reference()
    rows, cols = ref.pixels.shape
    box = pack(scan, len(clip), sha(path), b"", b"", (ref, "ab" * 32))
    shape = f'"reference":[{rows},{cols}]'.encode()
    assert shape in box
    wrong = f'"reference":[{rows - 1:0{len(str(rows))}d},{cols}]'.encode()
    assert len(wrong) == len(shape)  # the header keeps its length: only the shape is wrong
    path.write_bytes(clip + box.replace(shape, wrong))
    with pytest.MonkeyPatch.context() as mp:  # a poster and preview, so the scan is believed
        mp.setattr("imagear.media.extras._scan_of", lambda h, s: scan)
        sent = take(path)
    assert sent is not None and sent.reference is None
    assert path.read_bytes() == clip


def test_a_reference_larger_than_the_clients_is_left_out(tmp_path: Path) -> None:
    """A server's reference over REFERENCE_SIDE on a side (every comparison would resample it):
    not believed, the measurements kept, so the client makes its own reference."""
    import numpy as np

    from imagear.media.reference import REFERENCE_SIDE, reference_from

    path, scan = made(tmp_path)
    big = reference_from(np.full((8, REFERENCE_SIDE + 1), 128, np.uint8))
    append(path, scan, (big, "ab" * 32))
    sent = take(path)
    assert sent is not None and sent.scan.frames == 10
    assert sent.reference is None and sent.reference_for("ab" * 32) is None


def test_the_server_sends_its_reference_of_the_upload_when_asked(
    served: Any, tmp_path: Path
) -> None:
    import hashlib

    import numpy as np

    from imagear.media.extras import REFERENCE

    image = jpeg_bytes((640, 400))
    fields = {"model": "kenburns", **SMALL}
    both = post(served.url, fields, image, headers={HEADER: "1", REFERENCE: "1"})
    only = post(served.url, fields, image, headers={HEADER: "1"})
    assert both.status_code == only.status_code == 200
    (tmp_path / "a.mp4").write_bytes(both.content)
    (tmp_path / "b.mp4").write_bytes(only.content)
    sent, plain = take(tmp_path / "a.mp4"), take(tmp_path / "b.mp4")
    assert sent is not None and plain is not None
    assert plain.reference is None  # not asked: the box is as before
    got = sent.reference_for(hashlib.sha256(image).hexdigest())
    assert got is not None
    # the client's own reference of the same file, decoded here: the same picture (the server's
    # is at most its working copy's size: the clip's, times the camera's reach)
    from PIL import Image

    own = _reference((640, 400)).pixels
    rows, cols = got.pixels.shape
    assert cols <= 256 and abs(cols / rows - 640 / 400) < 0.02
    small = np.asarray(Image.fromarray(own).resize((cols, rows), Image.Resampling.BOX))
    assert float(np.abs(got.pixels - small).mean()) < 3.0


def animated(runner: Any, oid: int) -> dict[str, Any]:
    """`imagear animate --json` of record ``oid`` with kenburns, small: its JSON (exit 0)."""
    args = ["animate", "--object-id", str(oid), "--model", "kenburns", "--json"]
    args += ["--frames", "12", "--fps", "8", "--width", "160", "--height", "96"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_animate_sends_a_jpeg_master_whole_and_decodes_nothing(
    served: Any, app: App, make_image: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JPEG master goes to an imagear server as its own bytes; the server sends the clip's
    measurements and its reference of the master: the client decodes neither."""
    from imagear import quality, records, settings
    from imagear.client import VideoClient
    from imagear.generators import RemoteGenerator
    from imagear.media import reference

    settings.set_value(app.engine, "ar_server_url", served.url)
    master = make_image("photo.jpg", size=(640, 400))
    oid = records.add_record(app, master).id
    uploads: list[tuple[bytes, bool]] = []
    real_animate = VideoClient.animate

    def spy(self: VideoClient, image: bytes, *a: Any, **k: Any) -> Any:
        uploads.append((image, k.get("reference", False)))
        return real_animate(self, image, *a, **k)

    def no_decode(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the client decoded what the server had sent")

    monkeypatch.setattr(VideoClient, "animate", spy)
    monkeypatch.setattr(quality, "inspect", no_decode)
    monkeypatch.setattr(reference, "load_reference", no_decode)
    monkeypatch.setattr(RemoteGenerator, "_reduced", no_decode)
    data = animated(runner, oid)
    assert uploads == [(master.read_bytes(), True)]
    assert data["quality"]["measured"]["resemblance"] > 0.9  # judged against the server's
    assert scan_clip(Path(data["file"])).frames == 12


def test_a_reference_of_other_bytes_is_not_believed(
    served: Any, app: App, make_image: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A box whose reference was made from another upload (a server mixing requests up): the
    client decodes the master for its own reference and judges the clip against that."""
    from imagear import records, settings
    from imagear.media import extras, reference

    settings.set_value(app.engine, "ar_server_url", served.url)
    oid = records.add_record(app, make_image("photo.jpg", size=(640, 400))).id
    real_take, real_load = extras.take, reference.load_reference
    loaded: list[Path] = []

    def other_upload(path: Path) -> Any:
        sent = real_take(path)
        assert sent is not None and sent.reference is not None
        return extras.Sent(sent.scan, sent.reference, "00" * 32)

    def load(path: Any) -> Any:
        loaded.append(Path(path))
        return real_load(path)

    monkeypatch.setattr(extras, "take", other_upload)
    monkeypatch.setattr(reference, "load_reference", load)
    data = animated(runner, oid)
    assert len(loaded) == 1 and loaded[0].name == "photo.jpg"
    assert data["quality"]["measured"]["resemblance"] > 0.9
