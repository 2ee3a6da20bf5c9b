#!/usr/bin/env bash
# Set up imagear (core install only: no GPU, no server, no torch) and run the main job once:
# a sample image becomes a record, the in-process Ken Burns engine animates it into an MP4.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/imagear demo "$@"
