"""CLI start-up: `import imagear.cli` loads no service, and `--help` / `--version` work in a
fresh process (bench/bench_startup.py times them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# What `import imagear.cli` must not load: each command imports its services when it runs.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "httpx",
    "PIL",
    "numpy",
    "av",
    "pydantic",
    "importlib.metadata",  # entry-point plugin loading, and the version (asked for by --version)
    "imagear.models",  # the model registry
    "imagear.db",
    "imagear.animate",
    "imagear.batch",
    "imagear.records",
    "imagear.settings",
    "imagear.store",
    "rich",  # the consoles are built on first use (LazyConsole), so --version needs no Rich
)

PROBE = (
    "import sys, json, imagear.cli\n"
    "heavy = json.loads(sys.argv[1])\n"
    "print(json.dumps(sorted(m for m in sys.modules if any("
    "m == h or m.startswith(h + '.') for h in heavy))))\n"
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEAR_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_cli_loads_no_service(tmp_path: Path) -> None:
    proc = _run(tmp_path, "-c", PROBE, json.dumps(HEAVY))
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert loaded == [], f"import imagear.cli loaded {loaded}: import them inside the command"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_in_a_fresh_process(tmp_path: Path, flag: str) -> None:
    proc = _run(tmp_path, "-m", "imagear", flag)
    assert proc.returncode == 0, proc.stderr
    for command in ("animate", "batch", "records", "settings", "models", "serve", "config"):
        assert command in proc.stdout
    assert "--debug" in proc.stdout and "--version" in proc.stdout
    assert proc.stderr == ""


def test_version_in_a_fresh_process(tmp_path: Path) -> None:
    from importlib.metadata import version

    proc = _run(tmp_path, "-m", "imagear", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"imagear {version('imagear')}\n"
    assert proc.stderr == ""


def test_subcommand_help_loads_no_service(tmp_path: Path) -> None:
    probe = (
        "import sys, json\n"
        "from imagear.cli import main\n"
        "sys.argv = ['imagear', 'batch', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'imagear.batch', 'imagear.models')\n"
        "sys.stderr.write(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    proc = _run(tmp_path, "-c", probe)
    code, loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code == 0 and loaded == []
    assert "--max-attempts" in proc.stdout and "--concurrency" in proc.stdout


def test_batch_option_defaults_match_the_service() -> None:
    """cli/batch.py repeats the service's defaults so that --help does not load imagear.batch."""
    from imagear import batch
    from imagear.cli import batch as batch_cli

    assert batch_cli.DEFAULT_MAX_ATTEMPTS == batch.DEFAULT_MAX_ATTEMPTS
    assert batch_cli.DEFAULT_BACKOFF_SECS == batch.DEFAULT_BACKOFF_SECS
    assert batch_cli.DEFAULT_BACKOFF_CAP_SECS == batch.DEFAULT_BACKOFF_CAP_SECS


def test_the_program_leaves_its_modules_to_the_operating_system(tmp_path: Path) -> None:
    """`imagear ...` as its own process freezes what it loaded before it ends (its last garbage
    collection would walk every module's objects: 100-250 ms after a batch)."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'\\nfrozen {gc.get_freeze_count()}'))\n"
        "from imagear.cli import main\n"
        "sys.argv = ['imagear', '--version']\n"
        "main()\n"
    )
    proc = _run(tmp_path, "-c", probe)
    assert proc.returncode == 0, proc.stderr
    frozen = int(proc.stderr.strip().splitlines()[-1].split()[-1])
    assert frozen > 1000


def test_a_command_inside_another_program_freezes_nothing() -> None:
    import gc

    from imagear.cli._common import freeze_loaded

    before = gc.get_freeze_count()
    freeze_loaded()  # what a batch run does once its modules are loaded
    assert gc.get_freeze_count() == before


def test_an_in_process_clip_loads_no_http_client(
    cli_env: dict[str, str], tmp_path: Path, make_image: Any
) -> None:
    """`imagear animate --model kenburns` in-process never loads httpx (with its own CLI's
    click, Rich and Pygments: 60-75 ms) nor the server pool: only a remote route does."""
    env = {**_env(tmp_path), **cli_env, "IMAGEAR_SERVER_URL": "in-process"}
    image = make_image("a.jpg", size=(320, 240))
    added = subprocess.run(
        [sys.executable, "-m", "imagear", "records", "add", str(image), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    oid = json.loads(added.stdout)["id"]
    probe = (
        "import atexit, json, sys\n"
        "heavy = ('httpx', 'imagear.client', 'imagear.pool', 'pygments')\n"
        "atexit.register(lambda: sys.stderr.write('\\n' + json.dumps("
        "sorted(m for m in heavy if m in sys.modules))))\n"
        "from imagear.cli import main\n"
        "sys.argv = ['imagear', 'animate', '--object-id', sys.argv[1], '--model', 'kenburns',"
        " '--frames', '8', '--fps', '8', '--width', '96', '--height', '64']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(oid)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


# a command of imagear's that loads numpy (as animate, batch and serve do), then counts the
# process's threads: numpy's OpenBLAS starts one per core unless told otherwise
BLAS_PROBE = (
    "import os, sys\n"
    "from imagear.cli import _common, app\n"
    "@app.command('blas-probe')\n"
    "def probe() -> None:\n"
    "    import numpy\n"
    "    numpy.ones((64, 64)) @ numpy.ones((64, 64))\n"
    "    print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))\n"
    "sys.argv = ['imagear', 'blas-probe']\n"
    "_common.run_as_program(app)\n"
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_imagear_runs_numpys_blas_on_one_thread(tmp_path: Path) -> None:
    """numpy's BLAS threads spin for work imagear never gives them (a Ken Burns clip: 0.1 s
    of CPU taken from the renderers and x264): the command line keeps them to one, unless the
    environment says otherwise."""
    env = {k: v for k, v in _env(tmp_path).items() if not k.endswith("NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", BLAS_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
    env["OPENBLAS_NUM_THREADS"] = "2"  # asked for: kept
    done = subprocess.run(
        [sys.executable, "-c", BLAS_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "2"


def test_one_thread_keeps_a_value_given() -> None:
    from imagear.blas import VARIABLE, one_thread

    env: dict[str, str] = {}
    assert one_thread(env) == "1" and env == {VARIABLE: "1"}
    env = {VARIABLE: "4"}
    assert one_thread(env) == "4" and env == {VARIABLE: "4"}
    env = {VARIABLE: " "}
    assert one_thread(env) == "1" and env == {VARIABLE: "1"}
