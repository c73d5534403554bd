"""PostgreSQL: compress stored bodies and payloads with lz4 instead of pglz.

Every event's raw body and payload (~7 KB each for a Kobana boleto) is TOAST-compressed on
insert. pglz made that about a quarter of PostgreSQL's CPU per event in the worker benchmark
(bench/README.md); lz4 compresses as well for these bodies at a fraction of the CPU. Only new
values use it; existing rows are not rewritten. A server built without lz4 keeps pglz.

Revision ID: 0003_lz4_bodies
Revises: 0002_ledger
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_lz4_bodies"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SET = """
DO $$
BEGIN
    ALTER TABLE events ALTER COLUMN raw SET COMPRESSION {method}, ALTER COLUMN payload SET COMPRESSION {method};
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_object THEN
    RAISE NOTICE 'lz4 compression is not available on this server: keeping pglz';
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and op.get_bind().dialect.server_version_info >= (14,):
        op.execute(_SET.format(method="lz4"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and op.get_bind().dialect.server_version_info >= (14,):
        op.execute(_SET.format(method="pglz"))
