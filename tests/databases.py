"""Databases of a test's own, of the kind the suite runs on (SQLite, or PostgreSQL with ``TEST_DATABASE_URL``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

import db
from config import Settings, _database_url


@contextmanager
def fresh_database(tmp: Path, revision: str = "head") -> Iterator[str]:
    """A database of its own, migrated to ``revision``: a SQLite file in ``tmp``, or, when
    ``TEST_DATABASE_URL`` is set, a new PostgreSQL schema there, dropped at the end. A test
    module that needs one besides the session's should also use ``database_url``, which is what
    puts it in .ci/run's PostgreSQL pass (``--only-using``)."""
    wanted = os.environ.get("TEST_DATABASE_URL")
    if not wanted:
        url = f"sqlite:///{tmp / 'events.sqlite3'}"
        db.migrate(Settings(database_url=url), revision)
        yield url
        return
    base = _database_url({"DATABASE_URL": wanted})
    assert base is not None
    with postgres_schema(base, f"test_{os.getpid()}_{time.time_ns() % 10**12}", revision) as url:
        yield url


@contextmanager
def postgres_schema(base: str, schema: str, revision: str = "head", *, keep: bool = False) -> Iterator[str]:
    """A new schema ``schema`` in the PostgreSQL database at ``base``, migrated to ``revision``:
    yields the URL whose connections use it. Dropped at the end unless ``keep`` (bench/console.py
    keeps its seeded data on request)."""
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    try:
        db.migrate(Settings(database_url=url), revision)
        yield url
    finally:
        if not keep:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
