"""A search of the records read as a few ranges of their ids at once, each on its own
connection, where the search is a scan of every title.

MariaDB and MySQL run one statement on one thread; a search of a title's substring has no index
there, so it reads every record (a million: 0.3-0.5 s on one core). Split into :data:`PARTS`
ranges of the primary key, each read by its own connection on its own thread, the same scan
takes the time of its largest part. PostgreSQL without imagear's trigram indexes (no
``pg_trgm``) scans too, and its planner walks the primary key for an ``ORDER BY id LIMIT``
rather than scan in parallel, so it is split the same way. SQLite is not split (its search
folds each value in Python, one thread at a time).

The first eighth of the ids (in the order the page reads them) is read alone: a common word
fills its page or its count there, as one statement would have stopped. The rest are
:data:`PARTS` equal ranges read at once, so a part's rows are the rows of the whole statement
within it: the page's rows are the first ``limit`` of the parts' in order, and the capped
count the sum of the parts' capped counts, capped. Each part reads in its own transaction: a
record written during a search may be seen by one part and not by another, as a page read a
moment later would differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from imagear.db.engine import MYSQL, POSTGRES, family

PARTS = 4
"""Ranges read at once after the first (a database server has at least two cores; four parts
on two cores take as long as two)."""
FIRST = 8
"""The first range is this fraction (1/8) of the ids, read alone: a search whose page fills
there (a common word) stops as soon as one thread would have."""
AT_ONCE = 2
"""Searches of one process split at once (each takes :data:`PARTS` more connections of its
engine's pool: SQLAlchemy's default holds 15); another one meanwhile reads one range after
the other on its own connection."""
SMALLEST = 100_000
"""Ids spanned below which a search is read whole (a part's connection and thread cost more
than the scan it saves)."""

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
    reads them (``descending``: from the greatest): the first :data:`FIRST` of them, then
    :data:`PARTS` equal ranges of the rest; one range where they span under
    :data:`SMALLEST` ids, none where no id is left."""
    if span is None:
        return []
    low = span[0] if after is None else max(span[0], after + 1)
    high = span[1] if before is None else min(span[1], before - 1)
    count = high - low + 1
    if count <= 0:
        return []
    if count < SMALLEST:
        return [(low, high)]
    first = count // FIRST
    rest = count - first
    sizes = [first] + [rest * (i + 1) // PARTS - rest * i // PARTS for i in range(PARTS)]
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
    """``work`` of each range, in order, until the results so far are ``enough``: the first on
    ``conn``, then the others at once (:func:`each`). A database error in any is raised
    here."""
    if not ranges:
        return []
    found = [work(ranges[0])(conn)]
    if enough(found):
        return found
    return found + each(
        engine, conn, [work(part) for part in ranges[1:]], lambda more: enough(found + more)
    )


def each(
    engine: Engine,
    conn: Connection,
    work: Sequence[Callable[[Connection], T]],
    enough: Callable[[list[T]], bool] = lambda _found: False,
) -> list[T]:
    """Each of ``work`` with its own connection of ``engine``, all at once; their results in
    order. Where :data:`AT_ONCE` searches of this process are already split, one after the
    other on ``conn``, until the results so far are ``enough`` (as one statement reads): a
    search holding its connection never waits for more of a pool that others hold."""
    if not work:
        return []
    if not _SLOTS.acquire(blocking=False):
        found: list[T] = []
        for one in work:
            found.append(one(conn))
            if enough(found):
                break
        return found

    def run(one: Callable[[Connection], T]) -> T:
        with engine.connect() as own:
            return one(own)

    try:
        with ThreadPoolExecutor(len(work), thread_name_prefix="imagear-search") as pool:
            return list(pool.map(run, work))
    finally:
        _SLOTS.release()


__all__ = [
    "AT_ONCE",
    "FIRST",
    "PARTS",
    "SMALLEST",
    "each",
    "ends",
    "plan",
    "read",
    "restrict",
    "wanted",
]
