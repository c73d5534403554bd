"""Celcoin. Contract: ../shared/providers.md §2; seed 003.

Quirks this module exists for:
- authentication is HTTP Basic with the login/pwd registered per subscription; no signature
  exists (§2.3), so both halves are compared in constant time and a failure gets 401 with
  ``WWW-Authenticate``;
- four payload families (§2.2): the BaaS envelope ``{entity, createTimestamp, status, body}``,
  the legacy Pix ``{"RequestBody": {...}}``, ``{webhookId, body}`` and flat cel_card bodies
  whose entity is known only from the URL (Celcoin registers one URL per entity);
- ``createTimestamp`` has 7 fractional digits and no offset; we read it as UTC (the other
  published examples carry ``+00:00``). The legacy ``createdTimestamp`` is documented as
  Brazilian time;
- the same Pix arrives as PENDING then CONFIRMED, so the idempotency key includes the status.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import Authorization

from config import CelcoinCreds, Settings
from providers._common import body_digest, parse_json_object
from providers.errors import Invalid, Unauthenticated
from providers.timeparse import BRT, parse_timestamp
from providers.types import Described, Headers
from schemas.celcoin import BAAS, FLAT, LEGACY_PIX, WEBHOOK_ID
from schemas.envelope import RECEIVED

NAME = "celcoin"
UNAUTHENTICATED_STATUS = 401
UNAVAILABLE_STATUS = 503  # Celcoin retries anything but a 200 (providers.md §2.7)
#: Celcoin registers one URL per entity, and flat bodies are known only by it (§2.2).
ENTITY_IN_PATH = True
CHALLENGE = 'Basic realm="webhooks", charset="UTF-8"'

#: Legacy Pix ``TransactionType`` → the BaaS entity with the same meaning (§2.6, 3P).
LEGACY_TYPES = {"RECEIVEPIX": "pix-payment-in", "PAYMENT": "pix-payment-out", "REVERTED": "pix-reversal-in"}

#: Keys that identify the transaction a body is about, most specific first.
ID_KEYS = ("id", "endToEndId", "clientCode", "clientRequestId", "cardId", "accountId", "transactionId")


def ci_get(mapping: Mapping[str, Any], *names: str) -> Any:
    """First value among ``names``, matching keys case-insensitively.

    Celcoin spells the same key ``clientFinality`` and ``clientfinality`` (providers.md §2.6).
    """
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


def credentials(settings: Settings) -> CelcoinCreds | None:
    return settings.celcoin


def is_probe(headers: Headers, raw: bytes) -> bool:
    return False


def authenticate(headers: Headers, raw: bytes, settings: Settings, now: float) -> None:
    creds = settings.celcoin
    value = headers.get("Authorization")
    if creds is None or not value:
        raise Unauthenticated("missing Basic credentials", "missing")
    auth = Authorization.from_header(value)
    if auth is None or auth.type != "basic" or auth.username is None or auth.password is None:
        raise Unauthenticated("malformed Authorization header (expected Basic)", "wrong_credentials")
    user_ok = hmac.compare_digest(auth.username.encode(), creds.username)
    pass_ok = hmac.compare_digest(auth.password.encode(), creds.password)
    if not (user_ok and pass_ok):
        raise Unauthenticated("wrong Basic credentials", "wrong_credentials")


def parse(raw: bytes, content_type: str) -> dict[str, Any]:
    return parse_json_object(raw)


def describe(payload: dict[str, Any], headers: Headers, raw: bytes, entity: str | None) -> Described:
    if "RequestBody" in payload:
        return _legacy_pix(LEGACY_PIX.load(payload), raw, entity)
    if "entity" in payload or ("body" in payload and "webhookId" not in payload):
        data = BAAS.load(payload)
        body = data["body"]
        return _described(data["entity"], body, data.get("status"), data.get("createTimestamp"), data, raw)
    if "webhookId" in payload:
        data = WEBHOOK_ID.load(payload)
        code = _entity_or_invalid(entity, "a webhookId body")
        return _described(code, {"id": data["webhookId"]}, ci_get(data["body"], "status"), None, data, raw)
    data = FLAT.load(payload)
    code = _entity_or_invalid(entity, "a flat body")
    when = ci_get(data, "createdAt", "createTimestamp")
    return _described(code, data, ci_get(data, "status", "operationType"), when, data, raw)


def _legacy_pix(data: dict[str, Any], raw: bytes, entity: str | None) -> Described:
    body = data["RequestBody"]
    kind = body["TransactionType"]
    code = entity or LEGACY_TYPES.get(kind.upper(), f"pix-legacy-{kind.lower()}")
    status = (body.get("StatusCode") or {}).get("Description") or (body.get("StatusCode") or {}).get("StatusId")
    ident = ci_get(body, "EndToEndId", "TransactionId", "ClientCode") or body_digest(raw)
    when = parse_timestamp(ci_get(body, "createdTimestamp", "CreateTimestamp"), naive_tz=BRT)
    return Described(code, kind, f"{code}:{ident}:{status}", when, RECEIVED, data)


def _described(
    code: str, body: Mapping[str, Any], status: object, when: object, data: dict[str, Any], raw: bytes
) -> Described:
    ident = ci_get(body, *ID_KEYS) or body_digest(raw)
    status_text = str(status).upper() if status is not None else "-"
    return Described(code, code, f"{code}:{ident}:{status_text}", parse_timestamp(when), RECEIVED, data)


def _entity_or_invalid(entity: str | None, what: str) -> str:
    if not entity:
        raise Invalid(f"{what} carries no entity: register the URL as /webhooks/celcoin/<entity>")
    return entity


def fallback_key(headers: Headers, raw: bytes) -> str:
    return body_digest(raw)


def code_hint(headers: Headers) -> str | None:
    return None


def delivery_headers(headers: Headers) -> dict[str, str]:
    return {}


def headers_from_delivery(delivery: Mapping[str, str]) -> dict[str, str]:
    return {}


def sign(raw: bytes, creds: CelcoinCreds, now: float) -> dict[str, str]:
    """The Basic ``Authorization`` header Celcoin sends with the registered login/pwd (whatever the body)."""
    return {"Authorization": "Basic " + base64.b64encode(creds.username + b":" + creds.password).decode("ascii")}
