"""Kobana (formerly Boleto Simples). Contract: ../shared/providers.md §1; seeds 000–002.

Quirks this module exists for:
- a bad signature is answered **498**, not 401 (Kobana's own rule, §1.7);
- ``X-Kobana-Signature: sha256=<hex>`` over the raw body; legacy deliveries carry only
  ``X-Hub-Signature: sha1=<hex>`` with the same secret (§1.4). When the sha256 header is
  present it alone decides, so a forger cannot downgrade us to SHA-1;
- bodies are JSON or Rails-style ``payload[...]`` forms, per webhook setting (§1.3);
- two envelopes: the documented ``event_code/webhook/object/changes`` and seed 002's
  ``event/resource/data``; renamed codes are mapped old → new (§1.6).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from config import Secrets, Settings
from providers import formdecode
from providers._common import body_digest, hex_digest_or_none, parse_json_object, signature_matches
from providers.errors import Invalid, Unauthenticated
from providers.timeparse import parse_timestamp
from providers.types import Described, Headers
from schemas.envelope import PING, RECEIVED
from schemas.kobana import SCHEMA

NAME = "kobana"
UNAUTHENTICATED_STATUS = 498  # Kobana asks for 498 Token Invalid (providers.md §1.7)
UNAVAILABLE_STATUS = 500  # Kobana retries only a 500, timeouts and TLS errors, never a 503 (providers.md §1.7)
ENTITY_IN_PATH = False
CHALLENGE = None

#: Renamed codes, old → new; the old code is kept as ``original_code`` (seed 001).
ALIASES = {
    "bank_billet_account.homologated": "bank_billet_account.homologation_started",
    "bank_billet_account.validated": "bank_billet_account.validation_released",
}

_SIGNATURE = re.compile(r"(sha1|sha256)=(\S*)")
_DIGESTS = {"sha1": (hashlib.sha1, 20), "sha256": (hashlib.sha256, 32)}
_DELIVERY_HEADERS = {
    "delivery_id": ("X-Kobana-Delivery-Id", "X-BoletoSimples-Delivery-Id"),
    "event": ("X-Kobana-Event", "X-BoletoSimples-Event"),
    "environment": ("X-Kobana-Environment", "X-BoletoSimples-Environment"),
}


def credentials(settings: Settings) -> Secrets | None:
    return settings.kobana_secrets


def is_probe(headers: Headers, raw: bytes) -> bool:
    return False  # Kobana's test is the signed ``ping`` event, handled as an event


def expected(secret: bytes, raw: bytes, algorithm: str = "sha256") -> bytes:
    """The HMAC of the raw body: what ``sign`` sends and ``authenticate`` compares against."""
    return hmac.new(secret, raw, _DIGESTS[algorithm][0]).digest()


def authenticate(headers: Headers, raw: bytes, settings: Settings, now: float) -> None:
    secrets = settings.kobana_secrets or ()
    header, value = "X-Kobana-Signature", headers.get("X-Kobana-Signature")
    if value is None:
        header, value = "X-Hub-Signature", headers.get("X-Hub-Signature")
    if value is None:
        raise Unauthenticated("missing X-Kobana-Signature header", "missing")
    match = _SIGNATURE.fullmatch(value.strip())
    if not match or (header == "X-Kobana-Signature" and match[1] != "sha256"):
        raise Unauthenticated(f"malformed {header} header")
    algorithm = match[1]
    given = hex_digest_or_none(match[2], _DIGESTS[algorithm][1])
    if given is None:
        raise Unauthenticated(f"malformed {header} header")
    if not signature_matches((expected(secret, raw, algorithm) for secret in secrets), [given]):
        raise Unauthenticated(f"{header} does not match the body")


def parse(raw: bytes, content_type: str) -> dict[str, Any]:
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form = formdecode.decode(raw)
        payload = form.get("payload")
        if not isinstance(payload, dict):
            raise Invalid("form body has no payload[...] keys")
        return payload
    return parse_json_object(raw)


def describe(payload: dict[str, Any], headers: Headers, raw: bytes, entity: str | None) -> Described:
    data = SCHEMA.load(payload)
    original = data["event_code"]
    code = ALIASES.get(original, original)
    obj = data.get("object") or {}
    return Described(
        event_code=code,
        original_code=original,
        idempotency_key=fallback_key(headers, raw),
        occurred_at=parse_timestamp(data.get("occurred_at")) or parse_timestamp(obj.get("updated_at")),
        status=PING if code == "ping" else RECEIVED,
        payload=data,
    )


def fallback_key(headers: Headers, raw: bytes) -> str:
    """``X-Kobana-Delivery-Id`` identifies a notification (and its resends); else the body digest."""
    delivery = delivery_headers(headers).get("delivery_id")
    return f"delivery:{delivery}" if delivery else body_digest(raw)


def code_hint(headers: Headers) -> str | None:
    return delivery_headers(headers).get("event")


def delivery_headers(headers: Headers) -> dict[str, str]:
    found = {}
    for name, candidates in _DELIVERY_HEADERS.items():
        for candidate in candidates:
            value = headers.get(candidate)
            if value:
                found[name] = value.strip()[:200]
                break
    return found


def headers_from_delivery(delivery: Mapping[str, str]) -> dict[str, str]:
    return {candidates[0]: delivery[name] for name, candidates in _DELIVERY_HEADERS.items() if delivery.get(name)}


def sign(raw: bytes, creds: Secrets, now: float) -> dict[str, str]:
    """The signature header Kobana would send for ``raw``, with the first secret (``now`` unused)."""
    return {"X-Kobana-Signature": "sha256=" + expected(creds[0], raw).hex()}
