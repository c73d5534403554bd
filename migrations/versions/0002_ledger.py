"""The reconciliation ledger: one row per money object, one per (object, event) with its fact.

Revision ID: 0002_ledger
Revises: 0001_events
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ledger"
down_revision: str | None = "0001_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ledger_objects",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("object_id", sa.String(240), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(40), nullable=True),
        sa.Column("expected_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("settled_cents", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("txid", sa.String(200), nullable=True),
        sa.Column("end_to_end_id", sa.String(200), nullable=True),
        sa.Column("state", _JSON, nullable=False),
        sa.UniqueConstraint("object_id", "kind", name="uq_ledger_objects_object_kind"),
    )
    op.create_index("ix_ledger_objects_object_id", "ledger_objects", ["object_id"])
    op.create_index("ix_ledger_objects_provider_opened", "ledger_objects", ["provider", "opened_at"])
    op.create_index("ix_ledger_objects_external_id", "ledger_objects", ["external_id"])
    op.create_index("ix_ledger_objects_txid", "ledger_objects", ["txid"])
    op.create_index("ix_ledger_objects_end_to_end_id", "ledger_objects", ["end_to_end_id"])
    op.create_table(
        "ledger_facts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("object_pk", _ID, sa.ForeignKey("ledger_objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", _ID, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("fact", _JSON, nullable=False),
        sa.UniqueConstraint("object_pk", "event_id", name="uq_ledger_facts_object_event"),
    )
    op.create_index("ix_ledger_facts_object_pk", "ledger_facts", ["object_pk"])
    op.create_index("ix_ledger_facts_event_id", "ledger_facts", ["event_id"])


def downgrade() -> None:
    op.drop_table("ledger_facts")
    op.drop_table("ledger_objects")
