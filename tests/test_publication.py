"""Publication: which records a guest may see (imagear.db.publication, imagear.publication).

On imagear's own database every record is public unless ``web_public = false``; on an
AtoM/Heratio database (AtoM's and Heratio's DDL on the real MariaDB) only a description whose
publication status (AtoM's ``status`` row, type 158) is published (160), as Heratio's video
route checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from heratio_fixture import (  # noqa: F401 (the atom_db and heratio_env fixtures)
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)
from imagear.app import App
from imagear.db import flavour
from imagear.db.publication import is_published, published_sql
from imagear.publication import guest_may_see, public


@pytest.mark.all_databases
def test_own_database_every_record_public_unless_switched_off(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, make_image: Any
) -> None:
    from imagear.records import add_record

    app = App.load()
    try:
        rec = add_record(app, make_image("h.jpg"), title="Harbour", identifier="H-1")
        assert public(app) is True
        assert guest_may_see(app, rec.id) is True
        assert is_published(app.engine, rec.id, public=True) is True
        assert is_published(app.engine, rec.id, public=False) is False
    finally:
        app.close()
    monkeypatch.setenv("IMAGEAR_WEB_PUBLIC", "false")
    closed = App.load()
    try:
        assert public(closed) is False
        assert guest_may_see(closed, rec.id) is False
    finally:
        closed.close()


def test_web_public_in_config_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "imagear.toml"
    path.write_text("web_public = false\n", encoding="utf-8")
    assert App.load(path).config.web_public is False
    path.write_text("web_public = true\n", encoding="utf-8")
    assert App.load(path).config.web_public is True


@pytest.mark.mysql
def test_heratio_publication_rule(atom_db: AtomDatabase, make_image: Any) -> None:
    image = make_image("p.jpg")
    published, _ = atom_db.add_record({"en": "Published"}, image=image, published=True)
    draft, _ = atom_db.add_record({"en": "Draft"}, image=image, published=False)
    unmarked, _ = atom_db.add_record({"en": "No status"}, image=image, published=None)
    engine = create_engine(atom_db.url)
    try:
        assert is_published(engine, published, public=True) is True
        assert is_published(engine, draft, public=True) is False
        assert is_published(engine, unmarked, public=True) is False
        assert is_published(engine, 999999, public=True) is False
        # web_public = false hides even a published description
        assert is_published(engine, published, public=False) is False
        # AtoM's edit form publishes a draft: the rule follows at once
        atom_db.set_published(draft, True)
        assert is_published(engine, draft, public=True) is True
        # the predicate inside a query over records (the grid's use)
        fl = flavour.of(engine)
        records = fl.records
        query = (
            select(records.c.id)
            .where(published_sql(fl, records.c.id, True))
            .where(records.c.id != 1)
            .order_by(records.c.id)
        )
        with engine.connect() as conn:
            assert list(conn.execute(query).scalars()) == [published, draft]
    finally:
        engine.dispose()


@pytest.mark.mysql
def test_heratio_guest_may_see_through_the_app(
    atom_db: AtomDatabase, heratio_env: dict[str, str], make_image: Any
) -> None:
    image = make_image("q.jpg")
    published, _ = atom_db.add_record({"en": "Published"}, image=image)
    draft, _ = atom_db.add_record({"en": "Draft"}, image=image, published=False)
    app = App.load()
    try:
        assert guest_may_see(app, published) is True
        assert guest_may_see(app, draft) is False
    finally:
        app.close()
