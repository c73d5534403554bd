"""The relational store: one engine per process, sessions, and Alembic migrations.

SQLite file ``var/events.sqlite3`` when ``DATABASE_URL`` is unset (the laptop needs nothing),
PostgreSQL through psycopg 3 otherwise. Every table's model subclasses ``Base``; the schema
itself is owned by the migrations under ``migrations/``, never by ``create_all``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from config import PROJECT_ROOT, Settings

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


class Base(DeclarativeBase):
    """Declarative base for every model (event log, ledger, ...)."""

    #: Every model maps one ``Table`` (SQLAlchemy types it as any ``FromClause``), so Core
    #: statements over ``Model.__table__`` type-check.
    __table__: ClassVar[Table]


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL: ``DATABASE_URL`` (already normalised by config) or the SQLite file."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.var_dir) / 'events.sqlite3'}"


def _json_default(value: Any) -> Any:
    # Money stays exact in the stored payload: Decimal becomes its exact string, never a float.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC. We only ever store UTC, and SQLite hands datetimes back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dumps(value: Any) -> str:
    """JSON for JSON columns and CLI output: Decimal as exact strings, dates as ISO 8601."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


def column_dumps(value: Any) -> str:
    """JSON for JSON columns: as ``dumps`` but keys in their own order (sorting cost ~30 % of the
    encoding of a 7 KB payload; JSONB orders keys itself, and CLI output goes through ``dumps``)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def engine_from(settings: Settings, **overrides: Any) -> Engine:
    """Build the process's engine. Create it once per process and share it (it owns the pool)."""
    url = database_url(settings)
    options: dict[str, Any] = {"json_serializer": column_dumps, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Several workers and the web share the file: wait for the write lock instead of failing.
        options["connect_args"] = {"timeout": 30}
    else:
        options["connect_args"] = {"connect_timeout": 5}
        if "poolclass" not in overrides:
            options.update(pool_size=5, max_overflow=5)
    options.update(overrides)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off so that "begin" below really starts one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock up front: two workers racing on one event serialize here instead of
    # failing with "database is locked" when a reader upgrades to a writer mid-transaction.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine, settings: Settings | None = None) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (no lazy reload).

    With ``settings``, each session carries them (``session_info``) for the handlers it runs.
    """
    return sessionmaker(engine, expire_on_commit=False, info=session_info(settings))


def session_info(settings: Settings | None) -> dict[str, Any]:
    """What a session that runs handlers carries: ``info["settings"]``, read by handlers that have
    settings of their own (``LEDGER_ENABLED``) without importing the worker that configured them."""
    return {"settings": settings} if settings is not None else {}


def alembic_config(settings: Settings) -> Any:
    """Alembic's config with our Settings attached: ``migrations/env.py`` reads the URL from them."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["settings"] = settings
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``; idempotent, safe to run on every start."""
    from alembic import command

    command.upgrade(alembic_config(settings), revision)
