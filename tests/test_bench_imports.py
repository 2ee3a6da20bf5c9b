"""The benchmarks under bench/ import imagear inside their functions (they run for minutes, CI
runs none of them at full size): each name they import from imagear must still be there, or a
benchmark breaks unseen until someone measures (bench_batch.py failed at its first step after
imagear's tables became SQLAlchemy Core tables)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def imagear_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from imagear... import name`` in ``path``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "imagear":
            found += [(str(node.module), alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.split(".")[0] == "imagear"]
    return found


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_what_a_benchmark_imports_from_imagear_exists(path: Path) -> None:
    missing = []
    for module_name, name in imagear_imports(path):
        module = importlib.import_module(module_name)
        if name and not hasattr(module, name):
            try:  # a submodule: `from imagear.db import browse`
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"{path.name} imports what imagear no longer has: {missing}"
