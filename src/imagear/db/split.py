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
from itertools import pairwise
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from imagear.db.engine import MYSQL, POSTGRES, family

PIECES = 16
"""The largest range is this fraction (1/16) of the ids."""
SMALLER = 4
"""The first range is :data:`SMALLER` times smaller again (1/64), and each next one as large as
all before it until it reaches 1/16 (1/64, 1/64, 1/32, 1/16, 1/16...): a common word, whose page
and count fill within the first ranges, has little else read beside them meanwhile."""
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
    reads them (``descending``: from the greatest): small ones first, then sixteenths (see
    :data:`SMALLER`); one range where they span under :data:`SMALLEST` ids, none where no id is
    left."""
    if span is None:
        return []
    low = span[0] if after is None else max(span[0], after + 1)
    high = span[1] if before is None else min(span[1], before - 1)
    count = high - low + 1
    if count <= 0:
        return []
    if count < SMALLEST:
        return [(low, high)]
    whole, ends = PIECES * SMALLER, [0]  # in 1/64ths of the ids
    while ends[-1] < whole:
        ends.append(ends[-1] + min(max(1, ends[-1]), SMALLER, whole - ends[-1]))
    sizes = [count * b // whole - count * a // whole for a, b in pairwise(ends)]
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
    as it finishes one; none is started once the results before it are enough, and those then
    running are not waited for (they finish on their own; their results are dropped). One
    alone, or where :data:`AT_ONCE` searches of this process are already split (a search's
    threads count until the last has finished), one after the other on ``conn``: a search
    holding its connection never waits for more of a pool that others hold. A database error
    in a range whose result is needed is raised here, once every thread has stopped (one in a
    range read alongside after the results were enough is dropped with its result)."""
    if len(work) > 1 and _SLOTS.acquire(blocking=False):
        return _Queue(engine, work, enough).run()  # (it releases the slot)
    found: list[T] = []
    for one in work:
        found.append(one(conn))
        if enough(found):
            break
    return found


class _Queue(Generic[T]):
    """:func:`each` with threads: the next work to start, the results in, the first error,
    the threads still running (the last to end gives back the slot :func:`each` took)."""

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
        self.failed_at: int | None = None  # the first range whose result will not come
        self.stop = False
        self.running = 0

    def _next(self) -> int | None:
        with self.cond:
            if self.stop or self.error is not None or self.started >= len(self.work):
                return None
            self.started += 1
            return self.started - 1

    def _worker(self) -> None:
        index: int | None = None
        try:
            with self.engine.connect() as own:
                while (index := self._next()) is not None:
                    result = self.work[index](own)
                    with self.cond:
                        self.done[index] = result
                        self.cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - raised by run(), in the caller's thread
            with self.cond:  # (no connection: as if the next range to start had failed)
                at = self.started if index is None else index
                if self.failed_at is None or at < self.failed_at:
                    self.error, self.failed_at = exc, at
        finally:
            self._ended()

    def _ended(self) -> None:
        with self.cond:
            self.running -= 1
            last = self.running == 0
            self.cond.notify_all()
        if last:
            _SLOTS.release()

    def run(self) -> list[T]:
        count = min(PARTS, len(self.work))
        with self.cond:
            self.running = count
        started = 0
        try:
            for _ in range(count):
                threading.Thread(target=self._worker, name="imagear-search", daemon=True).start()
                started += 1
            found, error = self._collect()
        finally:
            with self.cond:  # no range started after this; those running finish on their own
                self.stop = True
            for _ in range(count - started):  # (a thread that could not start)
                self._ended()
        if error is not None:
            with self.cond:  # every thread stopped before the error is raised
                self.cond.wait_for(lambda: self.running == 0)
            raise error
        return found

    def _collect(self) -> tuple[list[T], BaseException | None]:
        """The results in order until enough or all in; or the error that stopped them (one
        in a range still running once the results were enough does not matter)."""
        found: list[T] = []
        with self.cond:
            while len(found) < len(self.work):
                if len(found) in self.done:
                    found.append(self.done.pop(len(found)))
                    if self.enough(found):
                        break
                elif self.failed_at is not None and len(found) >= self.failed_at:
                    return found, self.error
                elif self.running == 0:
                    return found, self.error or RuntimeError("A search range ended unread.")
                else:
                    self.cond.wait()
        return found, None


__all__ = [
    "AT_ONCE",
    "PARTS",
    "PIECES",
    "SMALLER",
    "SMALLEST",
    "each",
    "ends",
    "plan",
    "read",
    "restrict",
    "wanted",
]
