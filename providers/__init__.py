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

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from marshmallow import ValidationError

from providers import celcoin, kobana, transfeera
from providers.errors import Invalid
from providers.types import Described
from schemas.envelope import MAX_CODE, MAX_CONTENT_TYPE, MAX_REQUEST_ID, QUARANTINED, Envelope, fit, fit_key

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
        code = fit(provider.code_hint(headers) or entity or "unknown", MAX_CODE) or "unknown"
        return Envelope(
            provider=provider.NAME,
            event_code=code,
            original_code=code,
            idempotency_key=fit_key(provider.fallback_key(headers, raw)),
            received_at=received_at,
            raw=raw,
            content_type=fit(content_type, MAX_CONTENT_TYPE) or "",
            status=QUARANTINED,
            entity=entity,
            delivery=delivery,
            errors=errors,
            request_id=fit(request_id, MAX_REQUEST_ID),
        )
    return Envelope(
        provider=provider.NAME,
        event_code=described.event_code,
        original_code=described.original_code,
        idempotency_key=described.idempotency_key,
        received_at=received_at,
        raw=raw,
        content_type=fit(content_type, MAX_CONTENT_TYPE) or "",
        status=described.status,
        occurred_at=described.occurred_at,
        entity=entity,
        delivery=delivery,
        request_id=fit(request_id, MAX_REQUEST_ID),
        payload=described.payload,
    )


def describe(
    provider: ModuleType, headers: Mapping[str, str], raw: bytes, content_type: str, entity: str | None
) -> Described:
    """Parse and validate; raises ``Invalid`` or ``ValidationError``. Shared with replay."""
    payload: dict[str, Any] = provider.parse(raw, content_type)
    described: Described = provider.describe(payload, headers, raw, entity)
    return dataclasses.replace(
        described,
        event_code=fit(described.event_code, MAX_CODE),
        original_code=fit(described.original_code, MAX_CODE),
        idempotency_key=fit_key(described.idempotency_key),
    )


def load_payload(envelope: Envelope) -> dict[str, Any]:
    """Rebuild the validated payload (Decimal amounts) from the exact bytes on the queue."""
    provider = PROVIDERS[envelope.provider]
    return describe(provider, {}, envelope.raw, envelope.content_type, envelope.entity).payload
