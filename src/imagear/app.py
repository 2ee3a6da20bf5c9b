"""The App object every service takes: the effective Config and the (lazily opened) database.

Importing this module loads no database library: SQLAlchemy and :mod:`imagear.db`
are imported when the database is first used, so the CLI starts fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.config import Config, load_config
from imagear.errors import ConfigError

if TYPE_CHECKING:  # SQLAlchemy loads when the database is first used, not here
    from sqlalchemy import Engine


@dataclass
class App:
    config: Config
    _engine: Engine | None = field(default=None, repr=False)
    # called with the database's URL (no password) when first use created imagear's tables
    # there: the CLI says so once, so a mistyped database_url does not go unnoticed
    on_create: Callable[[str], None] | None = field(default=None, repr=False)
    # the pause between a server client's retries (tests hand in one that does not sleep)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def load(cls, config_path: str | Path | None = None) -> App:
        return cls(load_config(config_path))

    @property
    def engine(self) -> Engine:
        """The database, created, seeded and upgraded on first use."""
        if self._engine is None:
            from imagear.db import init_db
            from imagear.settings import seed_rows

            self._check_sqlite_folder()
            self._engine = init_db(
                self.config.database_url,
                seed_rows=seed_rows(),
                time_zone=self.config.zone(),
                on_create=self.on_create,
                culture=self.config.culture,
            )
        return self._engine

    def _check_sqlite_folder(self) -> None:
        # The default location is created on first use; a configured path whose folder is missing
        # is almost always a typo, and silently starting an empty database there hides it.
        url = self.config.database_url
        if self.config.sources.get("database_url", "default") == "default":
            return
        if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
            return
        folder = Path(url[len("sqlite:///") :]).parent
        if not folder.is_dir():
            raise ConfigError(
                f"The folder {folder} of database_url ({self.config.sources['database_url']}) does not exist.",
                "Fix database_url (`imagear config show`) or create the folder first.",
            )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
