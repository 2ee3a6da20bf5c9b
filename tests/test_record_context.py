"""A record's archival context on its console page (imagear.db.context): its place in AtoM's
hierarchy as a breadcrumb (the chain of parents, AtoM's root description left out) and the
previous and next records; on imagear's own database, no hierarchy."""

from __future__ import annotations

from typing import Any

import pytest

from heratio_fixture import (  # noqa: F401 (the atom_db and heratio_env fixtures)
    AtomDatabase,
    atom_db_fixture,
    heratio_env_fixture,
    heratio_sql_mode_fixture,
)


@pytest.mark.mysql
def test_the_hierarchy_and_neighbours_on_atom(
    heratio_env: dict[str, str], atom_db: AtomDatabase, make_image: Any
) -> None:
    from imagear.app import App
    from imagear.review import record_context

    fonds, _ = atom_db.add_record({"en": "Harbour Board fonds"}, identifier="F1")
    series, _ = atom_db.add_record({"fr": "Série des ports"}, identifier="F1-S2")
    item, _ = atom_db.add_record(
        {"en": "Harbour, 1911"}, identifier="F1-S2-3", image=make_image("h.jpg")
    )
    atom_db.execute("UPDATE information_object SET parent_id = %s WHERE id = %s", (fonds, series))
    atom_db.execute("UPDATE information_object SET parent_id = %s WHERE id = %s", (series, item))
    for start, end, shown in (
        ("1911-03-01", "1911-05-30", "spring 1911"),
        ("1920-01-01", None, None),
    ):
        eid = atom_db.execute(
            "INSERT INTO object (class_name, created_at, updated_at, serial_number) "
            "VALUES ('QubitEvent', NOW(), NOW(), 0)"
        )
        atom_db.execute(
            "INSERT INTO event (id, start_date, end_date, type_id, object_id, source_culture) "
            "VALUES (%s, %s, %s, 111, %s, 'en')",
            (eid, start, end, item),
        )
        if shown:
            atom_db.execute(
                "INSERT INTO event_i18n (date, id, culture) VALUES (%s, %s, 'en')", (shown, eid)
            )
    app = App.load()
    ctx = record_context(app, item)
    assert ctx.dates == ["spring 1911", "1920-01-01"]  # as catalogued, else the normalised
    assert [(c.id, c.identifier, c.title) for c in ctx.ancestors] == [
        (fonds, "F1", "Harbour Board fonds"),
        (series, "F1-S2", "Série des ports"),  # the title of any culture, as the grid
    ]
    assert (ctx.previous, ctx.next) == (series, None)
    top = record_context(app, fonds)
    assert top.ancestors == [] and top.previous is None and top.next == series  # not the root
    assert top.dates == []
    atom_db.execute("UPDATE information_object SET parent_id = %s WHERE id = %s", (item, fonds))
    assert len(record_context(app, item).ancestors) == 2  # a loop is cut, never endless


@pytest.mark.all_databases
def test_neighbours_on_imagears_own_database(app: Any, make_image: Any) -> None:
    from imagear.review import record_context
    from web_helpers import add_records

    ids = add_records(app, make_image, 3, animated=0)
    middle = record_context(app, ids[1])
    assert (middle.ancestors, middle.previous, middle.next) == ([], ids[0], ids[2])
    assert record_context(app, ids[0]).previous is None
