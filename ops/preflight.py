"""Start-up checks every entry point shares: reach Redis and the database before doing anything.

A newcomer's mistakes (a Redis that is not running, a database that was never created or never
migrated) must read as one line naming the variable and the fix, with exit code 2, never as a
150-line traceback. ``check_*`` raise ``StartupError`` with that line; ``explain`` turns the same
failures met later (a ``flask`` command's query) into it. Nothing here prints a password.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from config import ConfigError, Settings

#: The exit code of every entry point for a configuration or connection problem.
EXIT_CODE = 2
UPGRADE = "run `python -m db upgrade` (serve.py does it for you)"


class StartupError(Exception):
    """One line naming the variable and the fix."""


def fail(program: str, exc: Exception) -> NoReturn:
    """Print ``program: <one line>`` on stderr and exit with ``EXIT_CODE``."""
    kind = "configuration error" if isinstance(exc, ConfigError) else "cannot start"
    print(f"{program}: {kind}: {exc}", file=sys.stderr)
    raise SystemExit(EXIT_CODE)


def check_redis(settings: Settings) -> None:
    """``REDIS_URL`` answers a PING (the embedded Redis, ``REDIS_URL`` unset, is ours to start)."""
    if not settings.redis_url:
        return
    import redis

    from workers.queue import connect

    try:
        connect(settings).ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise StartupError(explain(exc, settings) or str(exc)) from None


def check_database(settings: Settings, *, migrated: bool = True) -> None:
    """The database answers and, when ``migrated``, its schema is at the code's revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    import db

    engine = db.engine_from(settings, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not migrated:
                return
            current = set(MigrationContext.configure(conn).get_current_heads())
            heads = set(ScriptDirectory.from_config(db.alembic_config(settings)).get_heads())
    except SQLAlchemyError as exc:
        raise StartupError(explain(exc, settings) or _database_line(settings, type(exc).__name__)) from None
    finally:
        engine.dispose()
    if not current:
        raise StartupError(f"DATABASE_URL: {_where(settings)} has no tables yet: {UPGRADE}")
    if current != heads:
        raise StartupError(f"DATABASE_URL: {_where(settings)} is at revision {', '.join(sorted(current))}, "
                           f"the code needs {', '.join(sorted(heads))}: {UPGRADE}")  # fmt: skip


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line for a Redis or database failure, or None when ``exc`` is something else."""
    import redis
    from sqlalchemy.exc import OperationalError, ProgrammingError

    text = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, redis.RedisError | OSError):
        target = _redis_where(settings)
        return f"REDIS_URL: cannot reach Redis at {target} ({type(exc).__name__}): start it, or fix REDIS_URL"
    if isinstance(exc, OperationalError | ProgrammingError):
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            return f"DATABASE_URL: {_where(settings)} has no tables yet: {UPGRADE}"
        if "database" in text and "does not exist" in text:
            name = _url(settings).database
            return (f"DATABASE_URL: database {name!r} does not exist on {_host(settings)}: "
                    f"create it (createdb -h HOST -U USER {name}) or fix DATABASE_URL")  # fmt: skip
        if "unable to open database file" in text:
            return f"DATABASE_URL: cannot open the SQLite file {_url(settings).database}: check the path (or VAR_DIR)"
        return _database_line(settings, _first_line(text))
    return None


def _database_line(settings: Settings, reason: str) -> str:
    return f"DATABASE_URL: cannot connect to {_where(settings)} ({reason}): is the database running? Is the URL right?"


def _url(settings: Settings) -> Any:
    from sqlalchemy.engine import make_url

    import db

    return make_url(db.database_url(settings))


def _where(settings: Settings) -> str:
    """The database as ``postgresql://host:port/name`` or the SQLite path: never the password."""
    url = _url(settings)
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database}"
    return f"database {url.database!r} on {_host(settings)}"


def _host(settings: Settings) -> str:
    url = _url(settings)
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _redis_where(settings: Settings) -> str:
    from urllib.parse import urlsplit

    if not settings.redis_url:
        return "the embedded server"
    parts = urlsplit(settings.redis_url)
    if parts.scheme == "unix":
        return parts.path
    try:
        return f"{parts.hostname}:{parts.port or 6379}"
    except ValueError:
        return "REDIS_URL"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:160]
