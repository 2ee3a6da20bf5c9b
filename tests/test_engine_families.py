"""Every diffusers family through the real engine, on a CPU, with tiny pipelines built offline.

SVD, CogVideoX text-to-video and image-to-video, Wan 2.1, Wan 2.2 (TI2V-5B layout) and its
two-expert A14B layout, and LTX-Video: each tiny pipeline (tests/tiny_pipelines.py: the real
classes and folder layout, tiny sizes) is saved, found in models_dir and loaded by the engine's
own loader, run, and written as an MP4 that decodes to the frames asked for; the same seed gives
the same frames. Plus what the engine passes each pipeline (against the installed signatures),
offload and speed choices, devices, memory after an out-of-memory, silence, the server's
one-model-on-the-GPU rule, torch.compile. (What a host needs, and the frame rate rule:
tests/test_engine_requirements.py.)
"""

from __future__ import annotations

import gc
import inspect
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from imagear.engines.base import EngineConfig
from imagear.engines.diffusers import DiffusersEngine, generator_device
from imagear.engines.diffusers_call import call_kwargs
from imagear.engines.diffusers_setup import place
from imagear.engines.diffusers_weights import pipeline_class_name, read_layout
from imagear.errors import EngineUnavailable, OutOfGpuMemory
from imagear.models import COMMON_PARAMETERS, get_model, resolve_generation
from tiny_pipelines import TINY_FRAMES, built, install, tiny_descriptors, tiny_extra

if TYPE_CHECKING:
    import numpy as np

FAMILIES = list(TINY_FRAMES)  # svd, cogvideox-2b, cogvideox-5b-i2v, wan-2.1, wan-2.2, ...


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is fastest on a busy CI box (no spinning OpenMP workers)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(tmp_path_factory.mktemp("models"), *FAMILIES)


def tiny(name: str) -> Any:
    return tiny_descriptors()[name]()


def options(name: str, **values: Any) -> Any:
    desc = tiny(name)
    base: dict[str, Any] = {"num_frames": TINY_FRAMES[name], "seed": 1234, "width": 32}
    base.update(height=32, prompt="a slow pan over the harbour", **tiny_extra(name))
    base.update(values)
    return desc.Options(**base)


def source_image() -> Image.Image:
    import numpy as np

    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))


def decode(path: Path) -> np.ndarray:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def engines(models_dir: Path) -> Iterator[dict[str, DiffusersEngine]]:
    made = {
        name: tiny(name).create_engine(EngineConfig(models_dir=models_dir, device="cpu"))
        for name in FAMILIES
    }
    yield made  # type: ignore[misc]
    for engine in made.values():
        engine.close()


# -- end to end, per family ---------------------------------------------------------------------


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The frames the engine hands the MP4 encoder, one array per clip (the real encoder
    still writes the clip)."""
    import numpy as np

    import imagear.media

    real = imagear.media.write_mp4
    seen: list[np.ndarray] = []

    def spy(frames: Any, *args: Any, **kwargs: Any) -> int:
        kept = [np.array(frame) for frame in frames]
        seen.append(np.stack(kept))
        return real(iter(kept), *args, **kwargs)

    monkeypatch.setattr(imagear.media, "write_mp4", spy)
    return seen


@pytest.mark.parametrize("name", FAMILIES)
def test_family_makes_a_decodable_clip_and_same_seed_same_frames(
    name: str,
    engines: dict[str, DiffusersEngine],
    models_dir: Path,
    tmp_path: Path,
    encoded: list[np.ndarray],
) -> None:
    import numpy as np

    engine = engines[name]
    assert isinstance(engine, DiffusersEngine)
    image = source_image()
    result = engine.generate(image, options(name, seed=42), tmp_path / "a.mp4")
    engine.generate(image, options(name, seed=42), tmp_path / "b.mp4")
    engine.generate(image, options(name, seed=43), tmp_path / "c.mp4")

    a, b, c = (decode(tmp_path / f"{x}.mp4") for x in "abc")
    assert a.shape == (TINY_FRAMES[name], 32, 32, 3)
    assert result.num_frames == TINY_FRAMES[name]
    assert result.fps == get_model(name).native_fps  # the model's own rate, not SVD's 7
    assert result.extra["weights"] == str(models_dir / name)
    assert result.extra["dtype"] == "float32" and result.extra["device"] == "cpu"
    # The generated frames are identical for one seed, and differ for another. They are
    # compared as handed to the H.264 encoder: x264's threaded encode is not bit-reproducible
    # (the decoded clips of equal frames can differ by a few levels), the model's output is.
    assert np.array_equal(encoded[0], encoded[1])
    assert np.abs(encoded[0].astype(int) - encoded[2]).mean() > 0.2
    assert b.shape == c.shape == a.shape
    assert result.prompt == ("a slow pan over the harbour" if tiny(name).uses_prompt else None)


def test_the_wan_layouts_are_read_from_the_folders() -> None:
    assert read_layout(built("wan-2.1")).has_image_encoder
    ti2v, a14b = read_layout(built("wan-2.2")), read_layout(built("wan-2.2-a14b"))
    assert ti2v.config["expand_timesteps"] is True and not ti2v.has_image_encoder
    assert a14b.two_experts and not ti2v.two_experts
    assert read_layout(built("cogvideox-2b")).sentencepiece_tokenizer  # as CogVideoX ships it
    assert not read_layout(built("ltx-video")).sentencepiece_tokenizer


def test_a14b_folder_gets_the_second_guidance_and_runs(
    engines: dict[str, DiffusersEngine], tmp_path: Path
) -> None:
    engine = engines["wan-2.2-a14b"]
    opts = options("wan-2.2-a14b", guidance_scale=2.0, guidance_scale_2=1.5)
    engine.generate(source_image(), opts, tmp_path / "x.mp4")  # loads it
    kwargs = engine.call_kwargs(source_image(), opts, 32, 32)
    assert kwargs["guidance_scale_2"] == 1.5
    assert engine.setup["layout"].startswith("two experts")
    assert decode(tmp_path / "x.mp4").shape[0] == 5


def test_low_vram_on_a_cpu_tiles_the_vae_and_still_runs(models_dir: Path, tmp_path: Path) -> None:
    engine = tiny("ltx-video").create_engine(
        EngineConfig(models_dir=models_dir, device="cpu", low_vram=True)
    )
    try:
        engine.generate(source_image(), options("ltx-video"), tmp_path / "low.mp4")
        assert engine._pipe.vae.use_tiling and engine._pipe.vae.use_slicing
        assert engine.setup["placement"] == "on cpu"  # nothing to offload to
    finally:
        engine.close()
    assert decode(tmp_path / "low.mp4").shape[0] == 9


# -- what the engine passes the installed pipelines ---------------------------------------------


def _accepted(name: str) -> set[str]:
    import diffusers

    pipeline_class = getattr(diffusers, pipeline_class_name(get_model(name)))
    return set(inspect.signature(pipeline_class.__call__).parameters)


@pytest.mark.parametrize("name", FAMILIES)
def test_call_arguments_are_parameters_of_the_installed_pipeline(name: str) -> None:
    """A diffusers upgrade that renames an argument fails here, by name."""
    desc = get_model(name)
    fields = desc.Options.model_fields
    full = {key: info.default for key, info in fields.items() if info.default is not None}
    full.update(seed=7, prompt="drift", width=desc.native_width, height=desc.native_height)
    if "negative_prompt" in fields:
        full["negative_prompt"] = "blur"
    for key in ("guidance_scale_2", "decode_timestep", "decode_noise_scale"):
        if key in fields:
            full[key] = 0.5
    opts = desc.Options(**full)
    for facts in ({}, {"low_vram": True, "two_experts": True, "timestep_vae": True}):
        kwargs = call_kwargs(desc, opts, source_image(), 64, 64, **facts)  # type: ignore[arg-type]
        unknown = set(kwargs) - _accepted(name)
        assert not unknown, f"{name}: the installed pipeline takes no {sorted(unknown)}"
    assert kwargs["num_frames"] == desc.default_frames
    assert ("image" in kwargs) == desc.takes_image
    assert ("prompt" in kwargs) == (desc.family != "svd")


def test_family_specific_arguments() -> None:
    image = source_image()
    i2v = call_kwargs(get_model("cogvideox-5b-i2v"), get_model("cogvideox-5b-i2v").Options(), image, 720, 480)  # type: ignore[arg-type]  # fmt: skip
    assert i2v["use_dynamic_cfg"] is True  # the model card's recipe
    t2v_opts = get_model("cogvideox-2b").Options(prompt="waves")
    t2v = call_kwargs(get_model("cogvideox-2b"), t2v_opts, image, 720, 480)  # type: ignore[arg-type]
    assert t2v["use_dynamic_cfg"] is False and "image" not in t2v
    ltx = get_model("ltx-video")
    plain = call_kwargs(ltx, ltx.Options(fps=24), image, 704, 512)  # type: ignore[arg-type]
    assert plain["frame_rate"] == 24 and "decode_timestep" not in plain
    timed = call_kwargs(ltx, ltx.Options(), image, 704, 512, timestep_vae=True)  # type: ignore[arg-type]
    assert (timed["decode_timestep"], timed["decode_noise_scale"]) == (0.05, 0.025)
    a14b = get_model("wan-2.2-a14b")
    opts = a14b.Options(guidance_scale_2=2.0)
    assert "guidance_scale_2" not in call_kwargs(a14b, opts, image, 832, 480)  # type: ignore[arg-type]
    assert call_kwargs(a14b, opts, image, 832, 480, two_experts=True)["guidance_scale_2"] == 2.0  # type: ignore[arg-type]


# -- descriptors ----------------------------------------------------------------------------------


def test_new_models_validate_their_rules_before_any_request() -> None:
    for name, good, bad in [
        ("wan-2.2", {"num_frames": 121, "width": 1280, "height": 704}, {"width": 1264}),
        ("wan-2.2", {"num_frames": 5}, {"num_frames": 8}),
        ("wan-2.2-a14b", {"width": 832, "height": 480}, {"num_frames": 82}),
        ("ltx-video", {"num_frames": 161, "width": 704, "height": 512}, {"width": 720}),
        ("ltx-video", {"num_frames": 257}, {"num_frames": 160}),
        ("ltx-video", {}, {"num_inference_steps": 1}),  # fails inside diffusers' scheduler
    ]:
        split = {k: v for k, v in bad.items() if k not in COMMON_PARAMETERS}
        common = {k: v for k, v in bad.items() if k in COMMON_PARAMETERS}
        resolve_generation(name, {}, good, {})
        with pytest.raises(Exception) as info:
            resolve_generation(name, {}, common, split)
        assert info.value.__class__.__name__ == "InvalidOption", (name, bad)
    wan22 = get_model("wan2.2")
    assert (wan22.name, wan22.native_fps, wan22.default_frames) == ("wan-2.2", 24, 121)
    assert get_model("ltx").name == "ltx-video"
    assert wan22.output_size((1600, 900))[0] % 32 == 0


# -- placement, devices, memory, output -----------------------------------------------------------


class RecordingPipe:
    """Records which placement method the engine picks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.vae = SimpleNamespace(enable_tiling=lambda: None, enable_slicing=lambda: None)
        self.unet = SimpleNamespace(enable_forward_chunking=lambda: None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("enable_") or name == "to":
            return lambda *args, **kwargs: self.calls.append((name, kwargs or args))
        raise AttributeError(name)


@pytest.mark.parametrize(
    "name, method",
    [
        ("svd", "enable_model_cpu_offload"),
        ("cogvideox-2b", "enable_sequential_cpu_offload"),
        ("cogvideox-5b-i2v", "enable_sequential_cpu_offload"),
        ("wan-2.1", "enable_group_offload"),
        ("wan-2.2", "enable_model_cpu_offload"),
        ("wan-2.2-a14b", "enable_group_offload"),
        ("ltx-video", "enable_model_cpu_offload"),
    ],
)
def test_low_vram_offload_on_an_accelerator(name: str, method: str) -> None:
    torch = pytest.importorskip("torch")
    pipe = RecordingPipe()
    how = place(torch, pipe, torch.device("cuda:1"), get_model(name), low_vram=True)  # type: ignore[arg-type]
    assert [call for call, _ in pipe.calls] == [method], how
    assert torch.device("cuda:1") in pipe.calls[0][1].values()
    plain = RecordingPipe()
    place(torch, plain, torch.device("cuda:1"), get_model(name), low_vram=False)  # type: ignore[arg-type]
    assert [call for call, _ in plain.calls] == ["to"]


def test_the_generator_follows_the_cuda_device_index() -> None:
    torch = pytest.importorskip("torch")
    assert generator_device(torch.device("cuda:1")) == "cuda:1"
    assert generator_device(torch.device("cuda")) == "cuda"
    assert generator_device(torch.device("mps")) == "cpu"


def test_out_of_memory_while_loading_frees_the_memory_it_held(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The half-loaded weights live in the failing frames: they must be gone before the
    cache is emptied, or empty_cache() frees nothing."""
    torch = pytest.importorskip("torch")

    from imagear.engines import diffusers as engine_module

    held: list[weakref.ref[Any]] = []

    class Weights:
        pass

    def loader(*args: Any) -> Any:
        weights = Weights()
        held.append(weakref.ref(weights))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    alive_when_freed: list[bool] = []

    def free() -> None:
        gc.collect()
        alive_when_freed.append(held[0]() is not None)

    monkeypatch.setattr(engine_module, "load_pipeline", loader)
    monkeypatch.setattr(engine_module, "free_accelerator_memory", free)
    engine = DiffusersEngine(tiny("wan-2.1"), EngineConfig(models_dir=models_dir, device="cpu"))
    with pytest.raises(OutOfGpuMemory):
        engine.load()
    assert alive_when_freed == [False]


def test_loading_and_generating_are_silent_unless_verbose(
    models_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    for verbose in (False, True):
        engine = DiffusersEngine(
            tiny("wan-2.1"), EngineConfig(models_dir=models_dir, device="cpu", verbose=verbose)
        )
        capfd.readouterr()
        engine.generate(source_image(), options("wan-2.1"), tmp_path / "q.mp4")
        engine.close()
        out, err = capfd.readouterr()
        if verbose:
            assert "Loading pipeline components" in err
        else:
            assert (out, err) == ("", "")


# -- the server's worker: one model on an accelerator at a time -----------------------------------


def test_the_worker_keeps_one_model_on_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagear.models import ModelDescriptor, register, reset_registry
    from imagear.server.worker import Worker

    closed: list[str] = []

    class GpuEngine:
        def __init__(self, name: str, gpu: bool) -> None:
            self.name, self.gpu, self.on = name, gpu, False

        def loaded(self) -> bool:
            return self.on

        def holds_accelerator(self) -> bool:
            return self.on and self.gpu

        def load(self) -> float:
            self.on = True
            return 0.0

        def close(self) -> None:
            closed.append(self.name)
            self.on = False

    def gpu_model(model: str, gpu: bool) -> type[ModelDescriptor]:
        class Desc(ModelDescriptor):
            name, family, requires_gpu, hf_repo = model, "fake", gpu, None

            def create_engine(self, config: EngineConfig) -> Any:
                return GpuEngine(self.name, self.requires_gpu)

        return register(Desc)

    try:
        a, b, cpu = gpu_model("gpu-a", True), gpu_model("gpu-b", True), gpu_model("cpu-c", False)
        worker = Worker(EngineConfig(), queue_size=2)
        worker._engine(get_model("gpu-a")).load()  # type: ignore[attr-defined]
        worker._engine(get_model("cpu-c")).load()  # type: ignore[attr-defined]
        assert closed == [] and worker.loaded_models() == ["cpu-c", "gpu-a"]
        worker._engine(get_model("gpu-b")).load()  # type: ignore[attr-defined]
        assert closed == ["gpu-a"]
        assert worker.loaded_models() == ["cpu-c", "gpu-b"]
        del a, b, cpu
    finally:
        reset_registry()


def test_in_process_generation_keeps_one_model_on_the_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same rule in this process (`imagear web`, or a batch without a server, may switch
    models): building a GPU model closes the others that hold accelerator memory."""
    from imagear import generators
    from imagear.config import load_config
    from imagear.models import ModelDescriptor, register, reset_registry

    closed: list[str] = []

    class GpuEngine:
        def __init__(self, name: str, gpu: bool) -> None:
            self.name, self.gpu = name, gpu

        def loaded(self) -> bool:
            return True

        def holds_accelerator(self) -> bool:
            return self.gpu

        def close(self) -> None:
            closed.append(self.name)

    def gpu_model(model: str, gpu: bool) -> type[ModelDescriptor]:
        class Desc(ModelDescriptor):
            name, family, requires_gpu, hf_repo = model, "fake", gpu, None

            def create_engine(self, config: EngineConfig) -> Any:
                return GpuEngine(self.name, self.requires_gpu)

        return register(Desc)

    monkeypatch.setattr(generators, "local_problem", lambda descriptor, config: None)
    monkeypatch.setenv("IMAGEAR_STORAGE_ROOT", str(tmp_path))
    try:
        gpu_model("gpu-a", True), gpu_model("gpu-b", True), gpu_model("cpu-c", False)
        local = generators.LocalGenerator(load_config())
        local._engine(get_model("gpu-a"))
        local._engine(get_model("cpu-c"))
        local._engine(get_model("gpu-a"))  # the same model again: kept
        assert closed == []
        local._engine(get_model("gpu-b"))
        assert closed == ["gpu-a"]
        assert sorted(e["name"] for e in local.engines() if e["loaded"]) == ["cpu-c", "gpu-b"]
        local.close()
    finally:
        reset_registry()


def test_torch_compile_compiles_the_denoiser_and_marks_the_warm_up(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real compile path, with dynamo's eager backend (inductor takes minutes on a CPU)."""
    torch = pytest.importorskip("torch")
    real = torch.nn.Module.compile

    def eager(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("mode", None)
        real(self, *args, backend="eager", **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", eager)
    config = EngineConfig(models_dir=models_dir, device="cpu", torch_compile="default")
    engine = DiffusersEngine(tiny("ltx-video"), config)
    try:
        first = engine.generate(source_image(), options("ltx-video"), tmp_path / "a.mp4")
        second = engine.generate(source_image(), options("ltx-video"), tmp_path / "b.mp4")
        assert engine.setup["compiled"] == ["transformer"]
        assert engine._pipe.transformer._compiled_call_impl is not None
        assert first.extra["torch_compile"].startswith("warm-up")
        assert second.extra["torch_compile"] == "compiled"
    finally:
        engine.close()


def test_the_compile_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagear.engines.diffusers_setup import compile_mode

    for value, mode in [
        ("", None),
        ("0", None),
        ("1", "default"),
        ("max-autotune", "max-autotune"),
    ]:
        monkeypatch.setenv("IMAGEAR_TORCH_COMPILE", value)
        assert compile_mode() == mode
    monkeypatch.setenv("IMAGEAR_TORCH_COMPILE", "fastest")
    with pytest.raises(EngineUnavailable, match="IMAGEAR_TORCH_COMPILE"):
        compile_mode()


@pytest.fixture(scope="module", autouse=True)
def _needs_torch_and_diffusers() -> None:
    """Imported here, not at collection: torch and diffusers take seconds to import."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
