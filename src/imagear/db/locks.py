"""Every lock the data layer takes, in one place, chosen by the database family.

- Boot: two processes opening a new database at once must not both create and seed it.
  PostgreSQL: ``pg_advisory_xact_lock(BOOT)``; MySQL/MariaDB: ``GET_LOCK`` on a connection of
  its own, held across the whole migration (MySQL commits implicitly around DDL, so no
  transaction can hold it); SQLite: an exclusive ``flock`` on a sidecar file held until the
  migration transaction commits.
- Record: one writer per record's clip row (:func:`lock_record`). PostgreSQL:
  ``pg_advisory_xact_lock(RECORD, object_id)``; MySQL/MariaDB: ``GET_LOCK('imagear:…:record:N')``;
  SQLite: ``BEGIN IMMEDIATE`` (the database's one writer lock), so the row read next is the
  latest committed one.
- Enqueue: batch runners preparing their job rows one at a time (PostgreSQL
  ``pg_advisory_xact_lock(ENQUEUE)``, MySQL ``GET_LOCK``; SQLite: ``BEGIN IMMEDIATE`` of
  :func:`write_tx`).

PostgreSQL's and SQLite's locks end with the transaction. MySQL's ``GET_LOCK`` belongs to the
session, so whoever ends the transaction calls :func:`release` (:func:`write_tx` does), and a
connection going back to the pool releases whatever it still holds (``RELEASE_ALL_LOCKS``).
MySQL lock names are server-wide: they carry a digest of the database name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError

from imagear.db import flavour
from imagear.db.diagnose import reason
from imagear.db.engine import MYSQL, POSTGRES, SQLITE, family
from imagear.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

# pg_advisory_xact_lock keys (one namespace per purpose; records use the two-key form)
BOOT_KEY = 7243100
RECORD_NAMESPACE = 7243101
ENQUEUE_KEY = 7243102

# MySQL GET_LOCK waits (seconds): a record lock is held for a rename and a commit, the enqueue
# lock for one batch's preparation, the boot lock for a first migration.
RECORD_WAIT_SECS = 120
KEY_WAIT_SECS = 300

_PG_LOCK1 = text("SELECT pg_advisory_xact_lock(:key)")
_PG_LOCK2 = text("SELECT pg_advisory_xact_lock(:ns, :key)")
_MY_LOCK = text("SELECT GET_LOCK(:name, :wait)")
_MY_UNLOCK = text("SELECT RELEASE_LOCK(:name)")
_HELD = "imagear_named_locks"  # Connection.info key: the GET_LOCK names this session holds


def _family(conn: Connection) -> str:
    return family(conn.dialect.name)


def begin_write(conn: Connection) -> None:
    """Start the transaction of ``conn`` as a writer (SQLite: ``BEGIN IMMEDIATE``, waited for
    by ``busy_timeout``); a no-op elsewhere, where the transaction begins with the first
    statement."""
    if _family(conn) == SQLITE:
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def lock_name(conn: Connection, purpose: str) -> str:
    """A MySQL lock name for ``purpose`` on this database (server-wide names, under 64 chars)."""
    database = str(conn.engine.url.database or "")
    digest = hashlib.sha1(database.encode("utf-8")).hexdigest()[:12]
    return f"imagear:{digest}:{purpose}"[:64]


def _release_all_on_checkin(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    """Pool check-in: a MySQL connection gives up any named lock it still holds."""
    if dbapi_conn is None or not record.info.pop(_HELD, None):
        return
    with contextlib.suppress(Exception):
        cur = dbapi_conn.cursor()
        cur.execute("SELECT RELEASE_ALL_LOCKS()")
        cur.close()


def _get_lock(conn: Connection, purpose: str, wait: int) -> None:
    engine = conn.engine
    if not event.contains(engine, "checkin", _release_all_on_checkin):
        event.listen(engine, "checkin", _release_all_on_checkin)
    name = lock_name(conn, purpose)
    got = conn.execute(_MY_LOCK, {"name": name, "wait": wait}).scalar()
    if got != 1:
        raise StorageError(
            f"Waited {wait} s for imagear's {purpose} lock on this database; another imagear "
            "process is holding it.",
            "Try again when that process has finished (`imagear batch` and `imagear animate` "
            "hold it only briefly).",
        )
    conn.info.setdefault(_HELD, []).append(name)


def release(conn: Connection) -> None:
    """Release the MySQL named locks ``conn`` holds (call it once its transaction ended); a
    no-op elsewhere, where the end of the transaction released them."""
    names = conn.info.pop(_HELD, None)
    if not names:
        return
    with contextlib.suppress(SQLAlchemyError):
        for name in reversed(names):
            conn.execute(_MY_UNLOCK, {"name": name})
        conn.rollback()  # end the (empty) transaction the statements began


def lock_key(conn: Connection, key: int) -> None:
    """A whole-database lock for the rest of this transaction (see the module docstring)."""
    fam = _family(conn)
    if fam == POSTGRES:
        conn.execute(_PG_LOCK1, {"key": key})
    elif fam == MYSQL:
        _get_lock(conn, f"key:{key}", KEY_WAIT_SECS)
    else:
        begin_write(conn)


def lock_record(conn: Connection, object_id: int) -> None:
    """Take the per-record write lock for the rest of this transaction (which begins here)."""
    fam = _family(conn)
    if fam == POSTGRES:
        conn.execute(_PG_LOCK2, {"ns": RECORD_NAMESPACE, "key": int(object_id) % 2**31})
    elif fam == MYSQL:
        _get_lock(conn, f"record:{int(object_id)}", RECORD_WAIT_SECS)
    else:
        begin_write(conn)


@contextlib.contextmanager
def boot_lock(engine: Engine) -> Iterator[None]:
    """Serialise first boots. SQLite: a ``flock`` on a sidecar file; MySQL: ``GET_LOCK`` on a
    connection of its own; both held across the whole migration (commit included), or a second
    process could read the old version before the first one commits. PostgreSQL takes
    :data:`BOOT_KEY` inside the migration transaction instead."""
    fam = family(engine.dialect.name)
    if fam == MYSQL:
        with engine.connect() as conn:
            _get_lock(conn, "boot", KEY_WAIT_SECS)
            try:
                yield
            finally:
                release(conn)
        return
    db = engine.url.database
    if fam != SQLITE or not db or db == ":memory:":
        yield
        return
    fd = os.open(f"{db}.boot-lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def write_tx(engine: Engine, failure: str) -> Iterator[Connection]:
    """One short write transaction (SQLite: ``BEGIN IMMEDIATE``), committed at the end; a
    database error becomes StorageError ``"<failure>: <cause>."`` (:mod:`imagear.db.diagnose`)."""
    try:
        with engine.connect() as conn:
            begin_write(conn)
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                release(conn)
    except SQLAlchemyError as exc:
        raise flavour.failed(engine, failure, exc) from exc


__all__ = [
    "BOOT_KEY",
    "ENQUEUE_KEY",
    "KEY_WAIT_SECS",
    "RECORD_NAMESPACE",
    "RECORD_WAIT_SECS",
    "begin_write",
    "boot_lock",
    "lock_key",
    "lock_name",
    "lock_record",
    "reason",
    "release",
    "write_tx",
]
