"""The Ken Burns engine: geometry, motion, smoothness, loops and the MP4 it writes."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image, ImageDraw

from imagear.engines.base import Engine, EngineConfig, GenerationResult
from imagear.engines.kenburns import (
    MOTIONS,
    KenBurnsEngine,
    camera_path,
    render_frames,
    render_parallel,
)
from imagear.errors import InvalidOption, MediaError
from imagear.media import probe_mp4

if TYPE_CHECKING:
    import numpy as np

W, H = 160, 90


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    """A detailed, asymmetric test picture (so that motions and mirrors can be told apart)."""
    import numpy as np

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:300, 0:480]
    arr = np.stack([xx * 255 // 479, yy * 255 // 299, (xx + yy) % 256], axis=-1).astype(float)
    arr += rng.normal(0, 12, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = int(rng.integers(0, 440)), int(rng.integers(0, 260))
        draw.ellipse((x, y, x + 40, y + 40), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw.rectangle((10, 10, 120, 60), fill=(255, 255, 255))
    return img


def options(**kw: Any) -> SimpleNamespace:
    base = dict(
        num_frames=16, fps=8, width=W, height=H, seed=42, prompt=None, motion="zoom_in", zoom=1.3
    )
    base.update(kw)
    base.setdefault("loop", False)
    return SimpleNamespace(**base)


def frames_of(img: Image.Image, **kw: Any) -> list[np.ndarray]:
    import numpy as np

    args: dict[str, Any] = dict(width=W, height=H, num_frames=16, motion="zoom_in", zoom=1.3)
    args.update(kw)
    return [f.astype(np.float64) for f in render_frames(img, **args)]


def mad(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# ---------------------------------------------------------------------------- engine + MP4


def test_engine_satisfies_the_protocol() -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    assert isinstance(engine, Engine)
    assert engine.name == "kenburns"
    assert engine.loaded() is True
    engine.close()


def test_generate_writes_a_playable_mp4(tmp_path: Path, picture: Image.Image) -> None:
    out = tmp_path / "kb.mp4"
    engine = KenBurnsEngine(None, EngineConfig())
    result = engine.generate(picture, options(motion="ken_burns_diagonal", num_frames=20), out)
    assert isinstance(result, GenerationResult)
    assert (result.model, result.seed, result.num_frames, result.fps) == ("kenburns", 42, 20, 8)
    assert result.motion == "ken_burns_diagonal"
    assert result.generation_secs >= 0
    info = probe_mp4(out)
    assert (info.frames, info.width, info.height, info.codec) == (20, W, H, "h264")
    assert info.fps == pytest.approx(8)
    decoded = decode_all(out)
    assert len(decoded) == 20
    assert decoded[0].shape == (H, W, 3)
    assert mad(decoded[0], decoded[-1]) > 8  # it moves
    assert min(mad(a, b) for a, b in itertools.pairwise(decoded)) > 0.2  # no frozen frames


def test_generate_defaults_and_clamps(tmp_path: Path, picture: Image.Image) -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    opts = SimpleNamespace(num_frames=6, fps=5, width=161, height=91, seed=3, zoom=5.0)
    result = engine.generate(picture, opts, tmp_path / "c.mp4")
    assert result.motion == "zoom_in"
    assert result.extra["zoom"] == 2.0
    info = probe_mp4(tmp_path / "c.mp4")
    assert (info.width, info.height, info.frames) == (160, 90, 6)


def test_generate_refuses_unknown_motion(tmp_path: Path, picture: Image.Image) -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    with pytest.raises(InvalidOption, match="spin"):
        engine.generate(picture, options(motion="spin"), tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_generate_failure_leaves_no_file_and_no_thread(
    tmp_path: Path, picture: Image.Image
) -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    for earlier in threading.enumerate():  # earlier tests' previews end on their own
        if earlier.name == "imagear-preview":
            earlier.join()
    before = threading.active_count()
    out = tmp_path / "missing-folder" / "x.mp4"
    with pytest.raises(MediaError):
        engine.generate(picture, options(num_frames=40), out)
    assert not out.exists()
    assert threading.active_count() == before


# ---------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("src", [(480, 300), (300, 480), (1000, 200), (160, 90), (50, 40)])
@pytest.mark.parametrize("motion", MOTIONS)
def test_views_cover_the_output_inside_the_image(src: tuple[int, int], motion: str) -> None:
    for loop in (False, True):
        for left, top, right, bottom in camera_path(src, (W, H), 9, motion, 1.5, loop):
            assert (right - left) / (bottom - top) == pytest.approx(W / H)
            assert -1e-9 <= left < right <= src[0] + 1e-9
            assert -1e-9 <= top < bottom <= src[1] + 1e-9


def test_zoom_reaches_the_final_zoom() -> None:
    rects = camera_path((480, 300), (W, H), 10, "zoom_in", 1.3)
    assert (rects[0][2] - rects[0][0]) / (rects[-1][2] - rects[-1][0]) == pytest.approx(1.3)
    out = camera_path((480, 300), (W, H), 10, "zoom_out", 1.3)
    assert out[0] == pytest.approx(rects[-1]) and out[-1] == pytest.approx(rects[0])


def test_render_frames_is_lazy_and_sized(picture: Image.Image) -> None:
    import numpy as np

    gen = render_frames(picture, width=W, height=H, num_frames=1000)
    first = next(gen)
    assert first.shape == (H, W, 3) and first.dtype == np.uint8
    gen.close()


def test_yuv420p_frames_match_the_rgb_frames(picture: Image.Image) -> None:
    import av
    import numpy as np

    rgb = list(render_frames(picture, width=W, height=H, num_frames=3, motion="pan_rl"))
    yuv = list(
        render_frames(
            picture, width=W, height=H, num_frames=3, motion="pan_rl", pixel_format="yuv420p"
        )
    )
    assert yuv[0].shape == (H * 3 // 2, W) and yuv[0].dtype == np.uint8
    for a, b in zip(rgb, yuv, strict=True):
        frame = av.VideoFrame.from_ndarray(b, format="yuv420p")
        back = frame.to_ndarray(format="rgb24")  # swscale's default BT.601 limited matrix
        assert mad(a, back) < 6  # only chroma subsampling and rounding differ
        assert abs(float(a.astype(float).mean() - back.astype(float).mean())) < 1.5


def test_yuv420p_needs_an_even_size(picture: Image.Image) -> None:
    with pytest.raises(ValueError, match="even"):
        next(render_frames(picture, width=W + 1, height=H, num_frames=2, pixel_format="yuv420p"))
    with pytest.raises(ValueError, match="pixel_format"):
        next(render_frames(picture, width=W, height=H, num_frames=2, pixel_format="nv12"))


# ---------------------------------------------------------------------------- motion


def test_every_motion_moves_and_the_five_differ(picture: Image.Image) -> None:
    clips = {m: frames_of(picture, motion=m) for m in MOTIONS}
    for motion, frames in clips.items():
        assert mad(frames[0], frames[-1]) > 8, motion
    for a, b in itertools.combinations(MOTIONS, 2):
        difference = sum(mad(x, y) for x, y in zip(clips[a], clips[b], strict=True))
        assert difference / len(clips[a]) > 3, (a, b)


def test_pans_are_mirror_images_in_time(picture: Image.Image) -> None:
    lr = frames_of(picture, motion="pan_lr")
    rl = frames_of(picture, motion="pan_rl")
    assert mad(lr[0], rl[-1]) < 0.5
    assert mad(lr[-1], rl[0]) < 0.5
    assert mad(lr[0], rl[0]) > 8


def test_zoom_out_is_zoom_in_reversed(picture: Image.Image) -> None:
    zin = frames_of(picture, motion="zoom_in")
    zout = frames_of(picture, motion="zoom_out")
    assert mad(zin[0], zout[-1]) < 0.5 and mad(zin[-1], zout[0]) < 0.5


@pytest.mark.parametrize("motion", MOTIONS)
def test_loop_returns_to_the_first_frame(picture: Image.Image, motion: str) -> None:
    frames = frames_of(picture, motion=motion, loop=True, num_frames=24)
    step = mad(frames[0], frames[1])
    farthest = max(mad(frames[0], f) for f in frames)
    assert mad(frames[-1], frames[0]) < 1.5 * step + 0.5  # N-1 flows into 0 like 0 into 1
    assert farthest > 4 * mad(frames[-1], frames[0])
    # out and back: the turning point is in the middle
    assert mad(frames[12], frames[0]) == pytest.approx(farthest, rel=0.05)


def test_loop_mp4_last_frame_is_close_to_first(tmp_path: Path, picture: Image.Image) -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    out = tmp_path / "loop.mp4"
    engine.generate(picture, options(motion="pan_lr", loop=True, num_frames=24), out)
    decoded = decode_all(out)
    assert len(decoded) == 24
    assert mad(decoded[-1], decoded[0]) < 0.5 * mad(decoded[12], decoded[0])


# ---------------------------------------------------------------------------- smoothness


def _blob_picture(width: int, height: int) -> Image.Image:
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    blob = 255 * np.exp(-((xx - width / 2) ** 2 + (yy - height / 2) ** 2) / (2 * 8.0**2))
    return Image.fromarray(np.repeat(blob[..., None], 3, axis=2).astype(np.uint8))


def _centroids_x(frames: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    xs = np.arange(frames[0].shape[1], dtype=float)
    out = []
    for frame in frames:
        weight = frame[..., 0].astype(float).sum(axis=0)
        out.append(float((weight * xs).sum() / weight.sum()))
    return np.array(out)


def _is_smooth(steps: np.ndarray) -> bool:
    """Every frame moves the same way, none stands still, speed changes gently."""
    import numpy as np

    if not (np.all(steps < 0) or np.all(steps > 0)):
        return False
    speed = np.abs(steps)
    if speed.min() < 0.15 * speed.mean():
        return False
    ratios = speed[1:] / speed[:-1]
    return bool(np.all((ratios > 0.75) & (ratios < 1.33)))


def test_slow_pan_moves_by_sub_pixel_steps_smoothly() -> None:
    # a pan of ~16 px over 30 frames: ~0.6 px per frame, the case where zoompan stutters
    import numpy as np

    picture = _blob_picture(168, 90)
    frames = frames_of(picture, motion="pan_lr", zoom=1.05, num_frames=30)
    steps = np.diff(_centroids_x(frames))
    assert np.abs(steps).max() < 1.0  # really a sub-pixel pan
    assert _is_smooth(steps), steps


def test_smoothness_check_catches_whole_pixel_jitter() -> None:
    import numpy as np

    picture = _blob_picture(168, 90)
    rects = camera_path(picture.size, (W, H), 30, "pan_lr", 1.05)
    jittery = [  # what zoompan does: the crop snaps to whole pixels
        np.asarray(
            picture.resize(
                (W, H),
                Image.Resampling.BILINEAR,
                box=(int(r[0]), r[1], int(r[0]) + r[2] - r[0], r[3]),
            )
        )
        for r in rects
    ]
    assert not _is_smooth(np.diff(_centroids_x(jittery)))


@pytest.mark.parametrize("motion", ["zoom_in", "pan_lr"])
def test_decoded_slow_motion_has_no_repeated_frames(
    tmp_path: Path, picture: Image.Image, motion: str
) -> None:
    engine = KenBurnsEngine(None, EngineConfig())
    out = tmp_path / "slow.mp4"
    engine.generate(picture, options(motion=motion, zoom=1.05, num_frames=30), out)
    decoded = decode_all(out)
    assert len(decoded) == 30
    # every step moves the picture (zoompan repeats frames here); the slowest steps are at the
    # eased ends of a 5 % zoom on a 160x90 frame, well under a pixel at the edges
    assert min(mad(a, b) for a, b in itertools.pairwise(decoded)) > 0.05


# ---------------------------------------------------------------------------- render threads


def test_threads_render_the_same_frames_in_order(picture: Image.Image) -> None:
    import numpy as np

    args = {"width": W, "height": H, "num_frames": 24, "motion": "ken_burns_diagonal"}
    alone = list(render_frames(picture, pixel_format="yuv420p", **args))  # type: ignore[arg-type]
    for threads, depth in ((1, 1), (3, 2), (4, 8)):
        got = list(render_parallel(picture, threads=threads, depth=depth, **args))  # type: ignore[arg-type]
        assert len(got) == len(alone)
        assert all(np.array_equal(a, b) for a, b in zip(got, alone, strict=True))


def test_a_failed_frame_is_raised_where_it_is_taken(
    picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.engines import kenburns

    real = kenburns._Planes.frame
    calls: list[int] = []

    def failing(self: object, box: object) -> object:
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError("render failed")
        return real(self, box)  # type: ignore[arg-type]

    monkeypatch.setattr(kenburns._Planes, "frame", failing)
    gen = render_parallel(picture, width=W, height=H, num_frames=40, threads=2, depth=2)
    got = []
    with pytest.raises(MemoryError, match="render failed"):
        for frame in gen:
            got.append(frame)
    assert len(got) == 4  # the frames before the failed one came through, in order


def test_closing_stops_the_render_threads(
    picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from imagear.engines import kenburns

    made: list[int] = []
    real = kenburns._Planes.frame

    def counting(self: object, box: object) -> object:
        made.append(1)
        return real(self, box)  # type: ignore[arg-type]

    monkeypatch.setattr(kenburns._Planes, "frame", counting)
    gen = render_parallel(picture, width=W, height=H, num_frames=10_000, threads=2, depth=3)
    next(gen)
    gen.close()
    assert len(made) < 10  # a few frames ahead, never the whole clip
    assert not [t for t in threading.enumerate() if t.name.startswith("kenburns-render")]


def test_the_working_planes_are_made_at_once_on_a_render_thread(
    picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    """render_parallel starts the working planes when called, on one of its threads, so that
    they are made while the caller opens its encoder (PyAV's import, 40 ms on one core), not
    when the first frame is asked for."""
    import numpy as np

    from imagear.engines import kenburns

    made = threading.Event()
    where: list[str] = []
    real = kenburns._planes_of

    def watched(*args: object) -> object:
        where.append(threading.current_thread().name)
        made.set()
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(kenburns, "_planes_of", watched)
    frames = render_parallel(picture, width=W, height=H, num_frames=8, threads=2, depth=2)
    try:
        assert made.wait(5), "the planes waited for the first frame"
        assert where[0].startswith("kenburns-render")
        alone = list(
            render_frames(picture, width=W, height=H, num_frames=8, pixel_format="yuv420p")
        )
        assert all(np.array_equal(a, b) for a, b in zip(frames, alone, strict=True))
    finally:
        frames.close()


def test_closing_before_any_frame_stops_the_render_threads(
    picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.engines import kenburns

    def failing(*args: object) -> object:
        raise ValueError("no planes")

    frames = render_parallel(picture, width=W, height=H, num_frames=8, threads=2, depth=2)
    frames.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("kenburns-render")]
    with pytest.raises(StopIteration):
        next(frames)
    monkeypatch.setattr(kenburns, "_planes_of", failing)  # raised where the first frame is taken
    frames = render_parallel(picture, width=W, height=H, num_frames=8, threads=2, depth=2)
    with pytest.raises(ValueError, match="no planes"):
        next(frames)
    frames.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("kenburns-render")]


def test_the_working_planes_are_made_in_chunks_with_the_whole_images_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Y/U/V of the working image are converted a few rows at a time (a whole 24 MP source in
    float32 took about 1 GB at once): the same values as one conversion of the whole image."""
    import numpy as np

    from imagear.engines import kenburns

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (203, 301, 3), dtype=np.uint8)
    monkeypatch.setattr(kenburns, "_CHUNK_PIXELS", 301 * 16 + 5)  # 16 rows, a short last one
    luma, cb, cr = kenburns._yuv_planes(Image.fromarray(rgb))
    whole = rgb.astype(np.float32) @ kenburns._RGB_TO_YUV.T + kenburns._YUV_OFFSET
    planes = np.clip(np.rint(whole), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(luma), planes[..., 0])
    half = (151, 102)
    for got, index in ((cb, 1), (cr, 2)):
        expected = Image.fromarray(np.ascontiguousarray(planes[..., index]))
        assert np.array_equal(
            np.asarray(got), np.asarray(expected.resize(half, Image.Resampling.BOX))
        )


def test_the_encoder_keeps_no_lookahead_buffer_for_the_same_bytes(
    tmp_path: Path, picture: Image.Image
) -> None:
    """The engine turns x264's threaded lookahead buffer off (memory, docs/performance.md):
    the options reach libx264 (bframes=0 changes the stream) and the clip is byte for byte the
    one x264's default sync lookahead makes with the engine's other options."""
    from imagear.engines.kenburns import X264_PARAMS

    assert "sync-lookahead=0" in X264_PARAMS.split(":")
    others = ":".join(p for p in X264_PARAMS.split(":") if p != "sync-lookahead=0")
    options = SimpleNamespace(num_frames=30, fps=10, width=W, height=H, seed=1)
    clips = {}
    for params in (X264_PARAMS, others, "bframes=0"):
        engine = KenBurnsEngine()
        engine.x264_params = params
        out = tmp_path / f"clip-{len(clips)}.mp4"
        engine.generate(picture, options, out)
        clips[params] = out.read_bytes()
    assert clips[X264_PARAMS] == clips[others]
    assert clips["bframes=0"] != clips[others]


def test_a_camera_move_is_coded_four_b_frames_to_a_p_frame(
    tmp_path: Path, picture: Image.Image
) -> None:
    """A smooth move gets a fixed pattern of four B-frames between P-frames (x264's adaptive
    choice, up to three, cost more encoder time for a larger file: docs/performance.md)."""
    import av

    out = tmp_path / "clip.mp4"
    options = SimpleNamespace(num_frames=31, fps=10, width=W, height=H, motion="pan_lr", seed=1)
    KenBurnsEngine().generate(picture, options, out)
    with av.open(str(out)) as container:
        # AVPictureType: 1 I, 2 P, 3 B (PyAV gives an int or an enum member, by version)
        kinds = "".join(" IPB"[int(frame.pict_type)] for frame in container.decode(video=0))
    assert kinds == "I" + "BBBBP" * 6, kinds


# ---------------------------------------------------------------------------- the preview ahead


def test_the_preview_is_encoded_while_the_clip_finishes(
    tmp_path: Path, picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the last frame is in, the preview encodes on its own thread while x264 finishes the
    clip (and the clip is then checked and signed), where it was encoded at commit with a core
    idle; write_preview writes the same bytes as an encode of the kept frames would."""
    from imagear.media import mp4
    from imagear.media import preview_encoder as encoder
    from imagear.media.preview import write_preview

    events: list[str] = []
    finish, started = mp4._Mp4Writer.finish, encoder.PreviewAhead.__init__

    def finishing(self: Any) -> None:
        events.append(f"finish {threading.current_thread().name}")
        finish(self)

    def starting(self: Any, *args: Any) -> None:
        events.append("preview ahead")
        started(self, *args)

    monkeypatch.setattr(mp4._Mp4Writer, "finish", finishing)
    monkeypatch.setattr(encoder.PreviewAhead, "__init__", starting)
    result = KenBurnsEngine().generate(picture, options(num_frames=30), tmp_path / "clip.mp4")
    ours = [e for e in events if e in ("preview ahead", "finish MainThread")]
    assert ours == ["preview ahead", "finish MainThread"]  # the preview's own: its thread
    scan = result.scan
    assert scan is not None and scan.preview_ahead is not None and scan.preview
    write_preview(scan, tmp_path / "ahead.m4v")
    encoder.encode(scan.preview, scan.preview_fps, tmp_path / "now.m4v")
    assert (tmp_path / "ahead.m4v").read_bytes() == (tmp_path / "now.m4v").read_bytes()
    assert probe_mp4(tmp_path / "ahead.m4v").frames == len(scan.preview)


def test_a_preview_ahead_that_fails_is_raised_where_it_is_written(
    tmp_path: Path, picture: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from imagear.media import preview_encoder as encoder
    from imagear.media.preview import write_preview

    spare = tmp_path / "tmp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    result = KenBurnsEngine().generate(picture, options(num_frames=12), tmp_path / "clip.mp4")
    assert result.scan is not None and result.scan.preview_ahead is not None
    result.scan.preview_ahead.result()
    assert list(spare.iterdir()) == []  # its temporary file is gone

    def broken(*args: object) -> None:
        raise MediaError("the encoder is gone")

    monkeypatch.setattr(encoder, "encode", broken)
    result = KenBurnsEngine().generate(picture, options(num_frames=12), tmp_path / "clip2.mp4")
    assert result.scan is not None
    with pytest.raises(MediaError, match="Could not make the preview: the encoder is gone"):
        write_preview(result.scan, tmp_path / "preview.m4v")
    assert not (tmp_path / "preview.m4v").exists()
    assert list(spare.iterdir()) == []


def test_a_preview_ahead_that_breaks_says_so_where_it_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever breaks on the preview's thread comes back as one MediaError from result(),
    never as a thread's traceback on stderr."""
    import numpy as np

    from imagear.media import preview_encoder as encoder

    hooked: list[object] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)

    def broken(*args: object) -> None:
        raise ValueError("a frame of the wrong shape")

    monkeypatch.setattr(encoder, "encode", broken)
    ahead = encoder.PreviewAhead([np.zeros((12, 16), np.uint8)], 10.0)
    with pytest.raises(MediaError, match="Could not make the preview: a frame of the wrong"):
        ahead.result()
    assert hooked == []
    with pytest.raises(MediaError, match="No preview frames"):
        encoder.PreviewAhead([], 10.0)
