"""The console's grid at scale (issue 27) and its search (issue 25): pages by key (``?after=ID``
/ ``?before=ID``) so a deep page costs what the first one does, ``?page=N`` still working; the
total counted up to a cap; accent- and case-insensitive search ("eglise" finds "Église") on
SQLite, PostgreSQL (no unaccent extension) and MariaDB (its collation)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

from heratio_fixture import (  # noqa: E402, F401
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from imagear import review  # noqa: E402
from imagear.db import browse  # noqa: E402
from imagear.db.fold import FOLD_FROM, fold  # noqa: E402
from imagear.records import add_record  # noqa: E402
from web_helpers import add_records, client  # noqa: E402

pytestmark = pytest.mark.mysql  # SQLite, PostgreSQL and MariaDB

TITLES = {
    "FR-1": "Église Saint-Étienne",
    "FR-2": "Eglise du village",
    "FR-3": "Château de Blois",
    "ÖSTERREICH-1": "Wien, Stephansdom",
    "PL-1": "Łódź, ulica Piotrkowska",
    "DE-1": "Grüße aus München",
}


def titled(app: Any, make_image: Any) -> dict[str, int]:
    image = make_image("photo.jpg", size=(64, 48))
    return {ident: add_record(app, image, ident, title).id for ident, title in TITLES.items()}


def found(app: Any, query: str) -> set[str]:
    rows, total = review.browse(app, query, "all", limit=50)
    assert total == len(rows)
    return {row.identifier or "" for row in rows}


@pytest.mark.all_databases
def test_search_ignores_accents_and_case(app: Any, make_image: Any, db_backend: str) -> None:
    titled(app, make_image)
    assert found(app, "eglise") == {"FR-1", "FR-2"}
    assert found(app, "ÉGLISE") == {"FR-1", "FR-2"}
    assert found(app, "Eglise Saint-etienne") == {"FR-1"}
    assert found(app, "chateau") == {"FR-3"}
    assert found(app, "osterreich") == {"ÖSTERREICH-1"}  # identifiers too
    # letters Unicode does not decompose: folded by imagear on SQLite and PostgreSQL; on
    # MariaDB the column's collation decides (utf8mb4_unicode_ci keeps Ł apart from L)
    assert found(app, "lodz") == (set() if db_backend == "mysql" else {"PL-1"})
    assert found(app, "Łódź") == {"PL-1"}
    assert found(app, "MUNCHEN") == {"DE-1"}
    assert found(app, "église") == {"FR-1", "FR-2"}  # an accented search finds both spellings
    assert found(app, "100%") == set()  # % and _ stay literal
    assert found(app, "e_lise") == set()


def test_the_python_and_sql_foldings_agree() -> None:
    assert fold("Église Ærø Đakovo Straße") == "eglise æro dakovo straße"
    assert all(len(fold(ch) or "") == 1 and (fold(ch) or "").isascii() for ch in FOLD_FROM)


@pytest.mark.all_databases
def test_the_console_search_finds_eglise(app: Any, make_image: Any) -> None:
    titled(app, make_image)
    text = client(app).get("/?q=eglise").text
    assert "Église Saint-Étienne" in text and "Eglise du village" in text
    assert "Château" not in text


def _search_statements(app: Any, query: str) -> list[tuple[str, Any]]:
    """The SQL statements (and their parameters) a console search runs."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def spy(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        seen.append((statement, params))

    event.listen(app.engine, "before_cursor_execute", spy)
    try:
        review.browse(app, query, "all", limit=50)
    finally:
        event.remove(app.engine, "before_cursor_execute", spy)
    return seen


@pytest.mark.postgres
def test_postgres_search_is_answered_by_trigram_indexes(
    app: Any, make_image: Any, db_backend: str
) -> None:
    """Schema step 8 indexes the folded title and identifier (pg_trgm), and the search's
    conditions are those indexes' own expressions (a million titles: 3.1 s -> 64 ms)."""
    from sqlalchemy import or_, select

    from imagear.db import flavour
    from imagear.db.fold import contains
    from imagear.db.schema import RECORDS

    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only")
    titled(app, make_image)
    assert flavour.of(app.engine).search_indexed
    assert found(app, "eglise") == {"FR-1", "FR-2"}
    statements = [sql for sql, _ in _search_statements(app, "Eglise")]
    assert any("lower(translate(" in sql and "LIKE" in sql for sql in statements)
    hits = [
        contains("postgresql", c, "Eglise", indexed=True) for c in RECORDS.c["identifier", "title"]
    ]
    query = select(RECORDS.c.id).where(or_(*hits))
    with app.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # six rows: is a scan ever needed?
        compiled = query.compile(app.engine)
        plan = "\n".join(
            r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
        )
    assert "ix_information_object_title_fold" in plan, plan
    assert "ix_information_object_identifier_fold" in plan, plan


@pytest.mark.postgres
def test_postgres_search_without_pg_trgm_reads_every_title(
    app: Any, make_image: Any, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where pg_trgm cannot be had, step 8 leaves the upgrade whole and the search still
    ignores accents and case (a regular expression over every title)."""
    from sqlalchemy import text

    from imagear.db import flavour, migrations

    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only")
    titled(app, make_image)
    monkeypatch.setattr(migrations, "TRIGRAM_EXTENSION", "imagear_no_such_extension")
    with app.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_information_object_title_fold"))
        conn.execute(text("DROP INDEX ix_information_object_identifier_fold"))
        migrations._search_indexes(conn)  # CREATE EXTENSION refused: nothing made
        assert conn.execute(text("SELECT 1")).scalar() == 1  # the transaction is still good
    flavour.forget(app.engine)
    assert not flavour.of(app.engine).search_indexed
    assert found(app, "eglise") == {"FR-1", "FR-2"}
    assert found(app, "osterreich") == {"ÖSTERREICH-1"}
    assert all("translate" not in sql for sql, _ in _search_statements(app, "eglise"))


# values against search texts of more characters, which some collation holds equal (an
# expansion, a ligature, a contraction, a decomposed letter, an ignorable, a padded space)
_SHORTER = [
    ("ß", "ss"), ("æ", "ae"), ("ä", "ae"), ("ä", "a\u0308"), ("é", "e\u0301"), ("ﬁ", "fi"),
    ("ǆ", "dž"), ("ĳ", "ij"), ("œ", "oe"), ("Þ", "th"), ("å", "aa"), ("㎏", "kg"), ("Ⅻ", "XII"),
    ("ab", "a\u200bb"), ("ab", "a\u00adb"), ("a", "\u0000a"), ("c", "ch"), ("l", "ll"),
    ("abc", "abc "), ("İ", "i\u0307"), ("Straße", "strasse"), ("Ærø", "aeroe"),
]  # fmt: skip


@pytest.mark.all_databases
def test_like_matches_a_character_for_each_character_on_every_mysql_collation(
    app: Any, db_backend: str
) -> None:
    """What the identifier's length test rests on (db/fold.py): on MySQL/MariaDB, whatever
    the collation, ``LIKE '%text%'`` finds no value of fewer characters than the text, even
    where ``=`` holds them equal ('ß' = 'ss' in utf8mb4_unicode_ci)."""
    from sqlalchemy import text

    if db_backend != "mysql":
        pytest.skip("MySQL/MariaDB only")
    with app.engine.connect() as conn:
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE shorter (s VARCHAR(20), p VARCHAR(20)) "
                "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )
        )
        conn.execute(
            text("INSERT INTO shorter VALUES (:s, :p)"), [{"s": s, "p": p} for s, p in _SHORTER]
        )
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM shorter WHERE CHAR_LENGTH(s) >= CHAR_LENGTH(p)")
            ).scalar()
            == 0
        )
        collations = (
            conn.execute(
                text(
                    "SELECT DISTINCT COLLATION_NAME FROM information_schema"
                    ".COLLATION_CHARACTER_SET_APPLICABILITY WHERE CHARACTER_SET_NAME = 'utf8mb4'"
                )
            )
            .scalars()
            .all()
        )
        assert "utf8mb4_unicode_ci" in collations and len(collations) > 20
        equal, like = [], []
        for name in collations:
            assert re.fullmatch(r"\w+", name), name
            equal.append(
                conn.execute(
                    text(f"SELECT COUNT(*) FROM shorter WHERE s COLLATE {name} = p")
                ).scalar()
            )
            like.append(
                conn.execute(
                    text(
                        f"SELECT COUNT(*) FROM shorter WHERE s COLLATE {name} LIKE CONCAT('%', p, '%')"
                    )
                ).scalar()
            )
    assert sum(equal) > 0  # the pairs do hold equal somewhere
    assert sum(like) == 0, dict(zip(collations, like, strict=True))


@pytest.mark.all_databases
def test_mysql_tests_an_identifier_by_its_length_before_its_like(
    app: Any, make_image: Any, db_backend: str
) -> None:
    """On MySQL/MariaDB the search passes over identifiers shorter than its text by their
    length (a million records, a phrase longer than every identifier: 332 -> 279 ms on one
    core), and finds what it found before: an identifier of more bytes than characters
    ("ÖSTERREICH-1") is still found by a text as long as it."""
    titled(app, make_image)
    statements = [sql.lower() for sql, _ in _search_statements(app, "Osterreich-1")]
    guarded = [sql for sql in statements if "like" in sql and "length(" in sql]
    if db_backend != "mysql":
        assert not guarded
        return
    assert guarded and all("length(information_object.identifier) >=" in sql for sql in guarded)
    assert all("length(information_object.title)" not in sql for sql in guarded)
    assert found(app, "Osterreich-1") == {"ÖSTERREICH-1"}  # 12 characters, 13 bytes
    assert found(app, "eglise saint-etienne") == {"FR-1"}  # longer than every identifier
    assert found(app, "FR-") == {"FR-1", "FR-2", "FR-3"}


def pager(text: str) -> dict[str, str]:
    """The pager's links by rel (prev, next), HTML entities undone."""
    nav = text[text.index('<nav class="pager"') :]
    return {
        rel: href.replace("&amp;", "&")
        for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)"', nav)
    }


@pytest.mark.all_databases
def test_keyset_pages_cover_every_record_once_and_go_back(app: Any, make_image: Any) -> None:
    ids = add_records(app, make_image, 5, animated=0)
    rows, total = review.browse(app, limit=2, after=ids[1])
    assert total == 5 and [r.id for r in rows] == ids[2:4]
    rows, _ = review.browse(app, limit=2, before=ids[4])
    assert [r.id for r in rows] == ids[2:4]  # backwards, shown in id order
    rows, _ = review.browse(app, limit=2, offset=2)  # ?page=N keeps working
    assert [r.id for r in rows] == ids[2:4]


@pytest.mark.all_databases
def test_pages_by_number_are_the_listing_cut_in_pages(app: Any, make_image: Any) -> None:
    """``?page=N`` (offset) pages, found by skipping ids then read by key, are the whole
    listing cut in pages, with gaps in the ids, a search and a page past the end."""
    from sqlalchemy import text

    ids = titled(app, make_image)
    image = make_image("more.jpg", size=(64, 48))
    more = [add_record(app, image, f"X-{i}", f"Eglise {i}").id for i in range(9)]
    with app.engine.begin() as conn:  # gaps in the ids
        conn.execute(text(f"DELETE FROM information_object WHERE id IN ({more[2]}, {more[5]})"))
    every = [*ids.values(), *(m for m in more if m not in (more[2], more[5]))]
    for query, expected in (("", every), ("eglise", [ids["FR-1"], ids["FR-2"], *every[6:]])):
        for offset in range(0, len(expected) + 3):
            rows, total = review.browse(app, query, "all", limit=3, offset=offset)
            assert total == len(expected)
            assert [r.id for r in rows] == expected[offset : offset + 3], (query, offset)


@pytest.mark.all_databases
def test_the_pager_links_walk_by_key(
    app: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.web import app as web_app

    ids = add_records(app, make_image, 5, animated=0)
    monkeypatch.setattr(web_app, "PAGE_SIZE", 2)
    c = client(app)
    seen, url, links = [], "/", []
    while url:
        text = c.get(url).text
        seen += [int(i) for i in re.findall(r'data-id="(\d+)"', text)]
        links.append(pager(text))
        url = links[-1].get("next", "")
        assert not url or f"after={seen[-1]}" in url
    assert seen == ids and len(links) == 3
    assert "Page 3 of 3" in text
    back = c.get(links[-1]["prev"]).text  # page 2 again, by key
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', back)] == ids[2:4]
    assert "Page 2 of 3" in back and "page=1" in pager(back)["prev"]
    assert "after=" not in pager(back)["prev"] and "before=" not in pager(back)["prev"]
    old = c.get("/?page=2").text  # old links: OFFSET, same rows
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', old)] == ids[2:4]


@pytest.mark.all_databases
def test_the_total_is_counted_up_to_a_cap(
    app: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagear.web import app as web_app

    ids = add_records(app, make_image, 5, animated=0)
    monkeypatch.setattr(web_app, "PAGE_SIZE", 2)
    monkeypatch.setattr(browse, "COUNT_CAP", 3)
    monkeypatch.setattr(review, "COUNT_CAP", 3)
    rows, total = review.browse(app, limit=2)
    assert total == 4 and [r.id for r in rows] == ids[:2]  # 4: more than 3
    text = client(app).get("/").text
    assert "more than 3 records" in text and "Page 1 of more than 2</span>" in text
    assert "next" in pager(text)


@pytest.mark.all_databases
def test_a_search_that_fits_its_first_page_reads_the_records_once(
    app: Any, make_image: Any
) -> None:
    """A few matches, or none: the first page holds them all, so no count runs after it (a
    second scan of every title at a million records); a fuller page is still counted."""
    from sqlalchemy import event

    ids = titled(app, make_image)
    counts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if re.search(r"\bcount\(", statement, re.IGNORECASE):
            counts.append(statement)

    event.listen(app.engine, "before_cursor_execute", seen)
    try:
        rows, total = browse.page(app.engine, "eglise", limit=24)
        assert total == 2 and [r.id for r in rows] == [ids["FR-1"], ids["FR-2"]]
        assert browse.page(app.engine, "no such title", limit=24) == ([], 0)
        assert counts == []
        rows, total = browse.page(app.engine, "", limit=2)  # a full page: more may follow
        assert len(rows) == 2 and total == len(TITLES) and len(counts) == 1
        rows, total = browse.page(app.engine, "eglise", limit=1, after=ids["FR-1"])
        assert [r.id for r in rows] == [ids["FR-2"]] and total == 2  # not the first page
    finally:
        event.remove(app.engine, "before_cursor_execute", seen)


@pytest.mark.mysql
def test_search_and_keyset_pages_on_an_atom_database(
    atom_db: Any, heratio_env: dict[str, str], make_image: Any
) -> None:
    """On AtoM's tables: titles from information_object_i18n (any culture), the root
    description never listed, accents ignored, pages by key."""
    from imagear.app import App

    image = make_image("photo.jpg", size=(64, 48))
    ids = [
        atom_db.add_record({"fr": "Église de Blois"}, identifier="A-1", source_culture="fr")[0],
        atom_db.add_record({"en": "Harbour"}, identifier="A-2", image=image)[0],
        atom_db.add_record({"es": "Eglise?"}, identifier="A-3")[0],
    ]
    app = App.load()
    try:
        assert found(app, "eglise") == {"A-1", "A-3"}
        rows, total = review.browse(app, limit=1, after=ids[0])
        assert total == 3 and [r.id for r in rows] == [ids[1]]
        rows, _ = review.browse(app, limit=2, before=ids[2])
        assert [r.id for r in rows] == ids[:2]  # the root description (id 1) is not listed
    finally:
        app.close()
