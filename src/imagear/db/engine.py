"""Opening a database: URL normalisation, the driver, and the options imagear relies on.

Three families are supported: SQLite (one machine), PostgreSQL (psycopg 3) and MySQL/MariaDB
(PyMySQL), the database a Heratio install runs on. :func:`family` names the family of an
engine's dialect; every dialect branch of the data layer asks it, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from imagear.db.constants import SQLITE_BUSY_SECS
from imagear.db.fold import fold
from imagear.errors import ConfigError
from imagear.urls import redact_url

SQLITE, POSTGRES, MYSQL = "sqlite", "postgresql", "mysql"

# the URLs people paste -> the driver imagear ships an extra for
_SCHEMES = {
    "postgres://": "postgresql+psycopg://",
    "postgresql://": "postgresql+psycopg://",
    "mysql://": "mysql+pymysql://",
    "mariadb://": "mariadb+pymysql://",
}


def normalize_url(url: str) -> str:
    """Accept the URLs people paste: ``postgres://`` and ``postgresql://`` mean psycopg 3,
    ``mysql://`` and ``mariadb://`` mean PyMySQL; a MySQL URL gets ``charset=utf8mb4`` (what
    AtoM and Heratio use) unless it names a charset."""
    for prefix, full in _SCHEMES.items():
        if url.startswith(prefix):
            url = full + url[len(prefix) :]
            break
    scheme = url.split(":", 1)[0]
    if ("mysql" in scheme or "mariadb" in scheme) and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return url


def family(dialect_name: str) -> str:
    """``sqlite`` | ``postgresql`` | ``mysql`` (MySQL and MariaDB) | the name itself."""
    return MYSQL if dialect_name in ("mysql", "mariadb") else dialect_name


def is_mysql(bind: Engine | Connection) -> bool:
    """True for an Engine or Connection on MySQL or MariaDB."""
    return family(bind.dialect.name) == MYSQL


def skip_locked_problem(engine: Engine) -> str | None:
    """Why this server cannot run batch claims (``SELECT ... FOR UPDATE SKIP LOCKED``: MySQL
    8.0+, MariaDB 10.6+), or None. Known once the engine has connected."""
    if family(engine.dialect.name) != MYSQL:
        return None
    version = getattr(engine.dialect, "server_version_info", None)
    if not version:
        return None
    mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
    needed = (10, 6) if mariadb else (8, 0)
    if tuple(version[:2]) >= needed:
        return None
    name = "MariaDB" if mariadb else "MySQL"
    shown = ".".join(str(v) for v in version[:3])
    return (
        f"imagear batch needs {name} {needed[0]}.{needed[1]} or later (SELECT ... FOR UPDATE "
        f"SKIP LOCKED); this server is {name} {shown}."
    )


def make_engine(url: str) -> Engine:
    """An engine with the options imagear relies on: SQLite WAL and a busy timeout; MySQL in
    READ COMMITTED (as PostgreSQL is: a locked read and the next plain read see the same
    committed rows), connections recycled before the server's idle timeout."""
    url = normalize_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        scheme = make_url(url).get_backend_name()
        if scheme == "sqlite":
            engine = create_engine(
                url, connect_args={"timeout": SQLITE_BUSY_SECS, "check_same_thread": False}
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        elif family(scheme) == MYSQL:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_recycle=3600,
                isolation_level="READ COMMITTED",
                connect_args=_mysql_connect_args(url),
            )
            event.listen(engine, "connect", _mysql_collation)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"The database driver for {url.split(':', 1)[0]} is not installed ({exc.name}).",
            _driver_advice(url),
        ) from exc
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(
            f"database_url {redact_url(url)!r} is not a valid SQLAlchemy URL ({exc}).",
            "Fix it (`imagear config show`), e.g. postgresql://user:password@host:5432/dbname.",
        ) from exc
    return engine


def _mysql_connect_args(url: str) -> dict[str, object]:
    """PyMySQL's options: a connect timeout; and, for a server on this machine (loopback or
    socket) whose URL names no TLS option, no TLS. PyMySQL otherwise tries TLS on every new
    connection and builds a fresh SSL context for it (loading the system's certificates:
    tens of milliseconds, holding the GIL, and far longer on a busy host) for an encryption
    the loopback does not need. A remote server keeps PyMySQL's own default."""
    args: dict[str, object] = {"connect_timeout": 10}
    parsed = make_url(url)
    if parsed.get_driver_name() != "pymysql" or any(k.startswith("ssl") for k in parsed.query):
        return args
    if parsed.host in (None, "", "localhost", "127.0.0.1", "::1") or "unix_socket" in parsed.query:
        args["ssl_disabled"] = True
    return args


MYSQL_COLLATION = (
    "SET collation_connection = IF(@@character_set_database = 'utf8mb4', "
    "@@collation_database, @@collation_connection)"
)


def _mysql_collation(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """MySQL/MariaDB: the connection's literals in the database's own collation (when its
    character set is utf8mb4, the connection's). A literal in another collation than the
    column it is compared with (the driver's utf8mb4_general_ci against a database made with
    utf8mb4_unicode_ci, as AtoM's are) keeps MariaDB from treating ``status = 'pending'`` as
    a constant: a claim's ``ORDER BY status, object_id`` then sorts every pending row instead
    of walking the index, and its ``FOR UPDATE`` locks them all (a million row locks fill a
    128 MB buffer pool and stop the server)."""
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(MYSQL_COLLATION)
    finally:
        cursor.close()


def _driver_advice(url: str) -> str:
    scheme = url.split(":", 1)[0]
    if scheme.startswith("postgres"):
        return "Install it with `pip install 'imagear[postgres]'`."
    if "mysql" in scheme or "mariadb" in scheme:
        return "Install it with `pip install 'imagear[mysql]'` (PyMySQL) and use mysql://user:password@host/db."
    return "Install the SQLAlchemy driver this URL names, or use sqlite:///, postgresql:// or mysql://."


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECS * 1000)}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()
    # the grid's accent-insensitive search (imagear.db.fold)
    dbapi_conn.create_function("imagear_fold", 1, fold, deterministic=True)


__all__ = [
    "MYSQL",
    "POSTGRES",
    "SQLITE",
    "family",
    "is_mysql",
    "make_engine",
    "normalize_url",
    "skip_locked_problem",
]
