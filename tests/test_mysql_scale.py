"""MariaDB/MySQL at scale (issue 27): what keeps a claim, the dry run and the console's pages
from reading (and locking) every record, checked on a real MariaDB database made as AtoM's are
(utf8mb4_unicode_ci, the conftest's ``mysql_database``) with a few thousand records.

The figures at a million records are bench/bench_scale.py's (docs/performance.md); these tests
check the plans that make them: how many rows a claim locks (InnoDB's own count), and that the
statements walk an index instead of sorting or building a temporary table (EXPLAIN)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from imagear.app import App
from imagear.db.claims import ClaimStore, new_runner_id
from imagear.db.jobs import Selection, plan

pytestmark = pytest.mark.mysql

RECORDS = 3000


@pytest.fixture
def big(
    monkeypatch: pytest.MonkeyPatch, mysql_url: str, roots: dict[str, Path], tmp_path: Path
) -> Iterator[App]:
    """imagear's own tables on a fresh MariaDB database with RECORDS records, each with a
    master image, made by the database (its sequence table) as the benchmark makes them."""
    for key, value in {
        "IMAGEAR_DATABASE_URL": mysql_url,
        "IMAGEAR_STORAGE_ROOT": str(roots["storage_root"]),
        "IMAGEAR_IMAGES_ROOT": str(roots["images_root"]),
        "IMAGEAR_MODELS_DIR": str(roots["models_dir"]),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }.items():
        monkeypatch.setenv(key, value)
    app = App.load()
    with app.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO information_object (id, identifier, title) "
                f"SELECT seq, CONCAT('R', seq), CONCAT('Record ', seq) FROM seq_1_to_{RECORDS}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO digital_object (object_id, usage_id, mime_type, name, path) "
                "SELECT seq, 140, 'image/jpeg', CONCAT('r', seq, '.jpg'), '/u/' "
                f"FROM seq_1_to_{RECORDS}"
            )
        )
    yield app
    app.close()


def rows_locked(conn: object) -> int:
    """InnoDB's count of the rows the current transaction of ``conn`` holds locks on."""
    query = text(
        "SELECT trx_rows_locked FROM information_schema.innodb_trx "
        "WHERE trx_mysql_thread_id = CONNECTION_ID()"
    )
    return int(conn.execute(query).scalar_one())  # type: ignore[attr-defined]


def test_a_claim_locks_only_the_rows_it_takes(big: App) -> None:
    store = ClaimStore(big.engine, new_runner_id(), lease_secs=600, max_attempts=5)
    sel = Selection()
    store.prepare(sel)
    started = store.db_now()
    with store.transaction("claim records") as conn:
        claims = store.claim(10, sel, None, started, conn=conn)
        locked = rows_locked(conn)
    assert [c.object_id for c in claims] == list(range(1, 11))
    # the job rows taken, in the index and the table, and the rows their checks read: not
    # every pending row (a sort of all of them locked 2 x RECORDS)
    assert locked <= 60, locked


def test_the_connection_compares_in_the_database_collation(big: App) -> None:
    with big.engine.connect() as conn:
        row = conn.execute(text("SELECT @@collation_connection, @@collation_database")).one()
    assert row[0] == row[1] == "utf8mb4_unicode_ci"


def explained(app: App, run: Callable[[], object], table: str) -> list[dict[str, object]]:
    """EXPLAIN of the statements ``run`` sends that read ``table``, as the server plans them."""
    sent: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            sent.append((statement, params))

    event.listen(app.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(app.engine, "before_cursor_execute", capture)
    plans = []
    with app.engine.connect() as conn:
        for statement, params in sent:
            cursor = conn.connection.cursor()
            cursor.execute("EXPLAIN " + statement, params)
            names = [d[0] for d in cursor.description]
            plans += [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert plans, f"no statement read {table}"
    return plans


def test_the_dry_run_listing_reads_records_in_order_without_a_temporary_table(big: App) -> None:
    plans = explained(big, lambda: plan(big.engine, Selection(), 10), "information_object")
    assert not [p for p in plans if p["select_type"] == "MATERIALIZED"], plans
    assert all(p["select_type"] in ("PRIMARY", "SIMPLE", "DEPENDENT SUBQUERY") for p in plans)


@pytest.mark.parametrize("show", ["failed", "refused"])
def test_the_failed_and_refused_filters_start_from_the_few_failures(big: App, show: str) -> None:
    """The grid's failed / refused pages read the job rows with an error (and the trail's
    refusals) by index and join them to the records: a test per record walked every record
    (2 s at a million)."""
    from imagear.db import browse

    ClaimStore(big.engine, new_runner_id(), lease_secs=600, max_attempts=5).prepare(Selection())
    with big.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE image_ar_job SET status = 'failed', last_error = 'boom', "
                "last_error_kind = CASE WHEN object_id % 2 = 0 THEN 'quality' ELSE 'network' END "
                "WHERE object_id % 500 IN (7, 8)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO imagear_audit (at, user_name, role, action, object_id) "
                "VALUES (UTC_TIMESTAMP(), 'cli', 'admin', 'refused', 1234)"
            )
        )
    rows, total = browse.page(big.engine, show=show)
    expected = [7, 507, 1007] if show == "failed" else [8, 508, 1008]
    assert [r.id for r in rows][:3] == expected
    assert total == (6 if show == "failed" else 7)  # 1234: refused by a front end
    plans = explained(big, lambda: browse.page(big.engine, show=show), "information_object")
    walks = [
        p for p in plans if p["table"] == "information_object" and p["type"] in ("index", "ALL")
    ]
    assert not walks, plans
