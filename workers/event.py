"""The normalized event every handler receives: typed, Decimal amounts, never a Flask request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
