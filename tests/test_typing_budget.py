"""The typed core's budget (issue 20): how many ``Any`` and ``dict[str, Any]`` are left in
src/imagear. The counts are printed (``pytest -s``) and named in the assertion's message."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "imagear"
MAX_ANY = 200
MAX_DICT_ANY = 40
_ANY = re.compile(r"\bAny\b")  # whole words, as `grep -rwo Any` counts them
_DICT_ANY = re.compile(r"dict\[str, Any\]")


def counts(root: Path = SRC) -> tuple[int, int, dict[str, int]]:
    """(``Any`` in all, ``dict[str, Any]`` in all, ``Any`` per file) over root's files."""
    per_file: dict[str, int] = {}
    total_dict = 0
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        n = len(_ANY.findall(text))
        if n:
            per_file[str(path.relative_to(root))] = n
        total_dict += len(_DICT_ANY.findall(text))
    return sum(per_file.values()), total_dict, per_file


def test_the_counter_counts_whole_words(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "from typing import Any\nx: dict[str, Any] = {}\nAnyOther = 1\nmany = 2\n"
    )
    assert counts(tmp_path)[:2] == (2, 1)


def test_any_budget() -> None:
    any_total, dict_total, per_file = counts()
    worst = ", ".join(
        f"{name} {n}" for name, n in sorted(per_file.items(), key=lambda kv: -kv[1])[:10]
    )
    message = (
        f"src/imagear: {any_total} Any (at most {MAX_ANY}), {dict_total} dict[str, Any] "
        f"(at most {MAX_DICT_ANY}); most: {worst}"
    )
    print(message)
    assert any_total <= MAX_ANY and dict_total <= MAX_DICT_ANY, message
