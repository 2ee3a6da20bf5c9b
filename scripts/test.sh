#!/usr/bin/env bash
# Set everything up (a .venv with every extra) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k kenburns`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned: a looser spec pulls GBs of CUDA wheels on a CPU-only host.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[postgres,mysql,server,diffusers,provenance,test]'
# The web console's browser tests drive Debian's Chromium (never `playwright install`); as root,
# install it when missing (otherwise those tests are skipped, or fail with IMAGEAR_REQUIRE_BROWSER=1).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }
fi
# The browser tests load Mirador 4 and axe-core from npm (package.json); without npm they skip
# (or fail with IMAGEAR_REQUIRE_BROWSER=1).
if command -v npm >/dev/null 2>&1; then
  [ -d node_modules/mirador ] && [ -d node_modules/axe-core ] || npm install -q --no-audit --no-fund >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
