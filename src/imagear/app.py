"""The App object every service takes: the effective Config and the (lazily opened) database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from imagear.config import Config, load_config
from imagear.db import init_db


@dataclass
class App:
    config: Config
    _engine: Engine | None = field(default=None, repr=False)

    @classmethod
    def load(cls, config_path: str | Path | None = None) -> App:
        return cls(load_config(config_path))

    @property
    def engine(self) -> Engine:
        """The database, created, seeded and upgraded on first use."""
        if self._engine is None:
            self._engine = init_db(self.config.database_url)
        return self._engine

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
