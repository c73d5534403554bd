"""The event log table (``events``): the system of record of everything that reached a worker.

The schema is created by ``migrations/versions/0001_events.py``; this model mirrors it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db import Base

# The event statuses live in ``schemas.status``; re-exported for the event log's readers.
from schemas.status import FAILED as FAILED
from schemas.status import IGNORED as IGNORED
from schemas.status import PING as PING
from schemas.status import PROCESSED as PROCESSED
from schemas.status import QUARANTINED as QUARANTINED
from schemas.status import RECEIVED as RECEIVED
from schemas.status import STATUSES as STATUSES

_ID = BigInteger().with_variant(Integer(), "sqlite")
_JSON = JSON().with_variant(JSONB(), "postgresql")


class EventRecord(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("provider", "idempotency_key", name="uq_events_provider_idempotency_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_code: Mapped[str] = mapped_column(String(255))
    original_code: Mapped[str] = mapped_column(String(255))
    #: At most ``MAX_KEY`` characters: longer provider keys are stored as their SHA-256 (db.bounds).
    idempotency_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The body exactly as received, byte for byte: replay and audits re-parse it.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(Text, default="")
    entity: Mapped[str | None] = mapped_column(Text)
    delivery: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    request_id: Mapped[str | None] = mapped_column(Text)
    #: Not written: the raw body is the record, and the payload is derived from it when needed
    #: (``events show``). Older rows may hold a copy (Decimal amounts as exact strings).
    payload: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    #: Why the door quarantined the body (marshmallow's ``messages`` shape).
    validation_errors: Mapped[Any] = mapped_column(_JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: ``webhook`` (the door) or ``resync`` (fetched from the provider's API), and what made it
    #: trustworthy: ``door-auth`` (signature / Basic) or ``api-tls-credentials`` (schemas.envelope).
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    trust: Mapped[str] = mapped_column(String(32), default="door-auth")
    #: Names of the handlers that ran in the transaction that marked the event processed.
    handlers: Mapped[list[str] | None] = mapped_column(_JSON)
