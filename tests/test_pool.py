"""A pool of image-to-video servers (``ar_server_pool``, imagear.pool) on real loopback fakes
(tests/fake_server.py; one in its own process, killed mid-request).

Routing to a server with a free slot (capacity from /health ``queue_size``, or learnt from a
503), a server that stops answering taken out and probed again, failover without duplicates (a
request is sent again only when the server that had it is proven gone), and health reported for
every server by ``imagear health`` and the batch pre-flight.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batch_fakes import clip_counts, make_records
from fake_server import ONE_AT_A_TIME, FakeVideoServer, _Handler, dead_url, fake
from imagear import settings
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.batch import BatchOptions, BatchRunner
from imagear.errors import BadResponse, InvalidSetting, ServerUnreachable
from imagear.pool import PoolGenerator, pool_lines, pool_urls
from imagear.pool_health import GONE_WINDOW, refuses
from imagear.settings import parse_pool

TESTS = Path(__file__).resolve().parent


def use_pool(app: App, first: str, *others: str) -> None:
    settings.set_value(app.engine, "ar_server_url", first)
    settings.set_value(app.engine, "ar_server_pool", " ".join(others))


def names(server: FakeVideoServer) -> Counter[str]:
    """/animate requests per uploaded file (a record's master file stem)."""
    return Counter(r.image_filename or "" for r in server.animate_requests())


def animate_all(app: App, ids: list[int], threads: int) -> list[Any]:
    """Animate ``ids`` from ``threads`` threads sharing one Animator; outcomes or errors."""
    with Animator(app) as animator:
        return animate_with(animator, ids, threads)


def animate_with(animator: Animator, ids: list[int], threads: int) -> list[Any]:
    out: list[Any] = []
    lock = threading.Lock()
    todo = list(ids)

    def work() -> None:
        while True:
            with lock:
                if not todo:
                    return
                oid = todo.pop(0)
            try:
                got: Any = animator.animate(AnimateRequest(oid, force=True))
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                got = exc
            with lock:
                out.append(got)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    return out


# -- the setting ---------------------------------------------------------------------------------


def test_setting_lists_urls_once_and_refuses_a_bad_one(app: App) -> None:
    stored = settings.set_value(app.engine, "ar_server_pool", "http://b:1/, http://c:2;http://b:1")
    assert stored == "http://b:1 http://c:2"
    assert settings.get_all(app.engine).ar_server_pool == "http://b:1 http://c:2"
    with pytest.raises(InvalidSetting, match="ftp://x"):
        settings.set_value(app.engine, "ar_server_pool", "http://b:1 ftp://x")
    assert settings.get_all(app.engine).ar_server_pool == "http://b:1 http://c:2"  # unchanged
    assert parse_pool(" http://a:1,,http://b:2 ") == ["http://a:1", "http://b:2"]
    assert pool_urls("http://a:1/", "http://b:2 http://a:1") == ["http://a:1", "http://b:2"]
    assert pool_urls(None, "http://b:2") == []  # in-process: no servers at all


def test_cli_setting(app: App, runner: Any) -> None:
    from imagear.cli import app as cli

    ok = runner.invoke(cli, ["settings", "set", "ar_server_pool", "http://b:1, http://c:2"])
    assert ok.exit_code == 0, ok.output
    assert settings.get_all(app.engine).ar_server_pool == "http://b:1 http://c:2"
    bad = runner.invoke(cli, ["settings", "set", "ar_server_pool", "gpu-host:5052"])
    assert bad.exit_code == 2


# -- routing -------------------------------------------------------------------------------------


def test_requests_go_to_a_server_with_a_free_slot(
    app: App, fakes: list[FakeVideoServer], make_image: Any
) -> None:
    # each server reports that it takes one request at once
    a = fake(fakes, latency=0.4, health=ONE_AT_A_TIME)
    b = fake(fakes, latency=0.4, health=ONE_AT_A_TIME)
    use_pool(app, a.url, b.url)
    ids = make_records(app, 5, make_image("x.png").parent / "recs")
    with Animator(app) as animator:
        generator = animator._generator(animator.settings())
        assert isinstance(generator, PoolGenerator)
        outcomes = animate_with(animator, ids, threads=3)  # one thread more than slots
        peaks = [s.peak for s in generator.pool.servers]
    assert [o.status for o in outcomes] == ["created"] * 5
    assert peaks == [1, 1]  # the third thread waited for a free slot, here
    # one request per record, spread over both servers, none served twice
    assert a.count + b.count == 5
    assert a.count >= 2 and b.count >= 2
    assert not (set(names(a)) & set(names(b)))
    assert clip_counts(app) == dict.fromkeys(ids, 1)


def test_a_busy_answer_teaches_the_capacity(
    app: App, fakes: list[FakeVideoServer], make_image: Any
) -> None:
    # A does not report its capacity and refuses a second request (503, Retry-After: 1)
    a = fake(fakes, latency=0.5, max_concurrent=1, retry_after=1)
    b = fake(fakes, latency=0.5, max_concurrent=1, health=ONE_AT_A_TIME)
    use_pool(app, a.url, b.url)
    ids = make_records(app, 3, make_image("x.png").parent / "recs")
    with Animator(app) as animator:
        generator = animator._generator(animator.settings())
        assert isinstance(generator, PoolGenerator)
        outcomes: list[Any] = []

        def one(oid: int) -> None:
            outcomes.append(animator.animate(AnimateRequest(oid)))

        threads = [threading.Thread(target=one, args=(oid,)) for oid in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert generator.pool.servers[0].capacity == 1  # learnt from its 503
    assert sorted(o.status for o in outcomes) == ["created"] * 3
    # the third request went to A first and was refused there (nothing was taken), then
    # waited for a free slot: four requests (a request arriving just as another one's last
    # byte left can be refused too: sent again the same way), three records, one clip each
    assert a.count + b.count >= 4
    assert len(names(a) + names(b)) == 3
    assert clip_counts(app) == dict.fromkeys(ids, 1)


def test_a_refused_server_is_taken_out_and_probed_again(
    app: App, fakes: list[FakeVideoServer], make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagear.pool

    monkeypatch.setattr(imagear.pool, "PROBE_SECS", 0.3)
    live = fake(fakes, health=ONE_AT_A_TIME)
    down = dead_url()
    use_pool(app, down, live.url)
    ids = make_records(app, 5, make_image("x.png").parent / "recs")
    with Animator(app) as animator:
        generator = animator._generator(animator.settings())
        assert isinstance(generator, PoolGenerator)
        gone = generator.pool.servers[0]
        for oid in ids[:2]:  # the first went to `down`, was refused, and went to `live`
            assert animator.animate(AnimateRequest(oid)).status == "created"
        assert not gone.up and "Cannot reach" in (gone.error or "")
        assert live.count == 2
        # the server comes up where it was: a later probe puts it back in the pool
        revived = revive(down, fakes)
        time.sleep(0.4)
        animator.animate(AnimateRequest(ids[2]))  # its turn starts the probe
        deadline = time.monotonic() + 10
        while not gone.up:
            assert time.monotonic() < deadline, "never probed again"
            time.sleep(0.05)
        for oid in ids[3:]:
            animator.animate(AnimateRequest(oid))
    assert revived.count >= 1  # it gets requests again
    assert live.count + revived.count == 5


def revive(url: str, fakes: list[FakeVideoServer]) -> FakeVideoServer:
    """A fake server listening at ``url`` (a port that was refused until now)."""
    port = int(url.rsplit(":", 1)[1])
    server = FakeVideoServer(health=ONE_AT_A_TIME)
    handler = type("Handler", (_Handler,), {"fake": server})
    server._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server._httpd.daemon_threads = True
    server._thread = threading.Thread(
        target=server._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    server._thread.start()
    fakes.append(server)
    return server


# -- failover without duplicates -----------------------------------------------------------------


@pytest.fixture
def killable() -> Iterator[Any]:
    """``start(**knobs)``: tests/fake_server.py in its own process -> (process, url)."""
    procs: list[subprocess.Popen[str]] = []

    def start(**knobs: Any) -> tuple[subprocess.Popen[str], str]:
        args = [f"{k}={json.dumps(v)}" for k, v in knobs.items()]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), *sys.path]))
        proc = subprocess.Popen(
            [sys.executable, str(TESTS / "fake_server.py"), *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_server_killed_mid_request_loses_nothing_and_repeats_nothing(
    app: App, fakes: list[FakeVideoServer], killable: Any, make_image: Any
) -> None:
    a = fake(fakes, latency=0.2, health=ONE_AT_A_TIME)
    proc, b_url = killable(latency=30, health=ONE_AT_A_TIME)
    use_pool(app, a.url, b_url)
    ids = make_records(app, 6, make_image("x.png").parent / "recs")
    result: list[Any] = []
    batch = threading.Thread(
        target=lambda: result.append(BatchRunner(app, BatchOptions(concurrency=2)).run())
    )
    batch.start()
    deadline = time.monotonic() + 30
    while a.count < 2:  # B holds the other record (30 s): it never answers it
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    batch.join(60)
    summary = result[0]
    assert summary.count("created") == 6 and not summary.failures, [
        r.error for r in summary.failures
    ]
    # every record has one clip, and the live server got each record exactly once: the one
    # that died with B was sent to A only after B was proven gone
    assert clip_counts(app) == dict.fromkeys(ids, 1)
    assert sorted(names(a).values()) == [1] * 6


def _listener() -> tuple[socket.socket, str]:
    """A listening socket that never accepts (the kernel still completes connections into its
    queue), as a server whose process is being killed still has for a moment."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_server_slow_to_die_is_proven_gone() -> None:
    # CI once saw a killed server's listening socket outlive its connections by more than the
    # 0.3 s refuses() used to wait: the record then failed instead of going to another server
    sock, url = _listener()
    threading.Timer(0.6, sock.close).start()
    started = time.monotonic()
    assert refuses(url)
    assert 0.5 < time.monotonic() - started < GONE_WINDOW


def test_a_server_that_still_listens_is_not_gone() -> None:
    sock, url = _listener()
    try:
        started = time.monotonic()
        assert not refuses(url, window=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        sock.close()
    assert refuses(url)  # nothing listens there now: refused at once


def test_a_broken_connection_to_a_live_server_is_not_sent_again(
    app: App, fakes: list[FakeVideoServer], make_image: Any
) -> None:
    a = fake(fakes, truncate_at=4000, body_size=20000, health=ONE_AT_A_TIME)
    b = fake(fakes, health=ONE_AT_A_TIME)
    use_pool(app, a.url, b.url)
    (oid,) = make_records(app, 1, make_image("x.png").parent / "recs")
    with Animator(app) as animator, pytest.raises(BadResponse, match="truncated"):
        animator.animate(AnimateRequest(oid))
    # A is alive (it answers /health): it may have made the clip; it is not sent elsewhere
    assert (a.count, b.count) == (1, 0)
    assert clip_counts(app) == {}


def test_no_server_left_is_unreachable(app: App, make_image: Any) -> None:
    use_pool(app, dead_url(), dead_url())
    (oid,) = make_records(app, 1, make_image("x.png").parent / "recs")
    with Animator(app) as animator, pytest.raises(ServerUnreachable, match="any image-to-video"):
        animator.animate(AnimateRequest(oid))


def test_the_pool_adds_to_server_url_of_imagear_toml(
    app: App, fakes: list[FakeVideoServer], make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = fake(fakes, health=ONE_AT_A_TIME)
    b = fake(fakes, health=ONE_AT_A_TIME)
    use_pool(app, dead_url(), b.url)  # the row Heratio reads points elsewhere
    monkeypatch.setenv("IMAGEAR_SERVER_URL", a.url)  # this install's server_url wins
    other = App.load()
    try:
        ids = make_records(other, 4, make_image("x.png").parent / "recs")
        outcomes = animate_all(other, ids, threads=2)
        assert [getattr(o, "status", o) for o in outcomes] == ["created"] * 4
    finally:
        other.close()
    assert a.count + b.count == 4 and a.count and b.count


# -- health of every server ----------------------------------------------------------------------


def test_health_reports_every_server(app: App, fakes: list[FakeVideoServer], runner: Any) -> None:
    from imagear.cli import app as cli

    a = fake(fakes, health={"queue_size": 1})
    b = fake(fakes, health=ONE_AT_A_TIME)
    down = dead_url()
    use_pool(app, a.url, b.url, down)
    text = runner.invoke(cli, ["health"])
    assert text.exit_code == 0, text.output
    out = " ".join(text.output.split())
    assert "Server pool: 2 of 3 servers ready." in out
    assert f"{a.url}: ready (2 requests at once)" in out
    assert f"{b.url}: ready (1 requests at once)" in out
    assert f"{down}: taken out" in out
    data = json.loads(runner.invoke(cli, ["health", "--json"]).stdout)
    assert [(s["url"], s["reachable"]) for s in data["pool"]] == [
        (a.url, True),
        (b.url, True),
        (down, False),
    ]
    use_pool(app, down, dead_url())
    none = runner.invoke(cli, ["health"])
    assert none.exit_code == 5
    assert down in none.output


def test_batch_preflight_reports_every_server(
    app: App, fakes: list[FakeVideoServer], make_image: Any
) -> None:
    from imagear.batch import BatchEvents

    a = fake(fakes, health=ONE_AT_A_TIME)
    down = dead_url()
    use_pool(app, a.url, down)
    ids = make_records(app, 3, make_image("x.png").parent / "recs")
    notices: list[str] = []

    class Listen(BatchEvents):
        def notice(self, message: str) -> None:
            notices.append(message)

    summary = BatchRunner(app, BatchOptions(concurrency=2), events=Listen()).run()
    assert summary.count("created") == 3
    assert notices[0] == "Server pool: 1 of 2 servers ready."
    assert any(n.startswith(f"  {a.url}: ready") for n in notices)
    assert any(n.startswith(f"  {down}: taken out") for n in notices)
    assert a.count == len(ids)


def test_pool_lines_without_a_pool() -> None:
    from imagear.wire import Health

    assert pool_lines(Health()) == []
    assert pool_lines(object()) == []
