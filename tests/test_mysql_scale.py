"""MariaDB/MySQL at scale (issue 27): what keeps a claim, the dry run and the console's pages
from reading (and locking) every record, checked on a real MariaDB database made as AtoM's are
(utf8mb4_unicode_ci, the conftest's ``mysql_database``) with a few thousand records.

The figures at a million records are bench/bench_scale.py's (docs/performance.md); these tests
check the plans that make them: how many rows a claim locks (InnoDB's own count), and that the
statements walk an index instead of sorting or building a temporary table (EXPLAIN)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from imagear.app import App
from imagear.db.claims import ClaimStore, new_runner_id
from imagear.db.jobs import Selection
from imagear.db.runplan import plan

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


@pytest.mark.parametrize("kind", ["missing", "all", "all since an hour ago"])
def test_the_runs_count_reads_the_master_images_once_and_agrees_with_the_plan(
    big: App, kind: str
) -> None:
    """The run's count on MariaDB is the records covered, driven from the master images (no
    temporary table of all of them, then a lookup per record: 5 s at a million), less those
    whose job row holds them back, read from the job rows (no lookup of every record's job row:
    4.5 -> 2.8 s at a million); it counts what the plan lists over every kind of record: with a
    clip, with an empty clip row, with two masters, with only a derivative or a non-image file,
    none at all, an approved clip, job rows of every state (a claim with no expiry too)."""
    from imagear.db.runplan import count

    since = datetime.now(UTC) - timedelta(hours=1) if "since" in kind else None
    sel = Selection(only_missing=kind == "missing", since=since)
    ClaimStore(big.engine, new_runner_id(), lease_secs=600, max_attempts=5).prepare(sel)
    statements = [
        # clips (one row without a video: no clip), an approval of one
        "INSERT INTO object_image_ar (object_id, mp4_filename, mp4_path, created_at, updated_at) "
        "SELECT seq, 'a.mp4', IF(seq % 2, CONCAT('/ar/', seq, '.mp4'), ''), UTC_TIMESTAMP(), "
        "UTC_TIMESTAMP() FROM seq_10_to_60",
        "INSERT INTO imagear_review (object_id, state, reviewed_at, clip_path) "
        "VALUES (11, 'approved', UTC_TIMESTAMP(), '/ar/11.mp4')",
        # a second master, a derivative only, a non-image only, no file at all
        "INSERT INTO digital_object (object_id, usage_id, mime_type, name, path) "
        "SELECT seq, 140, 'image/png', 'b.png', '/u/' FROM seq_100_to_120",
        "UPDATE digital_object SET parent_id = 1 WHERE object_id BETWEEN 200 AND 210",
        "UPDATE digital_object SET mime_type = 'application/pdf' WHERE object_id BETWEEN 300 "
        "AND 305",
        "DELETE FROM digital_object WHERE object_id BETWEEN 400 AND 404",
        # job rows: retry later, running (held / expired), given up, done, failed and due
        "UPDATE image_ar_job SET status = 'failed', next_attempt_at = UTC_TIMESTAMP() + "
        "INTERVAL 1 HOUR WHERE object_id BETWEEN 500 AND 520",
        "UPDATE image_ar_job SET status = 'running', claim_expires_at = UTC_TIMESTAMP() + "
        "INTERVAL 1 HOUR WHERE object_id BETWEEN 600 AND 610",
        "UPDATE image_ar_job SET status = 'running', claim_expires_at = UTC_TIMESTAMP() - "
        "INTERVAL 1 HOUR WHERE object_id BETWEEN 611 AND 615",
        "UPDATE image_ar_job SET status = 'running', claim_expires_at = NULL "
        "WHERE object_id BETWEEN 616 AND 617",
        "UPDATE image_ar_job SET status = 'given_up' WHERE object_id BETWEEN 700 AND 707",
        "UPDATE image_ar_job SET status = 'done', finished_at = UTC_TIMESTAMP() "
        "WHERE object_id BETWEEN 800 AND 830",
        "UPDATE image_ar_job SET status = 'failed', next_attempt_at = UTC_TIMESTAMP() - "
        "INTERVAL 1 HOUR WHERE object_id BETWEEN 900 AND 903",
        "DELETE FROM image_ar_job WHERE object_id BETWEEN 1000 AND 1009",
    ]
    with big.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    listed = plan(big.engine, sel, None)
    assert len(listed) < RECORDS - 50  # the states above took some out
    assert count(big.engine, sel, None) == len(listed)
    assert count(big.engine, sel, 100) == 100
    plans = explained(big, lambda: count(big.engine, sel, None), "digital_object")
    assert not [
        p for p in plans if p["select_type"] == "MATERIALIZED" and p["table"] == "digital_object"
    ], plans
    if since is not None:  # resuming --all: most rows may be held back; one pass over the files
        assert plans[0]["table"] == "digital_object", plans
        return
    drivers: dict[object, object] = {}  # each subquery's first table
    for p in plans:
        if p["table"] is not None and p["select_type"] == "SUBQUERY":
            drivers.setdefault(p["id"], p["table"])
    # the covered records from one pass over the files, those held back from the job rows
    assert sorted(map(str, drivers.values())) == ["digital_object", "image_ar_job"], plans
    assert [p["table"] for p in plans].count("image_ar_job") == 1, plans  # never per record


@pytest.mark.parametrize(
    ("change", "joined"),
    [
        ([], False),  # imagear's own records, numbered in turn: no record looked up
        (["DELETE FROM information_object WHERE id = 50"], True),  # a file whose record is gone
        (
            [  # a file naming no record, past the last one
                "INSERT INTO digital_object (object_id, usage_id, mime_type, name, path) "
                f"VALUES ({RECORDS + 5}, 140, 'image/jpeg', 'x.jpg', '/u/')"
            ],
            True,
        ),
        (  # a gap with no file in it (as AtoM's ids, shared with actors and terms): joined
            [
                "DELETE FROM digital_object WHERE object_id = 70",
                "DELETE FROM information_object WHERE id = 70",
            ],
            True,
        ),
    ],
    ids=["no gap", "a file without its record", "a file past the records", "a gap"],
)
def test_the_count_looks_up_no_record_when_every_file_is_proven_to_name_one(
    big: App, change: list[str], joined: bool
) -> None:
    """When the records' ids leave no gap and every file's object_id lies among them, every
    file names a record, and the covered records are counted from the files alone (at a million
    records the lookup of each file's record was 1.1 s of the 1.8 s count); otherwise the
    files are joined to their records as before. Either way the count is the plan's."""
    from imagear.db.runplan import count

    sel = Selection()
    with big.engine.begin() as conn:
        for statement in change:
            conn.execute(text(statement))
    assert count(big.engine, sel, None) == len(plan(big.engine, sel, None))
    plans = explained(big, lambda: count(big.engine, sel, None), "digital_object")
    subqueries: dict[object, list[object]] = {}
    for p in plans:
        if p["select_type"] == "SUBQUERY":
            subqueries.setdefault(p["id"], []).append(p["table"])
    covered = [tables for tables in subqueries.values() if tables[0] == "digital_object"]
    assert len(covered) == 1, plans
    assert ("information_object" in covered[0]) is joined, plans
