"""The normalized event every handler receives: typed, Decimal amounts, never a Flask request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from db import utc


@dataclass(frozen=True)
class Event:
    #: Event-log primary key: stable across retries and replays, so a handler that calls an
    #: outside system uses it (e.g. ``f"evt-{event.id}"``) as that system's idempotency key.
    id: int
    provider: str
    #: Canonical code (aliases applied, e.g. ``bank_billet_account.homologation_started``).
    event_code: str
    #: The code as the provider sent it (e.g. the legacy ``bank_billet_account.homologated``).
    original_code: str
    idempotency_key: str
    occurred_at: datetime | None
    received_at: datetime
    #: The validated payload, amounts as ``Decimal``.
    payload: dict[str, Any] = field(repr=False)
    raw: bytes = field(repr=False)

    @classmethod
    def from_row(cls, row: Any, payload: dict[str, Any], *, raw: bytes | None = None) -> Event:
        """The handlers' view of a stored event row; ``raw`` when the caller already holds the
        body (a batch locks rows without reading their bodies back)."""
        return cls(
            id=row.id,
            provider=row.provider,
            event_code=row.event_code,
            original_code=row.original_code,
            idempotency_key=row.idempotency_key,
            occurred_at=utc(row.occurred_at),
            received_at=utc(row.received_at) or datetime.now(UTC),
            payload=payload,
            raw=row.raw if raw is None else raw,
        )
