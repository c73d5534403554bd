"""Provider sync: where each event came from, and each provider's sync cursor and last result.

``events.source`` is ``webhook`` (the door) or ``resync`` (fetched from the provider's API);
``events.trust`` says what made it trustworthy (the door's signature / Basic check, or TLS and
our API credentials). ``provider_sync`` holds one row per provider: the resumable cursor (Kobana's
page in an interrupted scan), the last run's window and result, and how many events sync recovered.

Revision ID: 0005_sync
Revises: 0004_events_code_index
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sync"
down_revision: str | None = "0004_events_code_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="webhook"))
        batch.add_column(sa.Column("trust", sa.String(32), nullable=False, server_default="door-auth"))
    op.create_table(
        "provider_sync",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("cursor", _JSON, nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_complete", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_counts", _JSON, nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("provider_sync")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("trust")
        batch.drop_column("source")
