"""The diffusers engine, end to end on a CPU with a tiny SVD pipeline built from configs.

The tiny pipeline (tests/tiny_svd.py) is saved with ``save_pretrained`` and loaded back through
the engine's own loader, exactly as real weights would be; it produces noise, fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image
from pydantic import Field

from imagear.engines import diffusers as engine_module
from imagear.engines.base import Engine, EngineConfig
from imagear.engines.diffusers import DiffusersEngine, find_weights, weight_dirs
from imagear.engines.diffusers_weights import cuda_dtype_name, pipeline_class_name
from imagear.errors import EngineUnavailable, GenerationFailed, OutOfGpuMemory
from imagear.models import BaseOptions, get_model
from imagear.models.svd import SVD, SVDOptions

if TYPE_CHECKING:
    import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"


class TinySVDOptions(SVDOptions):
    """The real SVD options, with the frame count opened up for a tiny model (the real ones
    allow only 14 or 25 frames, which takes ~10 s per clip on a CPU even when tiny)."""

    num_frames: int = Field(2, ge=1, le=25)


class TinySVD(SVD):
    """The real ``svd`` descriptor (name, family, hf_repo, pipeline, dtype...), with the frames
    rule and minimum side relaxed so that 2 frames of 32x32 validate."""

    valid_frames = None
    frames_rule = "1 to 25"
    min_side = 16
    Options = TinySVDOptions


def svd_options(**overrides: Any) -> BaseOptions:
    """Cheap, validated SVD options: 2 frames of 32x32, 2 steps, and max guidance 1.0, which
    turns classifier-free guidance off (half the UNet work)."""
    values: dict[str, Any] = {
        "num_frames": 2,
        "fps": 7,
        "seed": 1234,
        "prompt": None,
        "width": 32,
        "height": 32,
        "motion_bucket_id": 127,
        "noise_aug_strength": 0.02,
        "num_inference_steps": 2,
        "min_guidance_scale": 1.0,
        "max_guidance_scale": 1.0,
        "decode_chunk_size": 2,
    }
    values.update(overrides)
    return TinySVD.Options(**values)


def source_image() -> Image.Image:
    import numpy as np

    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))


def decode(path: Path) -> np.ndarray:
    """Every frame of an MP4 as one (frames, H, W, 3) uint8 array."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A models_dir holding a tiny SVD pipeline at models_dir/svd."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from tiny_svd import build_tiny_svd

    # One thread: the tensors are tiny, and on a busy CI box OpenMP threads that spin-wait
    # for each other make these tests several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    build_tiny_svd(root / "svd")
    yield root
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Any:
    # Built the way the app builds it: through the descriptor's create_engine.
    eng = TinySVD().create_engine(EngineConfig(models_dir=models_dir, device="cpu"))
    assert isinstance(eng, DiffusersEngine)
    yield eng
    eng.close()


# -- end to end -------------------------------------------------------------------------------


def test_generates_an_mp4_that_decodes(
    engine: DiffusersEngine, models_dir: Path, tmp_path: Path
) -> None:
    assert isinstance(engine, Engine)
    out = tmp_path / "clip.mp4"
    options = svd_options(num_frames=3, width=64, height=48, max_guidance_scale=2.5)
    result = engine.generate(source_image(), options, out)

    assert engine.loaded()
    frames = decode(out)
    assert frames.shape == (3, 48, 64, 3)
    assert result.model == "svd"
    assert result.seed == 1234
    assert result.num_frames == 3
    assert result.fps == 7
    assert result.motion_bucket_id == 127
    assert result.prompt is None
    assert result.motion == "ai-svd"
    assert result.generation_secs > 0
    assert result.extra["device"] == "cpu"
    assert result.extra["dtype"] == "float32"
    assert result.extra["weights"] == str(models_dir / "svd")


def test_same_seed_same_frames_other_seed_other_frames(
    engine: DiffusersEngine, tmp_path: Path
) -> None:
    import numpy as np

    image = source_image()
    engine.generate(image, svd_options(seed=42), tmp_path / "a.mp4")
    engine.generate(image, svd_options(seed=42), tmp_path / "b.mp4")
    engine.generate(image, svd_options(seed=43), tmp_path / "c.mp4")
    a, b, c = (decode(tmp_path / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_close_frees_the_pipeline_and_reloads_on_demand(models_dir: Path, tmp_path: Path) -> None:
    eng = DiffusersEngine(TinySVD(), EngineConfig(models_dir=models_dir, device="cpu"))
    assert not eng.loaded()
    assert eng.warmup() > 0
    assert eng.loaded() and eng.warmup() == 0.0
    eng.close()
    assert not eng.loaded()
    eng.close()  # twice is fine


def test_low_vram_runs_on_cpu_without_offload(models_dir: Path, tmp_path: Path) -> None:
    # enable_model_cpu_offload needs an accelerator; on a CPU the engine skips it and still
    # applies forward chunking and a decode chunk of at most 2 frames.
    eng = DiffusersEngine(
        TinySVD(), EngineConfig(models_dir=models_dir, low_vram=True, device="cpu")
    )
    try:
        result = eng.generate(
            source_image(), svd_options(decode_chunk_size=8), tmp_path / "low.mp4"
        )
        assert result.extra["low_vram"] is True
        assert decode(tmp_path / "low.mp4").shape[0] == 2
        blocks = [m for m in eng._pipe.unet.modules() if hasattr(m, "_chunk_size")]
        assert blocks and all(m._chunk_size is not None for m in blocks)
    finally:
        eng.close()


def test_loads_from_the_hugging_face_cache(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo_dir = cache / "models--stabilityai--stable-video-diffusion-img2vid"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text("0" * 40)
    shutil.copytree(models_dir / "svd", repo_dir / "snapshots" / ("0" * 40))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    eng = DiffusersEngine(TinySVD(), EngineConfig(models_dir=tmp_path / "empty", device="cpu"))
    try:
        eng.load()
        assert eng.source is not None and "Hugging Face cache" in eng.source
    finally:
        eng.close()


# -- errors ------------------------------------------------------------------------------------


def test_missing_weights_name_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "no-cache"))
    eng = DiffusersEngine(TinySVD(), EngineConfig(models_dir=tmp_path / "models", device="cpu"))
    with pytest.raises(EngineUnavailable) as info:
        eng.generate(source_image(), svd_options(), tmp_path / "x.mp4")
    message = info.value.one_line()
    assert str(tmp_path / "models" / "svd") in message
    assert "Hugging Face cache" in message
    assert "huggingface-cli download stabilityai/stable-video-diffusion-img2vid" in message
    assert info.value.exit_code == 6
    assert not eng.loaded()
    assert not (tmp_path / "x.mp4").exists()


def test_missing_extra_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    eng = DiffusersEngine(TinySVD(), EngineConfig(models_dir=tmp_path))
    with pytest.raises(EngineUnavailable, match=r"imagear\[diffusers\]"):
        eng.load()


def test_weight_folders_are_looked_up_by_name_then_repo(tmp_path: Path) -> None:
    assert weight_dirs(TinySVD(), tmp_path) == [
        tmp_path / "svd",
        tmp_path / "stabilityai--stable-video-diffusion-img2vid",
        tmp_path / "stabilityai" / "stable-video-diffusion-img2vid",
        tmp_path / "stable-video-diffusion-img2vid",
    ]
    assert weight_dirs(TinySVD(), None) == []
    for folder in weight_dirs(TinySVD(), tmp_path)[1:]:
        folder.mkdir(parents=True)
        (folder / "model_index.json").write_text("{}")
        assert find_weights(TinySVD(), tmp_path)[0] == folder
        (folder / "model_index.json").unlink()


class FakePipe:
    """A pipeline stand-in that fails the way a real one can."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        pass

    def to(self, device: Any) -> FakePipe:
        return self

    def __call__(self, **kwargs: Any) -> Any:
        raise self.exc


def fake_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exc: BaseException
) -> DiffusersEngine:
    """An engine whose real loader finds weights on disk but builds ``FakePipe(exc)``."""
    (tmp_path / "svd").mkdir(exist_ok=True)
    (tmp_path / "svd" / "model_index.json").write_text("{}")
    monkeypatch.setattr(engine_module, "load_pipeline", lambda *args: FakePipe(exc))
    return DiffusersEngine(TinySVD(), EngineConfig(models_dir=tmp_path, device="cpu"))


def test_cuda_out_of_memory_becomes_out_of_gpu_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    eng = fake_engine(monkeypatch, tmp_path, torch.cuda.OutOfMemoryError("CUDA out of memory."))
    with pytest.raises(OutOfGpuMemory) as info:
        eng.generate(
            source_image(), svd_options(num_frames=25, width=1024, height=576), tmp_path / "o.mp4"
        )
    assert "'svd'" in info.value.message
    assert "25 frames" in info.value.message and "1024x576" in info.value.message
    assert info.value.advice and "--low-vram" in info.value.advice
    assert emptied
    assert eng.loaded()  # the model stays loaded: the next, smaller request can still run


def test_runtime_out_of_memory_and_other_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    eng = fake_engine(monkeypatch, tmp_path, RuntimeError("CUDA error: out of memory"))
    with pytest.raises(OutOfGpuMemory):
        eng.generate(source_image(), svd_options(), tmp_path / "o.mp4")

    eng = fake_engine(monkeypatch, tmp_path, ValueError("height must be divisible by 8"))
    with pytest.raises(GenerationFailed, match="divisible by 8") as info:
        eng.generate(source_image(), svd_options(), tmp_path / "o.mp4")
    assert isinstance(info.value.__cause__, ValueError)


def test_unknown_family_is_unavailable(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")

    class Odd(TinySVD):
        family = "animatediff"
        pipeline = None

    (tmp_path / "svd").mkdir()
    (tmp_path / "svd" / "model_index.json").write_text("{}")
    with pytest.raises(EngineUnavailable, match="animatediff"):
        DiffusersEngine(Odd(), EngineConfig(models_dir=tmp_path, device="cpu")).load()


# -- the real descriptors and options (no weights needed) -------------------------------------


class RecordingPipe(FakePipe):
    """A pipeline stand-in that records its arguments and returns grey float frames."""

    def __init__(self) -> None:
        super().__init__(RuntimeError("unused"))
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        import numpy as np

        self.calls.append(dict(kwargs))
        shape = (1, kwargs["num_frames"], kwargs["height"], kwargs["width"], 3)
        return SimpleNamespace(frames=np.full(shape, 0.5, dtype=np.float32))


def test_real_svd_descriptor_and_options_reach_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pipe = RecordingPipe()
    (tmp_path / "svd").mkdir()
    (tmp_path / "svd" / "model_index.json").write_text("{}")
    monkeypatch.setattr(engine_module, "load_pipeline", lambda *args: pipe)
    svd = get_model("svd")
    eng = svd.create_engine(EngineConfig(models_dir=tmp_path, device="cpu"))
    options = svd.Options(seed=77, width=128, height=64, motion_bucket_id=180)

    result = eng.generate(source_image(), options, tmp_path / "r.mp4")

    (call,) = pipe.calls
    assert call["image"].size == (128, 64)
    assert (call["num_frames"], call["width"], call["height"]) == (14, 128, 64)
    assert call["fps"] == 7  # diffusers subtracts 1 itself (SVD is conditioned on fps - 1)
    assert call["motion_bucket_id"] == 180 and call["noise_aug_strength"] == 0.02
    assert call["num_inference_steps"] == 25
    assert (call["min_guidance_scale"], call["max_guidance_scale"]) == (1.0, 3.0)
    assert call["decode_chunk_size"] is None  # documented default: all frames at once
    assert call["generator"].initial_seed() == 77
    assert result.num_frames == 14 and result.motion_bucket_id == 180
    assert decode(tmp_path / "r.mp4").shape == (14, 64, 128, 3)


def test_pipeline_arguments_per_family() -> None:
    image = source_image()
    cog2b = get_model("cogvideox-2b")
    opts = cog2b.Options(prompt="a ship", seed=5)
    cog = DiffusersEngine(cog2b, EngineConfig()).call_kwargs(image, opts, 720, 480)
    assert "image" not in cog  # CogVideoX-2b is text-to-video only
    assert cog["prompt"] == "a ship" and cog["guidance_scale"] == 6.0
    assert cog["num_inference_steps"] == 50 and cog["num_frames"] == 49

    cog5b = get_model("cogvideox-5b-i2v")
    i2v = DiffusersEngine(cog5b, EngineConfig()).call_kwargs(
        image, cog5b.Options(seed=5, num_frames=17), 720, 480
    )
    assert i2v["image"].size == (720, 480) and i2v["num_frames"] == 17
    assert i2v["prompt"] == ""

    wan_model = get_model("wan-2.1")
    wan = DiffusersEngine(wan_model, EngineConfig()).call_kwargs(
        image, wan_model.Options(seed=5, prompt="waves", guidance_scale=0.0), 832, 480
    )
    assert wan["image"].size == (832, 480) and wan["guidance_scale"] == 0.0
    assert wan["prompt"] == "waves" and wan["num_frames"] == 81 and wan["output_type"] == "np"

    svd = DiffusersEngine(get_model("svd"), EngineConfig(low_vram=True)).call_kwargs(
        image, get_model("svd").Options(seed=1), 1024, 576
    )
    assert svd["decode_chunk_size"] == 2  # low-VRAM default
    assert "prompt" not in svd


def test_pipelines_and_cuda_dtypes_per_model() -> None:
    expected = {
        "svd": ("StableVideoDiffusionPipeline", "float16"),
        "svd-xt": ("StableVideoDiffusionPipeline", "float16"),
        "cogvideox-2b": ("CogVideoXPipeline", "float16"),
        "cogvideox-5b-i2v": ("CogVideoXImageToVideoPipeline", "bfloat16"),
        "wan-2.1": ("WanImageToVideoPipeline", "bfloat16"),
        "wan-2.2": ("WanImageToVideoPipeline", "bfloat16"),
        "wan-2.2-a14b": ("WanImageToVideoPipeline", "bfloat16"),
        "ltx-video": ("LTXImageToVideoPipeline", "bfloat16"),
    }
    for name, (pipeline, dtype) in expected.items():
        model = get_model(name)
        assert (pipeline_class_name(model), cuda_dtype_name(model)) == (pipeline, dtype), name
    # Without the descriptor's own pipeline/torch_dtype, the family decides the same way.
    bare = SimpleNamespace(name="cogvideox-5b-i2v", family="cogvideox", takes_image=True)
    assert pipeline_class_name(bare) == "CogVideoXImageToVideoPipeline"  # type: ignore[arg-type]
    assert cuda_dtype_name(bare) == "bfloat16"  # type: ignore[arg-type]


def test_importing_the_engine_does_not_import_torch() -> None:
    code = (
        "import sys, imagear.engines.diffusers\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
