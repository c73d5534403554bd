"""The providers we receive from, and the one path every request takes through them.

Each provider module is a complete unit with the surface ``providers.types.Provider`` declares
(mypy checks every module against it): what differs between providers lives in its module,
never in a branch on its name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from providers import celcoin, kobana, transfeera
from providers.errors import Invalid
from providers.types import Described, Headers, Provider
from schemas.envelope import QUARANTINED, Envelope

#: Every provider by the name used in its URL (``/webhooks/<name>``).
PROVIDERS: dict[str, Provider[Any]] = {kobana.NAME: kobana, celcoin.NAME: celcoin, transfeera.NAME: transfeera}


def receive(
    provider: Provider[Any],
    headers: Headers,
    raw: bytes,
    *,
    content_type: str,
    entity: str | None,
    received_at: datetime,
    request_id: str | None = None,
) -> Envelope:
    """Turn an *authenticated* body into its envelope; an invalid one is quarantined, not refused.

    Providers give up on 4xx, and an authentic notification must never be lost, so a body that
    fails parsing or validation becomes a ``quarantined`` envelope for an operator to replay.
    """
    delivery = provider.delivery_headers(headers)
    try:
        described = describe(provider, headers, raw, content_type, entity)
    except (Invalid, ValidationError) as exc:
        errors = exc.errors if isinstance(exc, Invalid) else exc.messages
        code = provider.code_hint(headers) or entity or "unknown"
        return Envelope(
            provider=provider.NAME,
            event_code=code,
            original_code=code,
            idempotency_key=provider.fallback_key(headers, raw),
            received_at=received_at,
            raw=raw,
            content_type=content_type,
            status=QUARANTINED,
            entity=entity,
            delivery=delivery,
            errors=errors,
            request_id=request_id,
        )
    return Envelope(
        provider=provider.NAME,
        event_code=described.event_code,
        original_code=described.original_code,
        idempotency_key=described.idempotency_key,
        received_at=received_at,
        raw=raw,
        content_type=content_type,
        status=described.status,
        occurred_at=described.occurred_at,
        entity=entity,
        delivery=delivery,
        request_id=request_id,
        payload=described.payload,
    )


def describe(provider: Provider[Any], headers: Headers, raw: bytes, content_type: str, entity: str | None) -> Described:
    """Parse and validate; raises ``Invalid`` or ``ValidationError``. Shared with replay."""
    return provider.describe(provider.parse(raw, content_type), headers, raw, entity)


def load_payload(envelope: Envelope) -> dict[str, Any]:
    """Rebuild the validated payload (Decimal amounts) from the exact bytes on the queue."""
    provider = PROVIDERS[envelope.provider]
    return describe(provider, {}, envelope.raw, envelope.content_type, envelope.entity).payload
