"""Ledger objects get ``first_credit_on`` and ``last_credit_on``: the days money of a charge is credited.

The reconciliation report (``flask reconcile report``, the console's CSV and XLSX) counts the
credits of each day of its period whatever day their charge was created, and so read every
object of the ledger: seconds per ten thousand objects, growing for ever. With these columns,
indexed, it reads the period's objects, the charges with credits in the period, and what those
link to (``ledger.discrepancies.period_states``). Filled from each row's folded state.

Revision ID: 0009_credit_days
Revises: 0008_console
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_credit_days"
down_revision: str | None = "0008_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The earliest and latest ``on`` among ``state.credits`` (payment id → ``{"on": "YYYY-MM-DD", ...}``).
_BACKFILL = {
    "postgresql": """UPDATE ledger_objects SET
        first_credit_on = (SELECT min((c.value ->> 'on')::date) FROM jsonb_each(ledger_objects.state -> 'credits') c),
        last_credit_on = (SELECT max((c.value ->> 'on')::date) FROM jsonb_each(ledger_objects.state -> 'credits') c)
        WHERE jsonb_typeof(state -> 'credits') = 'object' AND state -> 'credits' <> '{}'::jsonb""",
    "sqlite": """UPDATE ledger_objects SET
        first_credit_on = (SELECT min(json_extract(c.value, '$.on'))
                           FROM json_each(ledger_objects.state, '$.credits') c),
        last_credit_on = (SELECT max(json_extract(c.value, '$.on'))
                          FROM json_each(ledger_objects.state, '$.credits') c)
        WHERE json_type(state, '$.credits') = 'object'""",
}


def upgrade() -> None:
    op.add_column("ledger_objects", sa.Column("first_credit_on", sa.Date(), nullable=True))
    op.add_column("ledger_objects", sa.Column("last_credit_on", sa.Date(), nullable=True))
    op.create_index("ix_ledger_objects_credit_days", "ledger_objects", ["last_credit_on", "first_credit_on"])
    op.execute(_BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    op.drop_index("ix_ledger_objects_credit_days", table_name="ledger_objects")
    with op.batch_alter_table("ledger_objects") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("last_credit_on")
        batch.drop_column("first_credit_on")
