"""Shared fixtures: every test gets its own temp dirs, config and database.

``db_url`` (and everything built on it: ``app``, ``cli_env``) is SQLite by default. A test (or a
module, through ``pytestmark``) marked ``all_databases`` - the ones that exercise storage
semantics: claims, locks, replace, queries - runs on SQLite and the real PostgreSQL at
127.0.0.1:5432, and, in the storage, animate, batch and records modules (:data:`MYSQL_MODULES`),
or when marked ``mysql``, the real MariaDB/MySQL at 127.0.0.1:3306 as well. Each PostgreSQL test
gets its own schema, each MySQL test its own database (dropped afterwards). When a server is
unreachable its part skips with a message, unless IMAGEAR_REQUIRE_POSTGRES=1 /
IMAGEAR_REQUIRE_MYSQL=1 (both set by .ci/run), where it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Rich sizes its consoles from COLUMNS when they are built: keep CLI tables unfolded in tests.
os.environ["COLUMNS"] = "200"

PG_URL = os.environ.get(
    "IMAGEAR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("IMAGEAR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
# the modules whose database tests also run on MySQL/MariaDB (the same suite on every database)
MYSQL_MODULES = {
    "test_storage",
    "test_records",
    "test_animate",
    "test_animate_cli",
    "test_batch",
    "test_batch_cli",
    "test_heratio",
    "test_batch_progress",
}
_KEEP_ENV = (
    "IMAGEAR_REQUIRE_POSTGRES",
    "IMAGEAR_TEST_POSTGRES_URL",
    "IMAGEAR_REQUIRE_MYSQL",
    "IMAGEAR_TEST_MYSQL_URL",
)


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(
            PG_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3
        ):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_PG_PROBLEM: str | None | bool = False  # False = not probed yet


def pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_available()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema of this test's own."""
    problem = pg_problem()
    if problem:
        if os.environ.get("IMAGEAR_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                f"PostgreSQL at {PG_URL} is required (IMAGEAR_REQUIRE_POSTGRES=1) but unreachable: {problem}"
            )
        pytest.skip(
            f"PostgreSQL at {PG_URL} is unreachable ({problem}); set it up to run the PostgreSQL half"
        )
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _mysql_connect(database: str | None = None, timeout: int = 10) -> object:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MYSQL_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database if database is not None else url.database,
        connect_timeout=timeout,
        autocommit=True,
        charset="utf8mb4",
    )


def _mysql_available() -> str | None:
    try:
        _mysql_connect(timeout=3).close()  # type: ignore[attr-defined]
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_MYSQL_PROBLEM: str | None | bool = False  # False = not probed yet


def mysql_problem() -> str | None:
    global _MYSQL_PROBLEM
    if _MYSQL_PROBLEM is False:
        _MYSQL_PROBLEM = _mysql_available()
    return _MYSQL_PROBLEM  # type: ignore[return-value]


def require_mysql() -> None:
    """Skip (or, with IMAGEAR_REQUIRE_MYSQL=1, fail) when MySQL/MariaDB is unreachable."""
    problem = mysql_problem()
    if problem:
        if os.environ.get("IMAGEAR_REQUIRE_MYSQL") == "1":
            pytest.fail(
                f"MySQL/MariaDB at {MYSQL_URL} is required (IMAGEAR_REQUIRE_MYSQL=1) but unreachable: {problem}"
            )
        pytest.skip(
            f"MySQL/MariaDB at {MYSQL_URL} is unreachable ({problem}); set it up to run the MySQL part"
        )


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh MySQL/MariaDB database of this test's own (dropped afterwards); its name."""
    require_mysql()
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = _mysql_connect()
    try:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    finally:
        conn.close()  # type: ignore[attr-defined]
    yield name
    conn = _mysql_connect()
    try:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()  # type: ignore[attr-defined]


@pytest.fixture
def mysql_url(mysql_database: str) -> str:
    """A MySQL/MariaDB URL of a fresh database of this test's own."""
    from sqlalchemy.engine import make_url

    return make_url(MYSQL_URL).set(database=mysql_database).render_as_string(hide_password=False)


_BACKEND_MARKS = {"postgresql": [pytest.mark.postgres], "mysql": [pytest.mark.mysql]}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``db_backend``: SQLite only, unless the test is marked ``all_databases`` (or ``mysql``):
    then sqlite and postgresql, and mysql too in :data:`MYSQL_MODULES` and for tests marked
    ``mysql``."""
    if "db_backend" not in metafunc.fixturenames:
        return
    definition = metafunc.definition
    mysql = definition.get_closest_marker("mysql") is not None
    if not mysql and definition.get_closest_marker("all_databases") is None:
        return  # the plain fixtures: SQLite, no parameter
    names = ["sqlite", "postgresql"]
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in MYSQL_MODULES or mysql:
        names.append("mysql")
    metafunc.parametrize(
        "db_backend",
        [pytest.param(n, id=n, marks=_BACKEND_MARKS.get(n, [])) for n in names],
        indirect=True,
    )


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'imagear.db'}"
    if db_backend == "mysql":
        return str(request.getfixturevalue("mysql_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'imagear.db'}"


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    r = {
        "storage_root": tmp_path / "storage",
        "images_root": tmp_path / "images",
        "models_dir": tmp_path / "models",
    }
    for p in r.values():
        p.mkdir()
    return r


@pytest.fixture(scope="session")
def c2pa_identity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One C2PA signing identity (a CA and a signing certificate, made in code) for the
    session's clips, set as c2pa_cert / c2pa_key by ``cli_env``: the per-install identity is
    made (and said) only where a test asks for it (tests/test_provenance*.py)."""
    import datetime as dt

    from imagear.provenance.certs import make_chain

    folder = tmp_path_factory.mktemp("c2pa")
    chain, key, _ca = make_chain("imagear tests", dt.datetime.now(dt.UTC))
    (folder / "chain.pem").write_bytes(chain)
    (folder / "signer.key").write_bytes(key)
    return {
        "IMAGEAR_C2PA_CERT": str(folder / "chain.pem"),
        "IMAGEAR_C2PA_KEY": str(folder / "signer.key"),
    }


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    roots: dict[str, Path],
    tmp_path: Path,
    c2pa_identity: dict[str, str],
) -> dict[str, str]:
    """IMAGEAR_* variables pointing every path at this test's temp dirs (no user config leaks in)."""
    for key in list(os.environ):
        if key.startswith("IMAGEAR_") and key not in _KEEP_ENV:
            monkeypatch.delenv(key)
    env = {
        "IMAGEAR_DATABASE_URL": db_url,
        "IMAGEAR_STORAGE_ROOT": str(roots["storage_root"]),
        "IMAGEAR_IMAGES_ROOT": str(roots["images_root"]),
        "IMAGEAR_MODELS_DIR": str(roots["models_dir"]),
        "IMAGEAR_USER": "tester",
        **c2pa_identity,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    return env


@pytest.fixture
def app(cli_env: dict[str, str]) -> Iterator[object]:
    from imagear.app import App

    a = App.load()
    yield a
    a.close()


@pytest.fixture
def make_image(tmp_path: Path):
    """Write a small real image and return its path: make_image("a.jpg", size=(320, 200))."""
    from PIL import Image, ImageDraw

    def _make(
        name: str = "img.jpg",
        size: tuple[int, int] = (320, 200),
        mode: str = "RGB",
        fmt: str | None = None,
    ) -> Path:
        img = Image.new("RGB", size, (30, 60, 90))
        draw = ImageDraw.Draw(img)
        w, h = size
        for i in range(0, w, max(1, w // 8)):
            draw.rectangle([i, 0, i + max(1, w // 16), h], fill=(200, (i * 3) % 255, 40))
        draw.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(250, 250, 240))
        if mode != "RGB":
            img = img.convert(mode)
        path = tmp_path / "inputs" / name
        path.parent.mkdir(exist_ok=True)
        img.save(path, format=fmt)
        return path

    return _make


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def server() -> Iterator[object]:
    """A loopback fake image-to-video server (tests/fake_server.py)."""
    from fake_server import FakeVideoServer

    with FakeVideoServer() as srv:
        yield srv


@pytest.fixture
def remote(app, server):
    """The fake server, set as this test's ar_server_url."""
    from imagear import settings

    settings.set_value(app.engine, "ar_server_url", server.url)
    return server


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """The model registry as shipped (no test registrations or cached plugins leak)."""
    from imagear.models import reset_registry

    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def plugins_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put tests/plugins (two .dist-info folders with real entry points) on sys.path."""
    from imagear.models import reset_plugin_cache

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    reset_plugin_cache()
    yield
    reset_plugin_cache()


@pytest.fixture
def reserve_port() -> Iterator[Callable[[], int]]:
    """``reserve_port()``: a loopback TCP port bound once, here, and held until the test ends.

    The socket is bound with SO_REUSEADDR and never listens, so while the test runs nothing
    else on the machine can take the port (no pick-then-bind race), a connection to it is
    refused (an unreachable server), and a server the test starts on it - which binds with
    SO_REUSEADDR, as ``imagear serve`` does - may still listen there (Linux allows a second
    SO_REUSEADDR bind while the first socket does not listen). Where the test starts the
    server itself, hand it a bound socket instead (``uvicorn.Server.run(sockets=[sock])``)."""
    held: list[socket.socket] = []

    def reserve() -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
        return int(sock.getsockname()[1])

    yield reserve
    for sock in held:
        sock.close()


@pytest.fixture
def fakes() -> Iterator[list[Any]]:
    """Fake servers a test starts with ``fake_server.fake(fakes, ...)``, stopped at its end."""
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    """Subprocesses a test started (``subprocess.Popen``); any still running at the end are
    killed."""
    started: list[Any] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
