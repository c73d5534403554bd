"""Ledger objects get ``aka``: the other id an event may name the object by.

A Kobana boleto is ``kobana:<id>``, but the "Comando" shape of its command events names it only
by uid. Events that carry both record ``kobana:<uid>`` here (indexed), so a uid-only event joins
the boleto instead of becoming a second object (``ledger.store.resolve``). Payment fees and
credit days live in the facts' and states' JSON: no column needed.

Revision ID: 0007_ledger_fees
Revises: 0006_alerts
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ledger_fees"
down_revision: str | None = "0006_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ledger_objects", sa.Column("aka", sa.String(240), nullable=True))
    op.create_index("ix_ledger_objects_aka", "ledger_objects", ["aka"])


def downgrade() -> None:
    op.drop_index("ix_ledger_objects_aka", table_name="ledger_objects")
    with op.batch_alter_table("ledger_objects") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("aka")
