"""`imagear serve` and `imagear web` bound glibc's malloc arenas themselves (issue 27): a threaded
server otherwise keeps one arena per thread (0.7-0.8 GB under 20 clients instead of 350 MB).

The bound is checked where it acts: a fresh process that calls it and then allocates from 8
threads at once has 2 arenas (9 without it), counted by glibc's own ``malloc_stats``; and a real
`imagear serve` on loopback says in its log that it set the bound."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import imagear
from imagear.server import arenas
from serving import wait_answering

SRC = Path(imagear.__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not arenas.glibc(), reason="glibc's malloc arenas only")

PROBE = """
import ctypes, sys, threading
from imagear.server.arenas import bound_arenas
if sys.argv[1] == "bound":
    print(bound_arenas(), flush=True)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
barrier = threading.Barrier(8)
def work():
    libc.malloc(1000)  # a thread's first allocation picks (or makes) its arena
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    return {**env, "PYTHONPATH": str(SRC), **extra}


def arenas_of(mode: str, env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    count = sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))
    return done.stdout.strip(), count


def test_the_bound_holds_for_threads_started_after_it() -> None:
    said, bounded = arenas_of("bound", clean_env())
    _, unbounded = arenas_of("free", clean_env())
    assert said == str(arenas.ARENAS)
    assert bounded == arenas.ARENAS
    assert unbounded > arenas.ARENAS  # the probe does make arenas without the bound


def test_a_bound_given_by_the_environment_is_kept() -> None:
    env = {"MALLOC_ARENA_MAX": "3"}
    assert arenas.bound_arenas(env) == 3
    assert env == {"MALLOC_ARENA_MAX": "3"}
    said, count = arenas_of("bound", clean_env(MALLOC_ARENA_MAX="3"))
    assert said == "3" and count <= 3


def test_the_bound_is_exported_to_child_processes() -> None:
    env: dict[str, str] = {}
    assert arenas.bound_arenas(env) == arenas.ARENAS
    assert env["MALLOC_ARENA_MAX"] == str(arenas.ARENAS)
    assert ctypes.CDLL(None).mallopt  # glibc: the call the bound uses exists


def test_serve_sets_the_bound_itself(
    tmp_path: Path, processes: list[subprocess.Popen[str]], reserve_port: Callable[[], int]
) -> None:
    pytest.importorskip("uvicorn")
    port = reserve_port()
    env = {k: v for k, v in clean_env().items() if not k.startswith("IMAGEAR_")}
    env.update(
        IMAGEAR_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        IMAGEAR_MODELS_DIR=str(tmp_path / "models"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "imagear", "serve", "--model", "kenburns", "--no-preload"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    wait_answering(proc, f"http://127.0.0.1:{port}/health")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"glibc malloc arenas bounded to {arenas.ARENAS} (MALLOC_ARENA_MAX)" in out + err
