"""bench/bench_gpu.py: its full-size configs build the published model sizes, and its ``--tiny``
run finishes on the CPU, one JSON line and one decodable MP4 per model.

The full-size run needs a GPU; here its pipelines are built on PyTorch's ``meta`` device (no
memory, no compute), so a typo in a config shows as a wrong parameter count, not on a lent GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {
    "model",
    "device",
    "dtype",
    "frames",
    "width",
    "height",
    "imagear_secs",
    "imagear_pipeline_secs",
    "imagear_encode_secs",
}
REQUIRED |= {"reference_secs", "peak_vram_gb"}

# Billions of parameters, as the model authors publish them (their model cards and papers).
PUBLISHED = {
    "svd": {"unet": (1.4, 1.6), "image_encoder": (0.6, 0.7)},  # SVD 1.5B UNet, CLIP ViT-H/14
    "cogvideox-2b": {"transformer": (1.6, 2.0), "text_encoder": (4.6, 4.9)},  # + T5-XXL enc.
    "cogvideox-5b-i2v": {"transformer": (5.0, 6.0)},
    "wan-2.1": {"transformer": (14.0, 17.0), "text_encoder": (5.5, 5.9)},  # 14B, UMT5-XXL enc.
    "wan-2.2": {"transformer": (4.5, 5.5)},  # TI2V-5B
    "ltx-video": {"transformer": (1.8, 2.1)},  # LTX-Video 2B
}


def _bench() -> Any:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_gpu

    return bench_gpu


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_full_size_configs_have_the_published_sizes(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pipe = _bench().full_pipeline(name, "meta", torch.bfloat16, 14, tmp_path)
    for component, (low, high) in PUBLISHED[name].items():
        billions = sum(p.numel() for p in getattr(pipe, component).parameters()) / 1e9
        assert low <= billions <= high, f"{name} {component}: {billions:.2f}B parameters"
    if name.startswith("wan"):  # Wan's VAE (and CLIP) in fp32, the rest in the model's dtype
        assert next(pipe.vae.parameters()).dtype == torch.float32
        assert next(pipe.transformer.parameters()).dtype == torch.bfloat16
    tensors = [v for v in vars(pipe.scheduler).values() if isinstance(v, torch.Tensor)]
    assert tensors and all(  # schedulers are built outside: on the CPU, in full precision
        t.device.type == "cpu" and t.dtype != torch.bfloat16 for t in tensors
    )


def test_tiny_run_on_the_cpu_writes_a_clip_and_a_line_per_model(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--tiny", "--device", "cpu"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    bench = _bench()
    assert [line["model"] for line in lines] == list(bench.MODELS)
    from imagear.media import probe_mp4

    for line in lines:
        assert REQUIRED <= set(line), line
        assert (line["device"], line["dtype"], line["peak_vram_gb"]) == ("cpu", "float32", None)
        assert line["imagear_secs"] > 0 and line["reference_secs"] > 0 and line["finite"]
        # imagear's time is its pipeline call plus the host's part (8 bits, scan, encode)
        parts = line["imagear_pipeline_secs"] + line["imagear_encode_secs"]
        assert line["imagear_pipeline_secs"] > 0 and line["imagear_encode_secs"] >= 0
        assert parts == pytest.approx(line["imagear_secs"], abs=0.0021)
        info = probe_mp4(tmp_path / f"{line['model']}.mp4")
        assert (info.frames, info.width, info.height) == (line["frames"], 32, 32)
    assert done.stderr.strip() == ""  # the libraries' progress bars stay quiet


@pytest.fixture(scope="module", autouse=True)
def _needs_torch_and_diffusers() -> None:
    """Imported here, not at collection: torch and diffusers take seconds to import."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
