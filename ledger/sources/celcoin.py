"""Celcoin BaaS entities (providers.md §2.6): ``pix-payment-in`` → ``pix_in``, ``spb-transfer-in``
→ ``ted_in``, ``pix-payment-out`` → ``pix_out``, ``spb-transfer-out`` → ``ted_out`` (PENDING →
CONFIRMED | ERROR), ``pix-reversal-in`` → ``pix_reversal_in``, ``pix-reversal-out`` → ``pix_reversal_out``.

Provider time is ``createTimestamp`` (read as UTC when it has no offset, like the door does).
The legacy ``{"RequestBody": ...}`` shape is read too. Key casing varies, hence ``ci_get``.
A cash-in under precautionary block reports ``amount`` 0.00 until released (§2.6): the fold
treats a zero amount as "not stated", never as a conflicting amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.facts import Fact, Source, extracts, ref, refs
from ledger.money import to_decimal
from providers.celcoin import ci_get
from providers.timeparse import BRT, parse_timestamp

KINDS = {
    "pix-payment-in": "pix_in",
    "spb-transfer-in": "ted_in",
    "pix-payment-out": "pix_out",
    "spb-transfer-out": "ted_out",
    "pix-reversal-in": "pix_reversal_in",
    "pix-reversal-out": "pix_reversal_out",
}


def _unpack(src: Source) -> tuple[Mapping[str, Any], str | None, Any]:
    payload = src.payload
    legacy = payload.get("RequestBody")
    if isinstance(legacy, Mapping):
        status = (legacy.get("StatusCode") or {}).get("Description")
        when = parse_timestamp(ci_get(legacy, "createdTimestamp", "CreateTimestamp"), naive_tz=BRT)
        return legacy, status, when
    body = payload.get("body")
    return (
        (body if isinstance(body, Mapping) else {}),
        payload.get("status"),
        parse_timestamp(payload.get("createTimestamp")),
    )


@extracts("celcoin", *KINDS)
def baas(src: Source) -> list[Fact]:
    body, status, when = _unpack(src)
    ident = ref(ci_get(body, "id", "TransactionId", "EndToEndId", "clientCode"))
    if ident is None:
        return []
    return [
        Fact(
            object_id=f"celcoin:{ident}",
            provider="celcoin",
            kind=KINDS[src.event_code],
            event_id=src.event_id,
            key=src.idempotency_key,
            at=when or src.occurred_at or src.received_at,
            code=src.event_code,
            status=text.upper() if (text := ref(status)) else None,
            amount=to_decimal(ci_get(body, "amount")),
            refs=refs(
                id=ci_get(body, "id", "TransactionId"),
                end_to_end_id=ci_get(body, "endToEndId"),
                txid=ci_get(body, "transactionIdentification"),
                client_code=ci_get(body, "clientCode"),
                num_ctrl_str=ci_get(body, "numCtrlStr"),
                original_id=ci_get(body, "originalId", "originalPaymentId"),
                original_end_to_end_id=ci_get(body, "originalEndToEndId"),
                original_client_code=ci_get(body, "originalClientCode"),
                return_id=ci_get(body, "returnIdentification"),
            ),
        )
    ]
