"""Alembic environment: the URL comes from ``config.Settings``, never from alembic.ini.

``db.migrate(settings)`` passes its Settings in ``config.attributes``; the ``alembic`` CLI and
``python -m db`` fall back to ``Settings.from_env(os.environ)``.
"""

from __future__ import annotations

import os

from alembic import context

import db
import db.models  # registers the tables on Base.metadata for autogenerate
from config import Settings

config = context.config
settings = config.attributes.get("settings") or Settings.from_env(os.environ)
target_metadata = db.Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=db.database_url(settings), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = db.engine_from(settings, poolclass=__import__("sqlalchemy").pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
