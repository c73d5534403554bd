"""Transfeera. Contract: ../shared/providers.md §3; seed 004.

Quirks this module exists for:
- ``Transfeera-Signature: t=<ms>,v1=<hex>`` = HMAC-SHA256(secret, ``t + "." + raw body``);
  several ``v1`` may be present (any match is enough) and other schemes are ignored, as the
  docs demand against downgrade attacks (§3.2);
- ``t`` is checked against a tolerance window (``TRANSFEERA_TOLERANCE_SECONDS``, 24 h by
  default: the docs publish no window and no retry spacing, and dedup by event id already
  neutralises a replay). A 10-digit ``t`` is read as seconds, since the HMAC covers the
  digits as sent either way;
- creating or updating a webhook URL POSTs an **unsigned** ``{"test": true}``; it must get a
  2xx and cause nothing (§3.4). Any other unsigned body is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from config import Secrets, Settings
from providers._common import body_digest, hex_digest_or_none, parse_json_object, signature_matches
from providers.errors import Unauthenticated
from providers.timeparse import parse_timestamp
from providers.types import Described, Headers
from schemas.envelope import RECEIVED
from schemas.transfeera import SCHEMA

NAME = "transfeera"
UNAUTHENTICATED_STATUS = 401
UNAVAILABLE_STATUS = 503  # Transfeera retries any non-2xx, twice (providers.md §3.7)
ENTITY_IN_PATH = False
CHALLENGE = None
HEADER = "Transfeera-Signature"

_PROBE = re.compile(rb'\s*\{\s*"test"\s*:\s*true\s*\}\s*')
_MAX_HEADER = 4096
_MAX_SIGNATURES = 8


def credentials(settings: Settings) -> Secrets | None:
    return settings.transfeera_secrets


def is_probe(headers: Headers, raw: bytes) -> bool:
    """The unsigned ``{"test": true}`` sent when a URL is registered (matched on bytes, unparsed)."""
    return len(raw) < 64 and _PROBE.fullmatch(raw) is not None


def expected(secret: bytes, t: str, raw: bytes) -> bytes:
    """HMAC-SHA256 of ``t + "." + raw``: what ``sign`` sends and ``authenticate`` compares against."""
    return hmac.new(secret, t.encode() + b"." + raw, hashlib.sha256).digest()


def authenticate(headers: Headers, raw: bytes, settings: Settings, now: float) -> None:
    secrets = settings.transfeera_secrets or ()
    value = headers.get(HEADER)
    if value is None:
        raise Unauthenticated(f"missing {HEADER} header", "missing")
    if len(value) > _MAX_HEADER:
        raise Unauthenticated(f"{HEADER} header too long")
    timestamp: str | None = None
    candidates: list[bytes] = []
    for element in value.split(","):
        key, sep, item = element.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = item
        elif key == "v1" and len(candidates) < _MAX_SIGNATURES:
            digest = hex_digest_or_none(item, 32)
            if digest is not None:
                candidates.append(digest)
    if timestamp is None or not re.fullmatch(r"\d{10}|\d{13}", timestamp):
        raise Unauthenticated(f"{HEADER} has no valid t= timestamp")
    if not candidates:
        raise Unauthenticated(f"{HEADER} has no valid v1= signature")
    if not signature_matches((expected(secret, timestamp, raw) for secret in secrets), candidates):
        raise Unauthenticated(f"{HEADER} does not match the body")
    seconds = int(timestamp) / (1000 if len(timestamp) == 13 else 1)
    if seconds < now - settings.transfeera_tolerance_seconds:
        raise Unauthenticated(f"{HEADER} timestamp is older than the tolerance window", "stale_timestamp")
    if seconds > now + settings.transfeera_future_skew_seconds:
        raise Unauthenticated(f"{HEADER} timestamp is in the future", "stale_timestamp")


def parse(raw: bytes, content_type: str) -> dict[str, Any]:
    return parse_json_object(raw)


def describe(payload: dict[str, Any], headers: Headers, raw: bytes, entity: str | None) -> Described:
    data = SCHEMA.load(payload)
    return Described(
        event_code=data["object"],
        original_code=data["object"],
        idempotency_key=f"event:{data['id']}",
        occurred_at=parse_timestamp(data.get("date")),
        status=RECEIVED,
        payload=data,
    )


def fallback_key(headers: Headers, raw: bytes) -> str:
    return body_digest(raw)


def code_hint(headers: Headers) -> str | None:
    return None


def delivery_headers(headers: Headers) -> dict[str, str]:
    return {}


def headers_from_delivery(delivery: Mapping[str, str]) -> dict[str, str]:
    return {}


def sign(raw: bytes, creds: Secrets, now: float) -> dict[str, str]:
    """The header Transfeera would send for ``raw`` at ``now`` (``t`` in milliseconds), with the first secret."""
    t = str(round(now * 1000))
    return {HEADER: f"t={t},v1={expected(creds[0], t, raw).hex()}"}
