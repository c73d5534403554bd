"""Kobana charges: ``bank_billet.*`` and ``bank_billet_payment.*`` → ``boleto``, ``pix.*`` → ``pix_charge``
(providers.md §1.5-1.6; Kobana's payloads.mdx; docs/reconciliation.md has the audit of every code).

- Object ids: a boleto is ``kobana:<id>`` (its numeric id, which every boleto and payment event
  carries), a Pix charge ``kobana:<uid>``. A boleto event that names only the uid (the "Comando"
  shape) reaches the same object through the ``aka`` the other events record (``ledger.store``).
- Provider time is the envelope's ``occurred_at`` (seed 002) or the resource's ``updated_at``.
- Command events (``*.register.*``, ``*.cancel.*``, ``*.update.*``...) carry the *command* as
  ``object``, with the resource nested under ``bank_billet`` or ``pix``, in two published shapes:
  with ``resource_type`` + ``resource_uid`` (the "Comando" section) or without them (the Boleto
  tab, "Pix — operações"). Both are read; the command's own id never becomes a ledger object.
  Only ``.confirmed`` commands are facts: a requested, failed or error command changed nothing.
- Payments are identified by Kobana's payment id (``bank_billet_payments[].id``, the id of a
  ``bank_billet_payment.*`` event) or, for Pix, the end-to-end id, so a payment reported by two
  events counts once. Their ``bank_rate`` (fee) and ``credit_at`` (credit day) are kept.
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

#: Keys that only a command object has (a boleto or Pix resource never does). Not ``resource_type``
#: alone: seed 002's envelope puts its resource's type on the object (schemas/kobana.py).
_COMMAND_KEYS = ("operation", "resource_uid")


def _command(obj: Mapping[str, Any], name: str) -> tuple[Mapping[str, Any], bool]:
    """The resource an event is about, and whether ``obj`` was a command wrapping it.

    In a command, only the nested resource (and ``resource_uid``) name the resource: the
    command's ``id`` and ``uid`` are the command's own.
    """
    if not any(key in obj for key in _COMMAND_KEYS):
        return obj, False
    nested = obj.get(name)
    resource = dict(nested) if isinstance(nested, Mapping) else {}
    if not resource.get("uid") and ref(obj.get("resource_uid")):
        resource["uid"] = obj.get("resource_uid")
    return resource, True


def _when(src: Source, obj: Mapping[str, Any]) -> datetime:
    return (
        parse_timestamp(src.payload.get("occurred_at"))
        or parse_timestamp(obj.get("updated_at"), naive_tz=BRT)
        or src.occurred_at
        or src.received_at
    )


def _canceled(src: Source, status: str | None, command: bool) -> bool:
    if command:
        return src.event_code.endswith(".cancel.confirmed")
    return status == "canceled" or src.event_code.endswith(".canceled")


def _amount_changed(src: Source, command: bool) -> bool:
    """An update that legitimately changes the amount: never an ``amount_conflict``."""
    if command:
        return src.event_code.endswith(".update.confirmed")
    changes = src.payload.get("changes") or {}
    return src.event_code.endswith(".updated") and ("amount" in changes or "amount_cents" in changes)


def _boleto_payment(item: Mapping[str, Any]) -> Payment | None:
    amount = to_decimal(item.get("paid_amount"))
    if amount is None:
        return None
    return Payment(
        ref(item.get("id")) or f"paid:{item.get('paid_at')}",
        amount,
        fee=to_decimal(item.get("bank_rate")),
        credit_on=parse_date(item.get("credit_at")),
    )


@extracts("kobana", "bank_billet.*")
def bank_billet(src: Source) -> list[Fact]:
    raw = src.payload.get("object") or {}
    obj, command = _command(raw, "bank_billet")
    number, uid = ref(obj.get("id")), ref(obj.get("uid"))
    if (number or uid) is None or (command and not src.event_code.endswith(".confirmed")):
        return []
    status = ref(obj.get("status"))
    payments = tuple(
        payment
        for item in obj.get("bank_billet_payments") or ()
        if isinstance(item, Mapping) and (payment := _boleto_payment(item)) is not None
    )
    paid_amount = to_decimal(obj.get("paid_amount"))
    if not payments and status == "paid" and paid_amount:
        legacy_fee = to_decimal(obj.get("bank_rate"))  # Boleto Simples put the payment on the boleto
        payments = (Payment(f"paid:{obj.get('paid_at')}", paid_amount, fee=legacy_fee),)
    adjustments: dict[str, Any] = {}
    if status == "paid":
        discount = sum(
            (v for v in (to_decimal(obj.get("discount_value")), to_decimal(obj.get("reduction_amount"))) if v),
            start=ZERO,
        )
        adjustments = amounts(fine=obj.get("fine_value"), interest=obj.get("interest_value"))
        if discount:
            adjustments["discount"] = discount
    return [
        Fact(
            object_id=f"kobana:{number or uid}",
            aka=f"kobana:{uid}" if number and uid else None,
            provider="kobana",
            kind="boleto",
            event_id=src.event_id,
            key=src.idempotency_key,
            at=_when(src, raw),
            code=src.event_code,
            status=status,
            amount=to_decimal(obj.get("amount")),
            amount_changed=_amount_changed(src, command),
            payments=payments,
            adjustments=adjustments,
            refs=refs(
                id=number,
                uid=uid,
                external_id=obj.get("external_id"),
                control_number=obj.get("control_number"),
                our_number=obj.get("our_number"),
                txid=obj.get("pix_txid"),
            ),
            lifecycle=not src.event_code.endswith(".paid"),
            canceled=_canceled(src, status, command),
            opened_at=parse_timestamp(obj.get("created_at"), naive_tz=BRT),
            due_date=parse_date(obj.get("expire_at")),
        )
    ]


@extracts("kobana", "bank_billet_payment.created", "bank_billet_payment.updated")
def bank_billet_payment(src: Source) -> list[Fact]:
    """A boleto's payment on its own (payloads.mdx "Pagamento de Boleto"): the payment, its fee and
    credit day, for the boleto ``bank_billet_id``; not proof the boleto was seen created."""
    obj = src.payload.get("object") or {}
    boleto, payment = ref(obj.get("bank_billet_id")), _boleto_payment(obj)
    if boleto is None or payment is None or ref(obj.get("id")) is None:
        return []
    return [
        Fact(
            object_id=f"kobana:{boleto}",
            provider="kobana",
            kind="boleto",
            event_id=src.event_id,
            key=src.idempotency_key,
            at=_when(src, obj),
            code=src.event_code,
            amount=to_decimal(obj.get("amount")),
            payments=(payment,),
            refs=refs(id=boleto, our_number=obj.get("our_number")),
            lifecycle=False,
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
            amount_changed=_amount_changed(src, command),
            payments=payments,
            refs=refs(
                id=obj.get("id"),
                uid=obj.get("uid"),
                txid=obj.get("txid"),
                end_to_end_id=e2e,
                external_id=obj.get("external_id"),
            ),
            lifecycle=not src.event_code.endswith(".paid"),
            canceled=_canceled(src, status, command),
            opened_at=parse_timestamp(obj.get("created_at"), naive_tz=BRT),
            due_date=parse_date(obj.get("expire_at")),
        )
    ]
