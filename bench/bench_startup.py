"""CLI start-up: ``imagear --help`` and ``imagear --version`` against ``python -c "import typer"``.

Every command a person types pays for what ``import imagear.cli`` loads, so the CLI imports its
services (SQLAlchemy, SQLModel, pydantic models, httpx, PIL, numpy, av) only inside the command
that runs. This measures the wall time of a fresh process for each of:

- baseline: ``python -c "import typer"`` (the floor for any Typer CLI);
- ``imagear --help`` and ``imagear --version``, run as the installed console script next to this
  interpreter when there is one, else as ``python -m imagear``.

Byte code is cached as an installed package's is (pip compiles it): PYTHONDONTWRITEBYTECODE is
dropped for the runs and PYTHONPYCACHEPREFIX points at a temporary folder (filled by a warm-up
run of each command), so the source tree gets no ``__pycache__`` and nothing is compiled twice.
For reference it also times ``--help`` of a two-command Typer app with the same Rich help
(``rich_markup_mode="rich"``): Typer's Rich help alone costs about 2x the baseline, which is the
floor for ``imagear --help`` (that line is not held to the target).

Runs are interleaved (baseline, help, version, baseline, ...) so a busy machine hurts each
alike; the median of ``--repeat`` runs is printed, with each command's ratio to the baseline.
Target: at most 2x. Exits 1 when a ratio is above ``--max-ratio`` (with ``--check``).

    python bench/bench_startup.py [--repeat 15] [--check] [--max-ratio 2.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from installed import as_installed  # noqa: E402

MINIMAL_APP = """\
import typer

app = typer.Typer(rich_markup_mode="rich")


@app.command()
def hello(name: str = "world") -> None:
    \"\"\"Say hello.\"\"\"


@app.command()
def bye() -> None:
    \"\"\"Say goodbye.\"\"\"


app()
"""
REFERENCE = "minimal Typer app --help"
DB_COMMAND = "imagear settings list"
DB_TARGET = 4.0
"""A database command (issue 27): at most 4x the baseline (its own line, its own verdict)."""


def imagear_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m imagear``."""
    script = Path(sys.executable).with_name("imagear")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "imagear"]


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="Runs per command (median).")
    parser.add_argument("--max-ratio", type=float, default=2.0, help="Target ratio.")
    parser.add_argument(
        "--check", action="store_true", help="Exit 1 when a ratio exceeds --max-ratio."
    )
    args = parser.parse_args()

    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("IMAGEAR_DEBUG", None)
    with tempfile.TemporaryDirectory(prefix="imagear-bench-") as tmp:
        env = as_installed(env, Path(tmp) / "pyc")
        # the database command's own SQLite database and config (made by the warm-up run)
        env["IMAGEAR_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'imagear.db'}"
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "xdg-config")
        env["XDG_DATA_HOME"] = str(Path(tmp) / "xdg-data")
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        return measure(env, minimal, args.repeat, args.max_ratio, args.check)


def measure(env: dict[str, str], minimal: Path, repeat: int, max_ratio: float, check: bool) -> int:
    imagear = imagear_command()
    commands = {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "imagear --help": [*imagear, "--help"],
        "imagear --version": [*imagear, "--version"],
        REFERENCE: [sys.executable, str(minimal), "--help"],
        DB_COMMAND: [*imagear, "settings", "list"],
    }
    for cmd in commands.values():  # warm the file cache and .pyc files
        wall(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            times[name].append(wall(cmd, env))

    medians = {name: statistics.median(t) for name, t in times.items()}
    base_name = next(iter(commands))
    base = medians[base_name]
    print(f"imagear start-up: median of {repeat} runs ({' '.join(imagear)})")
    worst = 0.0
    for name, median in medians.items():
        ratio = median / base
        if name not in (base_name, REFERENCE, DB_COMMAND):
            worst = max(worst, ratio)
        label = "baseline" if name == base_name else f"{ratio:.2f}x the baseline"
        if name == REFERENCE:
            label += " (reference, not held to the target)"
        if name == DB_COMMAND:
            verdict = "ok" if ratio <= DB_TARGET else "ABOVE TARGET"
            label += f" (a database command: target <= {DB_TARGET:g}x: {verdict})"
        print(
            f"  {name:<28} {median * 1000:7.1f} ms  (min {min(times[name]) * 1000:6.1f})  {label}"
        )
    verdict = "ok" if worst <= max_ratio else "ABOVE TARGET"
    print(f"worst ratio {worst:.2f}x (target <= {max_ratio:g}x): {verdict}")
    return 1 if check and worst > max_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
