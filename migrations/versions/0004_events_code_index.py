"""Index events by (event_code, provider) instead of (provider, event_code).

The worker locks a batch of events by (provider, idempotency_key), one lookup per key. With the
provider leading both indexes, a planner working from stale statistics (a table analysed while
still empty) may pick (provider, event_code) and filter every row of that provider for each key:
a full scan per key. With the code leading, only the unique (provider, idempotency_key) index
fits the lookup. Filters by code (``events list --code``) are served better too, and a filter
by provider alone uses the unique index's leading column.

Revision ID: 0004_events_code_index
Revises: 0003_lz4_bodies
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_events_code_index"
down_revision: str | None = "0003_lz4_bodies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_code_provider", "events", ["event_code", "provider"])
    op.drop_index("ix_events_provider_code", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_provider_code", "events", ["provider", "event_code"])
    op.drop_index("ix_events_code_provider", table_name="events")
