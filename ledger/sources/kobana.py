"""Kobana charges: ``bank_billet.*`` → ``boleto``, ``pix.*`` → ``pix_charge`` (providers.md §1.5-1.6).

- Provider time is the envelope's ``occurred_at`` (seed 002) or the resource's ``updated_at``.
- Command-style events (``*.register.confirmed``, ``*.cancel.confirmed``...) carry the command
  as ``object`` and the resource nested under its type (payloads.mdx); both shapes are read.
- Payments are identified by Kobana's payment id (``bank_billet_payments[].id``) or, for Pix,
  the end-to-end id, so a payment reported by two events counts once.
- Fine, interest and discount are read only from a payment notice (the object's ``fine_value``,
  ``interest_value``, ``discount_value``/``reduction_amount`` on a paid boleto): on an open
  boleto those fields are the *rules* for a late payment, not money owed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledger.facts import Fact, Payment, Source, amounts, extracts, ref, refs
from ledger.money import ZERO, to_decimal
from providers.timeparse import BRT, parse_date, parse_timestamp


def _command(obj: Mapping[str, Any], name: str) -> tuple[Mapping[str, Any], bool]:
    """The resource inside a command-style object, and whether it was one."""
    if "operation" in obj and "resource_type" in obj:
        nested = obj.get(name)
        resource = dict(nested) if isinstance(nested, Mapping) else {}
        resource.setdefault("uid", obj.get("resource_uid"))
        return resource, True
    return obj, False


def _when(src: Source, obj: Mapping[str, Any]) -> datetime:
    return (
        parse_timestamp(src.payload.get("occurred_at"))
        or parse_timestamp(obj.get("updated_at"), naive_tz=BRT)
        or src.occurred_at
        or src.received_at
    )


def _canceled(src: Source, status: str | None, command: bool, obj: Mapping[str, Any]) -> bool:
    if command:
        return src.event_code.endswith(".cancel.confirmed")
    return status == "canceled" or src.event_code.endswith(".canceled")


@extracts("kobana", "bank_billet.*")
def bank_billet(src: Source) -> list[Fact]:
    raw = src.payload.get("object") or {}
    obj, command = _command(raw, "bank_billet")
    ident = ref(obj.get("id")) or ref(obj.get("uid"))
    if ident is None or (command and not src.event_code.endswith(".confirmed")):
        return []
    status = ref(obj.get("status"))
    payments = tuple(
        Payment(ref(p.get("id")) or f"paid:{p.get('paid_at')}", amount)
        for p in obj.get("bank_billet_payments") or ()
        if isinstance(p, Mapping) and (amount := to_decimal(p.get("paid_amount"))) is not None
    )
    paid_amount = to_decimal(obj.get("paid_amount"))
    if not payments and status == "paid" and paid_amount:
        payments = (Payment(f"paid:{obj.get('paid_at')}", paid_amount),)
    adjustments: dict[str, Any] = {}
    if status == "paid":
        discount = sum(
            (v for v in (to_decimal(obj.get("discount_value")), to_decimal(obj.get("reduction_amount"))) if v),
            start=ZERO,
        )
        adjustments = amounts(fine=obj.get("fine_value"), interest=obj.get("interest_value"))
        if discount:
            adjustments["discount"] = discount
    changes = src.payload.get("changes") or {}
    return [
        Fact(
            object_id=f"kobana:{ident}",
            provider="kobana",
            kind="boleto",
            event_id=src.event_id,
            key=src.idempotency_key,
            at=_when(src, raw),
            code=src.event_code,
            status=status,
            amount=to_decimal(obj.get("amount")),
            amount_changed=src.event_code.endswith(".updated") and ("amount" in changes or "amount_cents" in changes),
            payments=payments,
            adjustments=adjustments,
            refs=refs(
                id=obj.get("id"),
                uid=obj.get("uid"),
                external_id=obj.get("external_id"),
                control_number=obj.get("control_number"),
                our_number=obj.get("our_number"),
                txid=obj.get("pix_txid"),
            ),
            lifecycle=not src.event_code.endswith(".paid"),
            canceled=_canceled(src, status, command, obj),
            opened_at=parse_timestamp(obj.get("created_at"), naive_tz=BRT),
            due_date=parse_date(obj.get("expire_at")),
        )
    ]


@extracts("kobana", "pix.*")
def pix(src: Source) -> list[Fact]:
    raw = src.payload.get("object") or {}
    obj, command = _command(raw, "pix")
    ident = ref(obj.get("uid")) or ref(obj.get("id"))
    if ident is None or (command and not src.event_code.endswith(".confirmed")):
        return []
    status = ref(obj.get("status"))
    e2e = ref(obj.get("end_to_end_id"))
    paid_amount = to_decimal(obj.get("paid_amount"))
    payments = (Payment(e2e or f"paid:{obj.get('paid_at')}", paid_amount),) if status == "paid" and paid_amount else ()
    return [
        Fact(
            object_id=f"kobana:{ident}",
            provider="kobana",
            kind="pix_charge",
            event_id=src.event_id,
            key=src.idempotency_key,
            at=_when(src, raw),
            code=src.event_code,
            status="canceled" if command and src.event_code.endswith(".cancel.confirmed") else status,
            amount=to_decimal(obj.get("amount")),
            payments=payments,
            refs=refs(
                id=None if command else obj.get("id"),
                uid=obj.get("uid"),
                txid=obj.get("txid"),
                end_to_end_id=e2e,
                external_id=obj.get("external_id"),
            ),
            lifecycle=not src.event_code.endswith(".paid"),
            canceled=_canceled(src, status, command, obj),
            opened_at=parse_timestamp(obj.get("created_at"), naive_tz=BRT) if not command else None,
            due_date=parse_date(obj.get("expire_at")),
        )
    ]
