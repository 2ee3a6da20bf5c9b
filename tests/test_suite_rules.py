"""The test suite keeps its own rules, checked statically (no timing: a slow machine must not
fail a rule):

- no test sleeps a second or more (``time.sleep(1.5)`` to let a lease run out is a clock to
  inject instead: move the stored time, as ``batch_fakes.leases_expire`` does);
- collection stays fast: torch, diffusers, av, numpy and playwright are imported inside the tests
  and fixtures that need them, never when pytest collects a module;
- ports are bound once: no helper binds a port, closes the socket and hands the number on for
  something else to bind later (a race with every other process on the machine); hold it
  (the ``reserve_port`` fixture) or hand the bound socket over (``uvicorn.Server.run(sockets=)``);
- the plain ``db_url``/``app``/``cli_env`` fixtures are SQLite only; the all-databases runs are
  asked for with the ``all_databases`` mark.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.glob("*.py"))
HEAVY = ("torch", "diffusers", "av", "numpy", "playwright")
ALLOW_SLEEP = "suite-rules: not a test"  # a comment on the line: e.g. a fake server's own CLI


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(path: Path, node: ast.AST) -> str:
    return f"{path.name}:{getattr(node, 'lineno', 0)}"


def long_sleeps(path: Path) -> list[str]:
    """``sleep(x)`` calls (``time.sleep``, ``asyncio.sleep``, a bare ``sleep``...) whose argument
    is a number literal of 1 or more."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        arg = node.args[0]
        if (
            name == "sleep"
            and isinstance(arg, ast.Constant)
            and isinstance(arg.value, int | float)
            and arg.value >= 1
            and ALLOW_SLEEP not in lines[node.lineno - 1]
        ):
            found.append(f"{_name(path, node)} sleeps {arg.value} s")
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when the module is imported (into if/try/with blocks, not into
    functions, classes' methods or ``if TYPE_CHECKING:``)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If) and not _type_checking(stmt):
            out += _module_level(stmt.body) + _module_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            out += _module_level(stmt.body) + _module_level(stmt.orelse)
            out += _module_level(stmt.finalbody)
            for handler in stmt.handlers:
                out += _module_level(handler.body)
        elif isinstance(stmt, ast.With):
            out += _module_level(stmt.body)
    return out


def _heavy(module: str | None) -> bool:
    return bool(module) and str(module).split(".")[0] in HEAVY


def heavy_imports(path: Path) -> list[str]:
    """Module-level imports of a heavy package, ``pytest.importorskip("torch")`` included."""
    found = []
    for stmt in _module_level(_tree(path).body):
        names: list[str] = []
        if isinstance(stmt, ast.Import):
            names = [a.name for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and not stmt.level:
            names = [stmt.module or ""]
        elif isinstance(stmt, ast.Expr | ast.Assign):
            call = stmt.value
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "attr", "") == "importorskip"
                and call.args
                and isinstance(call.args[0], ast.Constant)
            ):
                names = [str(call.args[0].value)]
        found += [f"{_name(path, stmt)} imports {n}" for n in names if _heavy(n)]
    return found


def _is_socket_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "socket") or (
        isinstance(func, ast.Name) and func.id == "socket"
    )


def picked_ports(path: Path) -> list[str]:
    """``with socket.socket() as s: s.bind(...); ... s.getsockname()``: a port whose socket
    closes at the end of the block, so whatever binds it next races every other process."""
    found = []
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.With):
            continue
        if not any(_is_socket_call(item.context_expr) for item in node.items):
            continue
        calls = {
            n.func.attr
            for stmt in node.body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        }
        if {"bind", "getsockname"} <= calls and "listen" not in calls:
            found.append(f"{_name(path, node)} picks a port and lets it go")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_test_sleeps_a_second_or_more(path: Path) -> None:
    assert long_sleeps(path) == [], "inject a clock (move the stored time) instead of sleeping"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_heavy_packages_are_imported_inside_the_tests(path: Path) -> None:
    assert heavy_imports(path) == [], "import it inside the test or fixture that needs it"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_ports_are_bound_once(path: Path) -> None:
    assert picked_ports(path) == [], "hold the port (reserve_port) or hand the bound socket over"


def test_the_rules_catch_what_they_name(tmp_path: Path) -> None:
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "import time, asyncio, socket\n"
        "import numpy as np\n"
        "from torch import nn\n"
        "torch = pytest.importorskip('torch')\n"
        "try:\n    import av\nexcept ImportError:\n    pass\n"
        "if TYPE_CHECKING:\n    import numpy\n"
        "def test_x():\n"
        "    import numpy\n"
        "    time.sleep(1.2)\n    asyncio.sleep(2)\n    sleep(1)\n    time.sleep(0.5)\n"
        "    time.sleep(3600)  # suite-rules: not a test\n"
        "def free_port():\n"
        "    with socket.socket() as s:\n"
        "        s.bind(('127.0.0.1', 0))\n"
        "        return s.getsockname()[1]\n"
        "def taken():\n"
        "    with socket.socket() as s:\n"
        "        s.bind(('127.0.0.1', 0)); s.listen()\n"
        "        return s.getsockname()[1]\n"
    )
    assert long_sleeps(bad) == [
        "test_bad.py:13 sleeps 1.2 s",
        "test_bad.py:14 sleeps 2 s",
        "test_bad.py:15 sleeps 1 s",
    ]
    assert heavy_imports(bad) == [
        "test_bad.py:2 imports numpy",
        "test_bad.py:3 imports torch",
        "test_bad.py:4 imports torch",
        "test_bad.py:6 imports av",
    ]
    assert picked_ports(bad) == ["test_bad.py:19 picks a port and lets it go"]


def test_the_plain_fixtures_are_sqlite(db_url: str, request: pytest.FixtureRequest) -> None:
    assert db_url.startswith("sqlite:///")
    assert not hasattr(request.node, "callspec")  # not parametrized over databases


@pytest.mark.all_databases
def test_the_mark_runs_on_every_database(db_backend: str, db_url: str) -> None:
    """sqlite and postgresql here (and mysql where the module is in MYSQL_MODULES or the test is
    marked ``mysql``); the storage modules carry the mark."""
    scheme = {"sqlite": "sqlite:", "postgresql": "postgresql+psycopg:", "mysql": "mysql+pymysql:"}
    assert db_url.startswith(scheme[db_backend])
    marked = [p.name for p in MODULES if "pytest.mark.all_databases" in p.read_text("utf-8")]
    for module in ("test_storage.py", "test_batch.py", "test_records.py", "test_animate.py"):
        assert module in marked
