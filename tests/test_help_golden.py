"""`--help` of every command, at 80 columns, as reviewed: golden files in tests/golden/help/.

A change to any help text shows in review as a change to its golden file. After an intended
change, write them again with

    IMAGEAR_UPDATE_GOLDEN=1 pytest tests/test_help_golden.py

and read the diff. Independently of the golden files, every help follows click's and Typer's
own conventions: an option's value is an upper-case word (``--object-id ID``, never ``<int>``
or ``<list[int]>``), a flag shows none (never ``<bool>``), an argument is its upper-case name
(``IMAGE``, never ``{image}``), nothing is wider than 80 columns, and no word is broken at a
hyphen.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from imagear.cli import app as cli

GOLDEN = Path(__file__).parent / "golden" / "help"
UPDATE = os.environ.get("IMAGEAR_UPDATE_GOLDEN") == "1"


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            out += _paths(sub, (*prefix, name))
    return out


COMMANDS = _paths(typer.main.get_command(cli))


def _help(runner: Any, path: tuple[str, ...]) -> str:
    # click lays help out 2 columns narrower than the terminal: 78 in an 80-column one (the
    # CliRunner would force 80; test_golden_is_what_an_80_column_terminal_shows checks this)
    result = runner.invoke(cli, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=78)
    assert result.exit_code == 0, result.output
    return result.stdout


def _golden(path: tuple[str, ...]) -> Path:
    return GOLDEN / ("-".join(("imagear", *path)) + ".txt")


def test_every_command_has_a_golden_file() -> None:
    if UPDATE:
        pytest.skip("writing the golden files")
    expected = {_golden(p).name for p in COMMANDS}
    present = {p.name for p in GOLDEN.glob("*.txt")}
    assert present == expected, (
        f"missing: {sorted(expected - present)}, stale: {sorted(present - expected)}; "
        "run IMAGEAR_UPDATE_GOLDEN=1 pytest tests/test_help_golden.py"
    )


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(("imagear", *p)))
def test_help_matches_its_golden_file(runner: Any, path: tuple[str, ...]) -> None:
    shown = _help(runner, path)
    golden = _golden(path)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(shown, encoding="utf-8")
        return
    assert golden.is_file(), f"no {golden.name}: run IMAGEAR_UPDATE_GOLDEN=1 pytest {__file__}"
    assert shown == golden.read_text(encoding="utf-8"), (
        f"`imagear {' '.join(path)} --help` changed; if that is intended, run "
        "IMAGEAR_UPDATE_GOLDEN=1 pytest tests/test_help_golden.py and review the diff"
    )


@pytest.mark.parametrize("path", [(), ("batch",), ("records", "add")], ids=str)
def test_golden_is_what_an_80_column_terminal_shows(path: tuple[str, ...]) -> None:
    if UPDATE:
        pytest.skip("writing the golden files")
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "imagear", *path, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _golden(path).read_text(encoding="utf-8").replace(
        "Usage: imagear", "Usage: python -m imagear", 1
    )


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(("imagear", *p)))
def test_help_follows_click_conventions(runner: Any, path: tuple[str, ...]) -> None:
    shown = _help(runner, path)
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    assert not re.search(r"<[a-z][a-z0-9 _\[\]]*>", shown), "a <type> placeholder"
    assert "<bool>" not in shown
    usage = lines[0]
    assert usage.startswith("Usage: imagear")
    assert not re.search(r"\{\w+\}", usage), f"an argument written {{name}}: {usage}"
    for word in re.findall(r"\[?([A-Za-z_]+)\]?(?:\.\.\.)?$", usage.split("[OPTIONS]")[-1]):
        assert word.isupper() or word in ("ARGS",), f"argument not upper-case: {usage}"
    for first, second in zip(lines, lines[1:], strict=False):  # "only-" / "missing"
        if re.search(r"\w-$", first) and re.match(r"\s+[a-z]", second):
            pytest.fail(f"a word broken at its hyphen:\n{first}\n{second}")
    if "Commands:" in shown:  # each command's short help is whole, not cut with "..."
        listing = shown.split("Commands:")[1]
        assert "..." not in listing, listing
