"""The database layer: URL choice, migrations, the events table's unique key, exact money in JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import db
from config import Settings
from db.models import RECEIVED, EventRecord


def test_sqlite_file_under_var_dir_when_database_url_is_unset(tmp_path: Path):
    """Without DATABASE_URL the store is ``var/events.sqlite3``."""
    assert db.database_url(Settings(var_dir=tmp_path)) == f"sqlite:///{tmp_path / 'events.sqlite3'}"


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path):
    """``db.migrate`` builds the tables from Settings alone and can run again harmlessly."""
    settings = Settings(var_dir=tmp_path)
    db.migrate(settings)
    db.migrate(settings)
    engine = db.engine_from(settings)
    assert "events" in sa.inspect(engine).get_table_names()
    engine.dispose()


def _row(key: str = "k1", **changes) -> EventRecord:
    now = datetime.now(UTC)
    fields = dict(
        provider="kobana",
        event_code="bank_billet.paid",
        original_code="bank_billet.paid",
        idempotency_key=key,
        status=RECEIVED,
        received_at=now,
        stored_at=now,
        raw=b"{}",
        content_type="application/json",
        attempts=0,
    )
    fields.update(changes)
    return EventRecord(**fields)


def test_provider_and_idempotency_key_are_unique(engine: sa.Engine):
    """A second row with the same (provider, idempotency key) violates the unique constraint."""
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        session.add(_row())
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(_row())


def test_payload_amounts_are_stored_as_exact_strings(engine: sa.Engine):
    """Decimal amounts in the stored payload keep every digit (never a float)."""
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        session.add(_row(payload={"amount": Decimal("1234567890.0000001")}))
    with sessions() as session:
        stored = session.scalars(sa.select(EventRecord)).one()
    assert stored.payload == {"amount": "1234567890.0000001"}


def test_stored_bodies_are_compressed_with_lz4_on_postgresql(deliver, work, engine):
    """A stored Kobana body (7 KB) is TOAST-compressed with lz4, not pglz (cheaper for PostgreSQL's CPU)."""
    from tests.helpers import sample

    if engine.dialect.name != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_column_compression(raw) FROM events")).scalar_one() == "lz4"
