"""A fresh, migrated database per benchmark phase: a SQLite file, or a PostgreSQL schema."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine
from storage.migrate import upgrade


class Databases:
    """A new empty database per phase: a SQLite file, or a PostgreSQL schema (dropped at the end)."""

    def __init__(self, base: str | None, tmp: Path) -> None:
        self.base, self.tmp, self.count = base, tmp, 0
        self.schemas: list[str] = []

    def fresh(self) -> str:
        self.count += 1
        if self.base is None:
            url = f"sqlite:///{self.tmp}/bench{self.count}.db"
        else:
            schema = f"bench_{secrets.token_hex(4)}"
            with make_engine(self.base).begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            self.schemas.append(schema)
            url = f"{self.base}{'&' if '?' in self.base else '?'}options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url

    def close(self) -> None:
        if self.base is not None:
            engine = make_engine(self.base)
            with engine.begin() as connection:
                for schema in self.schemas:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()
