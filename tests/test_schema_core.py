"""imagear's own tables are SQLAlchemy Core tables (issue 27: no ORM or SQLModel at a database
command's start-up); the SQLModel classes the tests use for ORM sessions
(tests/imagear_models.py) must be the same tables, and a database made before the change must
be the one made now: the same ``CREATE TABLE`` and ``CREATE INDEX`` on SQLite, PostgreSQL and
MySQL, and the same Python-side defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

import imagear
from imagear.db.review import REVIEW
from imagear.db.schema import CLIPS, FILES, JOB, RECORDS, SCHEMA_TABLE, SETTINGS
from imagear_models import ALL

CORE = {t.name: t for t in (RECORDS, FILES, CLIPS, SETTINGS, JOB, SCHEMA_TABLE, REVIEW)}
DIALECTS = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
    "mysql": mysql.dialect(),
}


def ddl(table: Table, dialect: object) -> list[str]:
    made = [" ".join(str(CreateTable(table).compile(dialect=dialect)).split())]  # type: ignore[arg-type]
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        made.append(" ".join(str(CreateIndex(index).compile(dialect=dialect)).split()))  # type: ignore[arg-type]
    return made


def defaults(table: Table) -> dict[str, object]:
    """Each column's Python-side default (a function SQLAlchemy wrapped: the function)."""
    out: dict[str, object] = {}
    for column in table.columns:
        arg = getattr(column.default, "arg", None)
        out[column.name] = getattr(arg, "__wrapped__", arg)
    return out


@pytest.mark.parametrize("name", sorted(CORE))
def test_core_tables_match_the_sqlmodel_classes(name: str) -> None:
    model = next(m for m in ALL if m.__tablename__ == name)
    orm: Table = model.__table__  # type: ignore[attr-defined]
    for dialect in DIALECTS.values():
        assert ddl(CORE[name], dialect) == ddl(orm, dialect)
    assert defaults(CORE[name]) == defaults(orm)


def test_a_database_command_imports_no_orm() -> None:
    src = Path(imagear.__file__).resolve().parents[1]
    code = (
        "import sys; import imagear.db, imagear.settings; "
        "print(sorted(m for m in ('sqlmodel', 'sqlalchemy.orm', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "sqlmodel" not in done.stdout and "sqlalchemy.orm" not in done.stdout, done.stdout
