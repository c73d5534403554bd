"""The providers we receive from, and the one path every request takes through them.

A provider module is a small complete unit with the same surface (no Flask inside, so each
is tested as pure functions over headers and bytes):

- ``NAME``, ``UNAUTHENTICATED_STATUS``
- ``credentials(settings)``: None when the provider is disabled
- ``is_probe(headers, raw)``: a registration test that must get 2xx and cause nothing
- ``authenticate(headers, raw, settings, now)``: raises ``Unauthenticated``
- ``parse(raw, content_type)``: bytes → dict with Decimal amounts, raises ``Invalid``
- ``describe(payload, headers, raw, entity)``: validated payload, event code, idempotency key
- ``fallback_key(headers, raw)``, ``code_hint(headers)``: for bodies that fail validation
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from marshmallow import ValidationError

from providers import celcoin, kobana, transfeera
from providers.errors import Invalid
from providers.types import Described
from schemas.envelope import QUARANTINED, Envelope

#: Every provider by the name used in its URL (``/webhooks/<name>``).
PROVIDERS: dict[str, ModuleType] = {m.NAME: m for m in (kobana, celcoin, transfeera)}


def receive(
    provider: ModuleType,
    headers: Mapping[str, str],
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
    delivery = kobana.delivery_headers(headers) if provider is kobana else {}
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


def describe(
    provider: ModuleType, headers: Mapping[str, str], raw: bytes, content_type: str, entity: str | None
) -> Described:
    """Parse and validate; raises ``Invalid`` or ``ValidationError``. Shared with replay."""
    payload: dict[str, Any] = provider.parse(raw, content_type)
    described: Described = provider.describe(payload, headers, raw, entity)
    return described


def load_payload(envelope: Envelope) -> dict[str, Any]:
    """Rebuild the validated payload (Decimal amounts) from the exact bytes on the queue."""
    provider = PROVIDERS[envelope.provider]
    return describe(provider, {}, envelope.raw, envelope.content_type, envelope.entity).payload
