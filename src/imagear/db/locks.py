"""Every lock the data layer takes, in one place.

- Boot: two processes opening a new database at once must not both create and seed it.
  PostgreSQL: ``pg_advisory_xact_lock(BOOT)``; SQLite: an exclusive ``flock`` on a sidecar file
  held until the migration transaction commits.
- Record: one writer per record's clip row (:func:`lock_record`). PostgreSQL:
  ``pg_advisory_xact_lock(RECORD, object_id)``; SQLite: ``BEGIN IMMEDIATE`` (the database's one
  writer lock), so the row read next is the latest committed one.
- Enqueue: batch runners preparing their job rows one at a time (PostgreSQL
  ``pg_advisory_xact_lock(ENQUEUE)``; SQLite: ``BEGIN IMMEDIATE`` of :func:`write_tx`).

Transaction-level locks are released by the commit or rollback that ends the transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from imagear.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

# pg_advisory_xact_lock keys (one namespace per purpose; records use the two-key form)
BOOT_KEY = 7243100
RECORD_NAMESPACE = 7243101
ENQUEUE_KEY = 7243102

_PG_LOCK1 = text("SELECT pg_advisory_xact_lock(:key)")
_PG_LOCK2 = text("SELECT pg_advisory_xact_lock(:ns, :key)")


def begin_write(conn: Connection) -> None:
    """Start the transaction of ``conn`` as a writer (SQLite: ``BEGIN IMMEDIATE``, waited for
    by ``busy_timeout``); a no-op elsewhere, where the transaction begins with the first
    statement."""
    if conn.dialect.name == "sqlite":
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def lock_key(conn: Connection, key: int) -> None:
    """A whole-database lock for the rest of this transaction (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK1, {"key": key})
    else:
        begin_write(conn)


def lock_record(conn: Connection, object_id: int) -> None:
    """Take the per-record write lock for the rest of this transaction (which begins here)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK2, {"ns": RECORD_NAMESPACE, "key": int(object_id) % 2**31})
    else:
        begin_write(conn)


@contextlib.contextmanager
def boot_lock(engine: Engine) -> Iterator[None]:
    """Serialise first boots on one SQLite file. Held across the whole transaction (commit
    included), or a second process could read the old version before the first one commits.
    Other databases take :data:`BOOT_KEY` inside the transaction instead."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        yield
        return
    fd = os.open(f"{db}.boot-lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def reason(exc: BaseException) -> str:
    """The driver's own one-line reason for a database error (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__).rstrip(".")


@contextlib.contextmanager
def write_tx(engine: Engine, failure: str) -> Iterator[Connection]:
    """One short write transaction (SQLite: ``BEGIN IMMEDIATE``), committed at the end; a
    database error becomes StorageError ``"<failure>: <error>."``."""
    try:
        with engine.connect() as conn:
            begin_write(conn)
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    except SQLAlchemyError as exc:
        raise StorageError(f"{failure}: {reason(exc)}.") from exc


__all__ = [
    "BOOT_KEY",
    "ENQUEUE_KEY",
    "RECORD_NAMESPACE",
    "begin_write",
    "boot_lock",
    "lock_key",
    "lock_record",
    "reason",
    "write_tx",
]
