"""A search of the records read as ranges of their ids, a few at once, each on its own
connection, where the search is a scan of every title.

MariaDB and MySQL run one statement on one thread; a search of a title's substring has no index
there, so it reads every record (a million: 0.3-0.5 s on one core). Cut into :data:`PIECES`
ranges of the primary key, read in order by :data:`PARTS` connections on threads of their own
(each takes the next range as it finishes one), the same scan takes about its share of the
database's cores. PostgreSQL without imagear's trigram indexes (no ``pg_trgm``) scans too, and
its planner walks the primary key for an ``ORDER BY id LIMIT`` rather than scan in parallel, so
it is split the same way. SQLite is not split (its search folds each value in Python, one
thread at a time).

The ranges' results are taken in order, and no further range is started once those so far are
enough (a full page, a count at its cap): a common word stops within the first ranges, as one
statement would have stopped, having read at most the :data:`PARTS` ranges then running. A
range's rows are the rows of the whole statement within it, so a page's rows are the first
``limit`` of the ranges' in order, and a capped count the sum of the ranges' capped counts,
capped. Each range is read in its own transaction: a record written during a search may be seen
by one range and not by another, as a page read a moment later would differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from imagear.db.engine import MYSQL, POSTGRES, family

PIECES = 16
"""Ranges the ids are cut into (each a sixteenth: the most read before a search may stop)."""
PARTS = 4
"""Ranges read at once, each by its own connection and thread (a database server has at least
two cores; four ranges on two cores take as long as two)."""
AT_ONCE = 2
"""Searches of one process split at once (each takes :data:`PARTS` more connections of its
engine's pool: SQLAlchemy's default holds 15); another one meanwhile reads one range after
the other on its own connection."""
SMALLEST = 100_000
"""Ids spanned below which a search is read whole (a range's statement costs more than the
scan it saves)."""

T = TypeVar("T")
_SLOTS = threading.BoundedSemaphore(AT_ONCE)
Part = tuple[int, int]  # ids from, to (both included)


def wanted(dialect_name: str, search_indexed: bool) -> bool:
    """Is a search on this database a scan worth splitting (see the module)?"""
    kind = family(dialect_name)
    return kind == MYSQL or (kind == POSTGRES and not search_indexed)


def ends(conn: Connection, key: ColumnElement[int]) -> Part | None:
    """The least and the greatest of ``key`` (a primary key: two index ends); None: no rows,
    or they span under :data:`SMALLEST` ids (not worth splitting)."""
    least, greatest = conn.execute(select(func.min(key), func.max(key))).one()
    if least is None or int(greatest) - int(least) + 1 < SMALLEST:
        return None
    return int(least), int(greatest)


def plan(
    span: Part | None,
    after: int | None = None,
    before: int | None = None,
    descending: bool = False,
) -> list[Part]:
    """The ranges of ids in ``span`` after ``after`` and before ``before``, in the order a scan
    reads them (``descending``: from the greatest): :data:`PIECES` equal ranges; one range where
    they span under :data:`SMALLEST` ids, none where no id is left."""
    if span is None:
        return []
    low = span[0] if after is None else max(span[0], after + 1)
    high = span[1] if before is None else min(span[1], before - 1)
    count = high - low + 1
    if count <= 0:
        return []
    if count < SMALLEST:
        return [(low, high)]
    sizes = [count * (i + 1) // PIECES - count * i // PIECES for i in range(PIECES)]
    ranges, at = [], 0
    for size in filter(None, sizes):
        if descending:
            ranges.append((high - at - size + 1, high - at))
        else:
            ranges.append((low + at, low + at + size - 1))
        at += size
    return ranges


def restrict(statement: Select[Any], key: ColumnElement[int], part: Part) -> Select[Any]:
    """``statement`` kept to the ids of ``part``."""
    return statement.where(key >= part[0], key <= part[1])


def read(
    engine: Engine,
    conn: Connection,
    ranges: Sequence[Part],
    work: Callable[[Part], Callable[[Connection], T]],
    enough: Callable[[list[T]], bool],
) -> list[T]:
    """``work`` of each range, in order, until the results so far are ``enough``
    (:func:`each`). A database error in any is raised here."""
    return each(engine, conn, [work(part) for part in ranges], enough)


def each(
    engine: Engine,
    conn: Connection,
    work: Sequence[Callable[[Connection], T]],
    enough: Callable[[list[T]], bool] = lambda _found: False,
) -> list[T]:
    """The results of ``work``, in order, until those so far are ``enough``: :data:`PARTS` of
    them at a time, each on a thread with its own connection of ``engine`` that takes the next
    as it finishes one; none is started once the results before it are enough (those running
    then finish, their results dropped). One alone, or where :data:`AT_ONCE` searches of this
    process are already split, one after the other on ``conn``: a search holding its
    connection never waits for more of a pool that others hold. The first database error of
    any is raised here, once every thread has stopped."""
    if len(work) > 1 and _SLOTS.acquire(blocking=False):
        try:
            return _Queue(engine, work, enough).run()
        finally:
            _SLOTS.release()
    found: list[T] = []
    for one in work:
        found.append(one(conn))
        if enough(found):
            break
    return found


class _Queue(Generic[T]):
    """:func:`each` with threads: the next work to start, the results in, the first error."""

    def __init__(
        self,
        engine: Engine,
        work: Sequence[Callable[[Connection], T]],
        enough: Callable[[list[T]], bool],
    ) -> None:
        self.engine, self.work, self.enough = engine, work, enough
        self.cond = threading.Condition()
        self.started = 0
        self.done: dict[int, T] = {}
        self.error: BaseException | None = None
        self.stop = False

    def _next(self) -> int | None:
        with self.cond:
            if self.stop or self.error is not None or self.started >= len(self.work):
                return None
            self.started += 1
            return self.started - 1

    def _worker(self) -> None:
        try:
            with self.engine.connect() as own:
                while (index := self._next()) is not None:
                    result = self.work[index](own)
                    with self.cond:
                        self.done[index] = result
                        self.cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - raised by run(), in the caller's thread
            with self.cond:
                self.error = self.error or exc
                self.cond.notify_all()

    def run(self) -> list[T]:
        threads = min(PARTS, len(self.work))
        with ThreadPoolExecutor(threads, thread_name_prefix="imagear-search") as pool:
            running = [pool.submit(self._worker) for _ in range(threads)]
            try:
                found = self._collect(running)
            finally:
                with self.cond:  # no range started after this; those running finish
                    self.stop = True
        if self.error is not None:
            raise self.error
        return found

    def _collect(self, running: list[Future[None]]) -> list[T]:
        """The results in order, until enough, all in, or an error."""
        found: list[T] = []
        with self.cond:
            while len(found) < len(self.work) and self.error is None:
                if len(found) in self.done:
                    found.append(self.done.pop(len(found)))
                    if self.enough(found):
                        break
                elif all(r.done() for r in running):
                    break  # (every thread ended: an error is set)
                else:
                    self.cond.wait(0.5)
        return found


__all__ = [
    "AT_ONCE",
    "PARTS",
    "PIECES",
    "SMALLEST",
    "each",
    "ends",
    "plan",
    "read",
    "restrict",
    "wanted",
]
