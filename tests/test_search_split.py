"""The console's search read as ranges of ids at once (issue 27, ``db/split.py``): where a search
is a scan of every title (MariaDB; PostgreSQL without ``pg_trgm``), its ranges are read in
order, a few at once, each on its own connection, none started once those before are enough,
and every page and total is the one a single statement gives; a full first page of a search
that scans counts only the matches after its last id (not every match again)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.exc import OperationalError

from heratio_fixture import (  # noqa: F401
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from imagear.db import browse, flavour, split
from imagear.db.schema import RECORDS

pytestmark = pytest.mark.mysql  # SQLite, PostgreSQL and MariaDB

WORDS = ("Harbour", "Église", "Castle", "Mill", "Bridge", "Eglise")


def fill(engine: Any, n: int) -> list[int]:
    """``n`` records titled from :data:`WORDS` in turn (Église and Eglise both every sixth)."""
    rows = [
        {"identifier": f"REC-{i:04d}", "title": f"{WORDS[i % len(WORDS)]} {i}"} for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(RECORDS), rows)
        return [
            int(oid)
            for oid in conn.execute(text("SELECT id FROM information_object ORDER BY id")).scalars()
        ]


def test_the_ranges_cover_every_id_once_in_the_order_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "SMALLEST", 10)
    for low, high in ((1, 10), (1, 11), (5, 1_000_004), (7, 100), (1, 37)):
        for after, before in ((None, None), (low + 3, None), (None, high - 2), (low + 1, high - 1)):
            ascending = split.plan((low, high), after, before)
            ids = [i for a, b in ascending for i in range(a, b + 1)]
            first = low if after is None else after + 1
            last = high if before is None else before - 1
            assert ids == list(range(first, last + 1))
            if len(ids) >= split.SMALLEST:  # 1/64, 1/64, 1/32, then sixteenths
                sizes = [b - a + 1 for a, b in ascending]
                whole = split.PIECES * split.SMALLER
                if len(ids) >= whole:
                    assert abs(sizes[0] - len(ids) / whole) <= 1
                    assert abs(max(sizes) - len(ids) / split.PIECES) <= 1
                assert all(b >= a - 1 for a, b in zip(sizes, sizes[1:], strict=False))
            else:
                assert len(ascending) == 1
            descending = split.plan((low, high), after, before, descending=True)
            ids = [i for a, b in descending for i in range(b, a - 1, -1)]
            assert ids == list(range(last, first - 1, -1))
    assert split.plan(None) == [] and split.plan((5, 9), after=9) == []
    assert split.plan((1, 9)) == [(1, 9)]  # under SMALLEST ids: one range


def only(db_backend: str, wanted: str) -> None:
    """Skip but on ``wanted`` (the module runs every test on SQLite, PostgreSQL and MariaDB)."""
    if db_backend != wanted:
        pytest.skip(f"{wanted} only")


def _statements(engine: Any) -> tuple[list[str], set[int], Any]:
    seen: list[str] = []
    threads: set[int] = set()

    def spy(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)
        threads.add(threading.get_ident())

    event.listen(engine, "before_cursor_execute", spy)
    return seen, threads, lambda: event.remove(engine, "before_cursor_execute", spy)


@pytest.mark.all_databases
def test_a_split_search_gives_every_page_a_single_statement_gives(
    app: Any, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB splits; SQLite and PostgreSQL with imagear's trigram indexes do not."""
    ids = fill(app.engine, 240)
    _same_pages(app, ids, monkeypatch, db_backend == "mysql")


@pytest.mark.postgres
def test_postgres_without_pg_trgm_splits_its_search(
    app: Any, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(db_backend, "postgresql")
    ids = fill(app.engine, 240)
    with app.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_information_object_title_fold"))
        conn.execute(text("DROP INDEX ix_information_object_identifier_fold"))
    flavour.forget(app.engine)
    _same_pages(app, ids, monkeypatch, True)


def _same_pages(
    app: Any, ids: list[int], monkeypatch: pytest.MonkeyPatch, splits: bool, smallest: int = 20
) -> None:
    whole = {}
    monkeypatch.setattr(split, "SMALLEST", 10**9)  # every search read by one statement
    cases: list[tuple[str, dict[str, Any]]] = []
    for query in ("eglise", "harbour 2", "REC-01", "Mill 239", "no such title", "e"):
        cases += [(query, {}), (query, {"limit": 200})]
        cases += [(query, {"after": ids[k * len(ids) // 240]}) for k in (0, 5, 100, 230)]
        cases += [(query, {"before": ids[k * len(ids) // 240]}) for k in (239, 150, 20)]
        cases += [(query, {"offset": 24})]
    for query, kwargs in cases:
        whole[query, str(kwargs)] = browse.page(app.engine, query, **kwargs)
    monkeypatch.setattr(split, "SMALLEST", smallest)  # now split into PIECES ranges
    seen, threads, stop = _statements(app.engine)
    try:
        for query, kwargs in cases:
            rows, total = browse.page(app.engine, query, **kwargs)
            expected_rows, expected_total = whole[query, str(kwargs)]
            assert [r.id for r in rows] == [r.id for r in expected_rows], (query, kwargs)
            assert total == expected_total, (query, kwargs)
            assert [(r.identifier, r.title) for r in rows] == [
                (r.identifier, r.title) for r in expected_rows
            ]
    finally:
        stop()
    ranged = [s for s in seen if re.search(r"information_object\.id <= ", s)]
    if splits:
        assert ranged and len(threads) > 1
    else:  # SQLite folds in Python; PostgreSQL's trigram indexes answer at once
        assert ranged == [] and len(threads) == 1
    eglise = sum(1 for i in range(len(ids)) if i % len(WORDS) in (1, 5))  # Église, Eglise
    assert browse.page(app.engine, "eglise")[1] == eglise


@pytest.mark.all_databases
def test_a_full_first_page_counts_only_the_matches_after_it(app: Any, db_backend: str) -> None:
    """More matches than fit the first page of a search that scans: the page holds the first of
    them, so only those after its last id are counted; a count of every match read every title a second time (at a
    million records, a search with a hundred matches took two scans)."""
    ids = fill(app.engine, 60)
    browse.page(app.engine)  # the database's kind found out (its own statements)
    seen, _threads, stop = _statements(app.engine)
    try:
        rows, total = browse.page(app.engine, "harbour", limit=4)
    finally:
        stop()
    assert total == 10 and [r.id for r in rows] == ids[0:24:6]
    assert [r.title for r in rows] == ["Harbour 0", "Harbour 6", "Harbour 12", "Harbour 18"]
    counts = [s for s in seen if re.search(r"\bcount\(", s, re.IGNORECASE)]
    after = re.compile(r"information_object\.id > ")
    if flavour.of(app.engine).search_indexed:  # PostgreSQL's trigram indexes count them all
        assert len(counts) == 1 and not after.search(counts[0])
    else:  # a scan: only after the page's last
        assert len(counts) == 1 and after.search(counts[0])
    for limit in (1, 9, 10, 11, 60):  # the total is the same however full the page
        assert browse.page(app.engine, "harbour", limit=limit)[1] == 10


@pytest.mark.all_databases
@pytest.mark.parametrize("smallest", [split.SMALLEST, 5])
def test_a_full_first_page_past_the_cap(
    app: Any, monkeypatch: pytest.MonkeyPatch, smallest: int
) -> None:
    """The total, at most COUNT_CAP + 1 ("more than"), read whole and split (MariaDB)."""
    fill(app.engine, 30)
    monkeypatch.setattr(browse, "COUNT_CAP", 7)
    monkeypatch.setattr(split, "SMALLEST", smallest)
    assert browse.page(app.engine, "REC", limit=4)[1] == 8  # more than 7
    assert browse.page(app.engine, "REC", limit=8)[1] == 8
    assert browse.page(app.engine, "REC", limit=20)[1] == 8
    assert browse.page(app.engine, "REC-000", limit=4)[1] == 8  # REC-0000 to REC-0009: 10
    assert browse.page(app.engine, "REC-002", limit=4)[1] == 8  # REC-0020 to REC-0029: 10
    assert browse.page(app.engine, "Mill", limit=4)[1] == 5  # 3, 9, 15, 21, 27
    assert browse.page(app.engine, "Mill", limit=4, after=3)[1] == 5


@pytest.mark.mysql
def test_a_part_that_fails_says_what_to_do(
    app: Any, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error in a range read on another thread reaches the page as the one error a
    console shows (StorageError, with what to check), not a traceback from a thread."""
    from imagear.errors import StorageError

    only(db_backend, "mysql")
    fill(app.engine, 60)
    monkeypatch.setattr(split, "SMALLEST", 10)
    calls = {"n": 0}
    real = split.restrict

    def failing(statement: Any, key: Any, part: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # a range read on a thread of its own
            return statement.where(text("no_such_column = 1"))
        return real(statement, key, part)

    monkeypatch.setattr(split, "restrict", failing)
    with pytest.raises(StorageError, match="Reading the records failed: the column"):
        browse.page(app.engine, "eglise")


def test_each_runs_every_work_on_its_own_connection_and_raises_its_error(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    threads: list[int] = []

    def one(value: int) -> Any:
        def run(conn: Any) -> int:
            threads.append(threading.get_ident())
            return int(conn.execute(text(f"SELECT {value}")).scalar_one())

        return run

    with engine.connect() as conn:
        assert split.each(engine, conn, [one(i) for i in range(4)]) == [0, 1, 2, 3]
        assert split.each(engine, conn, []) == []
        assert threading.get_ident() not in threads

        def broken(conn: Any) -> int:
            raise OperationalError("SELECT", {}, Exception("gone"))

        with pytest.raises(OperationalError):
            split.each(engine, conn, [one(1), broken])
    engine.dispose()


def test_each_takes_results_in_order_and_starts_none_once_enough(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PARTS at a time, in order, whatever order they finish in; once the results so far are
    enough, no further work starts (a common word stops as one statement would)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setattr(split, "PARTS", 2)
    started: list[int] = []
    gate = threading.Event()

    def one(value: int) -> Any:
        def run(_conn: Any) -> int:
            started.append(value)
            if value == 0:  # the first finishes last of those running
                gate.wait(5)
            else:
                gate.set()
            return value

        return run

    with engine.connect() as conn:
        assert split.each(engine, conn, [one(i) for i in range(8)]) == list(range(8))
        assert started[0] in (0, 1) and sorted(started) == list(range(8))

        release = threading.Event()

        def held(value: int) -> Any:
            def run(_conn: Any) -> int:
                started.append(value)
                if value:  # the first is enough at once; the others wait to be let go
                    release.wait(5)
                return value

            return run

        started.clear()
        found = split.each(engine, conn, [held(i) for i in range(8)], lambda f: len(f) >= 1)
        assert found == [0]
        # returned while those running were still held: not waiting for them
        assert any(t.name == "imagear-search" for t in threading.enumerate())
        release.set()
        _searches_ended()
        # those running when it was enough (and one taken in the instant before) finished;
        # none was started after
        assert sorted(started) == list(range(len(started))) and len(started) <= split.PARTS + 1
    engine.dispose()


def _searches_ended() -> None:
    """Wait (at most 5 s) until no thread of a split search runs."""
    ends = time.monotonic() + 5
    while any(t.name == "imagear-search" for t in threading.enumerate()):
        assert time.monotonic() < ends
        time.sleep(0.01)


def test_each_raises_the_first_error_and_starts_nothing_after_it(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    started: list[int] = []

    def one(value: int) -> Any:
        def run(_conn: Any) -> int:
            started.append(value)
            if value == 1:
                raise OperationalError("SELECT", {}, Exception("gone"))
            return value

        return run

    with engine.connect() as conn, pytest.raises(OperationalError, match="gone"):
        split.each(engine, conn, [one(i) for i in range(40)])
    # raised once every thread had stopped, none started after the error
    assert len(started) < 40
    assert not any(t.name == "imagear-search" for t in threading.enumerate())
    engine.dispose()


def test_an_error_in_a_range_not_needed_is_not_raised(tmp_path: Any) -> None:
    """The results before it were enough (a range read alongside, whose result was never
    needed, failed meanwhile): the search has its page."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")

    def one(value: int) -> Any:
        def run(_conn: Any) -> int:
            if value >= 2:  # started after 0 and 1, failing before they are done
                raise OperationalError("SELECT", {}, Exception("gone"))
            time.sleep(0.05)
            return value

        return run

    with engine.connect() as conn:
        assert split.each(engine, conn, [one(i) for i in range(6)], lambda f: len(f) >= 2) == [0, 1]
        with pytest.raises(OperationalError, match="gone"):  # needed: raised
            split.each(engine, conn, [one(i) for i in range(6)], lambda f: len(f) >= 3)
    _searches_ended()
    engine.dispose()


def test_searches_past_the_slots_read_their_ranges_in_turn(tmp_path: Any) -> None:
    """With AT_ONCE searches already split, another reads its ranges one after the other on
    its own connection, stopping when it has enough, and takes no connection from the pool
    (holding one while waiting for others could wait on every other search)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    threads: list[int] = []
    connections: list[Any] = []

    def one(value: int) -> Any:
        def run(conn: Any) -> int:
            threads.append(threading.get_ident())
            connections.append(conn)
            return value

        return run

    with _every_slot_taken(), engine.connect() as conn:
        assert split.each(engine, conn, [one(i) for i in range(4)]) == [0, 1, 2, 3]
        enough = split.each(engine, conn, [one(5)] * 4, lambda found: sum(found) >= 10)
        assert enough == [5, 5]  # stopped when enough, as one statement would
        assert set(threads) == {threading.get_ident()}
        assert all(c is conn for c in connections)
    engine.dispose()


@contextmanager
def _every_slot_taken() -> Iterator[None]:
    """As while AT_ONCE other searches of this process are split (taken once the threads of
    the searches before have ended)."""
    taken = [split._SLOTS.acquire(timeout=5) for _ in range(split.AT_ONCE)]
    try:
        assert all(taken)
        yield
    finally:
        for _ in range(sum(taken)):
            split._SLOTS.release()


@pytest.mark.mysql
def test_a_search_split_while_others_are_gives_the_same_page(
    app: Any, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(db_backend, "mysql")
    fill(app.engine, 240)
    monkeypatch.setattr(split, "SMALLEST", 20)
    queries = ("eglise", "Mill 2", "REC-02", "zz")
    alone = [browse.page(app.engine, q, limit=5) for q in queries]
    with _every_slot_taken():
        seen, threads, stop = _statements(app.engine)
        try:
            others = [browse.page(app.engine, q, limit=5) for q in queries]
        finally:
            stop()
    assert [([r.id for r in rows], n) for rows, n in others] == [
        ([r.id for r in rows], n) for rows, n in alone
    ]
    assert len(threads) == 1 and [s for s in seen if "information_object.id <= " in s]


@pytest.mark.mysql
def test_a_split_search_on_an_atom_database(
    atom_db: Any, heratio_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AtoM's tables (ids shared with actors and terms, titles in any culture), the ranges
    of ids give the pages one statement gives; the root description is never listed."""
    from imagear.app import App

    ids = []
    for i in range(40):
        culture = ("en", "fr", "es")[i % 3]
        title = f"{WORDS[i % len(WORDS)]} {i}"
        ids.append(
            atom_db.add_record({culture: title}, identifier=f"A-{i}", source_culture=culture)[0]
        )
    app = App.load()
    try:
        _same_pages(app, ids, monkeypatch, True, smallest=5)
    finally:
        app.close()
