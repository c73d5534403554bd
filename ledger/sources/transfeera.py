"""Transfeera objects (providers.md §3.5-3.6): ``Transfer`` → ``transfer`` (status lifecycle),
``TransferRefund`` → ``transfer_refund``, ``CashIn`` → ``pix_in``, ``CashInRefund`` → ``cashin_refund``.

Provider time is the envelope's ``date`` (UTC). ``TransferRefund`` and ``CashIn`` carry no status:
their notice is the settlement itself.
"""

from __future__ import annotations

from ledger.facts import Fact, Source, extracts, ref, refs
from ledger.money import to_decimal
from providers.timeparse import parse_timestamp


def _fact(src: Source, kind: str, **extra: object) -> list[Fact]:
    data = src.payload.get("data") or {}
    ident = ref(data.get("id"))
    if ident is None:
        return []
    return [
        Fact(
            object_id=f"transfeera:{ident}",
            provider="transfeera",
            kind=kind,
            event_id=src.event_id,
            key=src.idempotency_key,
            at=parse_timestamp(src.payload.get("date")) or src.occurred_at or src.received_at,
            code=src.event_code,
            status=ref(data.get("status")),
            amount=to_decimal(data.get("value")),
            opened_at=parse_timestamp(data.get("created_at")),
            **extra,  # type: ignore[arg-type]
        )
    ]


@extracts("transfeera", "Transfer")
def transfer(src: Source) -> list[Fact]:
    data = src.payload.get("data") or {}
    return _fact(
        src,
        "transfer",
        refs=refs(
            id=data.get("id"),
            integration_id=data.get("integration_id"),
            idempotency_key=data.get("idempotency_key"),
            batch_id=data.get("batch_id"),
            end_to_end_id=data.get("pix_end2end_id"),
        ),
    )


@extracts("transfeera", "TransferRefund")
def transfer_refund(src: Source) -> list[Fact]:
    data = src.payload.get("data") or {}
    return _fact(
        src,
        "transfer_refund",
        refs=refs(
            id=data.get("id"),
            transfer_id=data.get("transfer_id"),
            end_to_end_id=data.get("end2end_id"),
            integration_id=data.get("integration_id"),
        ),
    )


@extracts("transfeera", "CashIn")
def cash_in(src: Source) -> list[Fact]:
    data = src.payload.get("data") or {}
    return _fact(
        src,
        "pix_in",
        refs=refs(
            id=data.get("id"),
            txid=data.get("txid"),
            end_to_end_id=data.get("end2end_id"),
            integration_id=data.get("integration_id"),
        ),
    )


@extracts("transfeera", "CashInRefund")
def cash_in_refund(src: Source) -> list[Fact]:
    data = src.payload.get("data") or {}
    return _fact(
        src,
        "cashin_refund",
        refs=refs(
            id=data.get("id"),
            original_end_to_end_id=data.get("original_end2end_id"),
            return_id=data.get("return_id"),
            integration_id=data.get("integration_id"),
        ),
    )
