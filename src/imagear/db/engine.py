"""Opening a database: URL normalisation, the driver, and the pragmas imagear relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError

from imagear.errors import ConfigError


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine with the pragmas imagear relies on (SQLite: WAL, busy timeout)."""
    url = normalize_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"The database driver for {url.split(':', 1)[0]} is not installed ({exc.name}).",
            _driver_advice(url),
        ) from exc
    except ArgumentError as exc:
        raise ConfigError(f"database_url {url!r} is not a valid SQLAlchemy URL.") from exc
    return engine


def _driver_advice(url: str) -> str:
    scheme = url.split(":", 1)[0]
    if scheme.startswith("postgres"):
        return "Install it with `pip install 'imagear[postgres]'`."
    if "mysql" in scheme or "mariadb" in scheme:
        return "Install a driver (`pip install pymysql`) and use mysql+pymysql://user@host/db."
    return "Install the SQLAlchemy driver this URL names, or use sqlite:/// or postgresql://."


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


__all__ = ["make_engine", "normalize_url"]
