"""The event log: every event that reaches a worker, once per (provider, idempotency key).

Revision ID: 0001_events
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_events"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_code", sa.String(128), nullable=False),
        sa.Column("original_code", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("entity", sa.String(64), nullable=True),
        sa.Column("delivery", _JSON, nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("payload", _JSON, nullable=True),
        sa.Column("validation_errors", _JSON, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("handlers", _JSON, nullable=True),
        sa.UniqueConstraint("provider", "idempotency_key", name="uq_events_provider_idempotency_key"),
    )
    op.create_index("ix_events_status_received_at", "events", ["status", "received_at"])
    op.create_index("ix_events_provider_code", "events", ["provider", "event_code"])
    op.create_index("ix_events_received_at", "events", ["received_at"])


def downgrade() -> None:
    op.drop_table("events")
