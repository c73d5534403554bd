"""The finance console: users, the audit log, the discrepancy workflow, and indexes for its lists.

- ``console_users``: who may log in, with which role (viewer, operator, admin).
- ``audit_log``: every state-changing action in the console or its CLI twins: who, what, which
  object, when, from which IP.
- ``discrepancies``: one row per (object, kind, type) the reconciliation has flagged, with its
  workflow state (open, acknowledged, resolved), reason and note; ``discrepancy_notes`` is its
  history (every action and every automatic reopen, with the event that caused it).
- Indexes for the console's keyset-paginated lists: events by id within a status, by idempotency
  key alone (the ``q`` search).

Revision ID: 0008_console
Revises: 0007_ledger_fees
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_console"
down_revision: str | None = "0007_ledger_fees"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REFS = ("client_code", "original_end_to_end_id", "original_client_code", "original_id", "transfer_id")


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("email", name="uq_console_users_email"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.String(255), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "discrepancies",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("object_id", sa.String(240), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expected_cents", sa.BigInteger(), nullable=False),
        sa.Column("settled_cents", sa.BigInteger(), nullable=False),
        sa.Column("last_event_id", _ID, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(254), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(254), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.UniqueConstraint("object_id", "kind", "type", name="uq_discrepancies_object_kind_type"),
    )
    op.create_index("ix_discrepancies_status_id", "discrepancies", ["status", "id"])
    op.create_index("ix_discrepancies_object_id", "discrepancies", ["object_id"])
    op.create_table(
        "discrepancy_notes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("discrepancy_id", _ID, sa.ForeignKey("discrepancies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("event_id", _ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("type", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("expected_cents", sa.BigInteger(), nullable=True),
        sa.Column("settled_cents", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_discrepancy_notes_discrepancy_id", "discrepancy_notes", ["discrepancy_id"])
    op.create_index("ix_events_status_id", "events", ["status", "id"])
    op.create_index("ix_events_idempotency_key", "events", ["idempotency_key"])
    op.create_index("ix_ledger_objects_last_event_at", "ledger_objects", ["last_event_at"])
    # References linking a return to its payout, inside the folded state (ledger/discrepancies.py
    # ``ref_column``: the query's expression must be this text for the index to serve it).
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _REFS:
        expression = f"(state #>> '{{refs,{name}}}')" if postgres else f"json_extract(state, '$.refs.{name}')"
        op.execute(f"CREATE INDEX ix_ledger_objects_ref_{name} ON ledger_objects ({expression})")


def downgrade() -> None:
    for name in _REFS:
        op.drop_index(f"ix_ledger_objects_ref_{name}", table_name="ledger_objects")
    op.drop_index("ix_ledger_objects_last_event_at", table_name="ledger_objects")
    op.drop_index("ix_events_idempotency_key", table_name="events")
    op.drop_index("ix_events_status_id", table_name="events")
    op.drop_table("discrepancy_notes")
    op.drop_table("discrepancies")
    op.drop_table("audit_log")
    op.drop_table("console_users")
