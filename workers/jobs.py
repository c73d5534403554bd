"""Jobs the workers run. ``process_event`` receives exactly what ``enqueue_event`` queued."""

from __future__ import annotations

from typing import Any

import structlog

from schemas.envelope import Envelope

log = structlog.get_logger(__name__)


def process_event(data: dict[str, Any]) -> str:
    envelope = Envelope.from_dict(data)
    log.info(
        "event.received",
        provider=envelope.provider,
        event_code=envelope.event_code,
        idempotency_key=envelope.idempotency_key,
        status=envelope.status,
    )
    return envelope.status
