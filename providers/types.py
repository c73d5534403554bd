"""What a provider module tells the view about an authentic, valid body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Described:
    event_code: str
    original_code: str
    idempotency_key: str
    occurred_at: datetime | None
    status: str
    payload: dict[str, Any]
