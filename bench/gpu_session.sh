#!/usr/bin/env bash
# One prepared device call for bench_gpu.py: the standing order's run, within one lease.
#
#   bash bench/gpu_session.sh        (on the GPU host, from the repository root)
#
# Installs the wheels carried in .whl/ (diffusers, PyAV, pydantic: what the host's image lacks)
# into /tmp/site, then runs bench/bench_gpu.py at --steps 4 for every model, cheapest first, one
# process per model (one failure or out-of-memory does not stop the others), then at each
# model's own full step count while BUDGET seconds last. Writes gpu.txt (card, driver, library
# versions), steps_4.jsonl, steps_full.jsonl and log.txt (stderr, failures, skips) under $OUT.
#
# The wheels, fetched here beforehand (Python 3.12 on the host; its torch, transformers and
# huggingface_hub are used as they are), with .whl/ in .git/info/exclude:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl diffusers av pydantic pydantic_core annotated-types typing-inspection ftfy wcwidth
set -u
OUT=${OUT:-/tmp/imagear-gpu-session}
BUDGET=${BUDGET:-560}
PER_MODEL=${PER_MODEL:-240}
mkdir -p "$OUT"
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
export PYTHONUNBUFFERED=1 PYTHONPATH=src
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >"$OUT/pip.log" 2>&1 && export PYTHONPATH=/tmp/site:src
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
python3 -c "import torch, diffusers, transformers, av, pydantic
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__,
      'transformers', transformers.__version__, 'av', av.__version__)" >>"$OUT/gpu.txt" 2>&1
run() { # run STEPS MODEL...   (STEPS: a number, or "full" for each model's own)
  local steps=$1 m l cap extra
  shift
  for m in "$@"; do
    l=$(left)
    if [ "$l" -lt 40 ]; then echo "skipped $m steps=$steps: budget spent" >>"$OUT/log.txt"; continue; fi
    cap=$((l < PER_MODEL ? l : PER_MODEL))
    extra=()
    [ "$steps" != full ] && extra=(--steps "$steps")
    echo "== $m steps=$steps (cap ${cap}s) at $(($(date +%s) - start))s" >>"$OUT/log.txt"
    timeout "$cap" python3 bench/bench_gpu.py --device cuda --models "$m" "${extra[@]}" \
      --out /tmp/imagear-gpu-clips >>"$OUT/steps_$steps.jsonl" 2>>"$OUT/log.txt" ||
      echo "FAILED $m steps=$steps rc=$?" >>"$OUT/log.txt"
  done
}
run 4 svd svd-xt ltx-video cogvideox-2b cogvideox-5b-i2v wan-2.2 wan-2.1
run full svd svd-xt ltx-video cogvideox-2b cogvideox-5b-i2v
echo "done at $(($(date +%s) - start))s" >>"$OUT/log.txt"
cat "$OUT/gpu.txt" "$OUT"/steps_*.jsonl
