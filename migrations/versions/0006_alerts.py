"""Alerts: their state, the outbox of deliveries per channel, one digest per day, and marks.

- ``alerts``: one row per episode of a condition. ``open_key`` equals ``key`` while the episode
  is open and is NULL once resolved: its unique constraint means two workers can never open the
  same alert twice.
- ``alert_deliveries``: the outbox. A message is written here in the same transaction that
  decides to send it, and a channel that is down is retried from here later (``attempts``,
  ``next_attempt_at``), so an alert is never lost to a failing SMTP server or webhook.
- ``alert_digests``: one row per covered day (primary key), so the digest goes out once per day
  across any number of workers and restarts.
- ``alert_marks``: small named values; ``check`` is the row every check locks first (so checks
  run one at a time) and remembers when the last one ran.

Revision ID: 0006_alerts
Revises: 0005_sync
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_alerts"
down_revision: str | None = "0005_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("last_sent_at", _WHEN, nullable=False),
        sa.Column("resolved_at", _WHEN, nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", _JSON, nullable=True),
        sa.Column("open_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("open_key", name="uq_alerts_open_key"),
    )
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("digest_day", sa.Date(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(120), nullable=True),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sent_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_alert_deliveries_pending", "alert_deliveries", ["sent_at", "next_attempt_at"])
    op.create_table(
        "alert_digests",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_table(
        "alert_marks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", _JSON, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("alert_marks")
    op.drop_table("alert_digests")
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
