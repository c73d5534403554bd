"""Transfeera scenarios: payouts (Transfer lifecycle, failed, returned, pending) and Pix received."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.traffic.month import Gen
from ledger.traffic.truth import ZERO, Expect

TRANSFERS = {"finished": 44, "failed": 5, "returned": 4, "partly_returned": 3, "pending": 2, "recent": 2,
             "amount_conflict": 2}  # fmt: skip
LIFECYCLE = ("CRIADO", "RECEBIDO", "TRANSFERIDO", "FINALIZADO")
CASH_INS = 30
MATCHED_CASH_INS = 6  # Pix paid to one of our Kobana charges, seen again by Transfeera
CASH_IN_REFUNDS = {"DEVOLVIDO": 3, "NAO_REALIZADO": 1}


def generate(gen: Gen, paid_pix: list[dict[str, Any]]) -> None:
    for scenario, count in TRANSFERS.items():
        for _ in range(count):
            _transfer(gen, scenario)
    cash_ins = [_cash_in(gen, None) for _ in range(CASH_INS)]
    for charge in paid_pix[:MATCHED_CASH_INS]:
        _cash_in(gen, charge)
    refunded = iter(cash_ins)
    for status, count in CASH_IN_REFUNDS.items():
        for _ in range(count):
            _cash_in_refund(gen, next(refunded), status)


def _transfer(gen: Gen, scenario: str) -> None:
    n = gen.next_id()
    ident = str(60_000 + n)
    value = gen.cents(50, 5000)
    created = gen.month.end - timedelta(hours=gen.rng.randint(2, 20)) if scenario == "recent" else gen.moment()
    expect = Expect("transfeera", "transfer", f"transfeera:{ident}", expected=value, settled=ZERO)
    gen.month.objects.append(expect)
    e2e = gen.e2e(created + timedelta(hours=1), "27084098")
    base = {"id": ident, "value": value, "created_at": _utc(created), "integration_id": f"payout-{n}",
            "idempotency_key": f"payout-{n}", "batch_id": str(1400 + n // 10)}  # fmt: skip

    def event(status: str, at: datetime, **data: Any) -> None:
        extra = {"pix_end2end_id": e2e, "transfer_date": at.date().isoformat()} if status in LIFECYCLE[2:] else {}
        gen.transfeera(expect, "Transfer", at, {**base, "status": status, **extra, **data})

    steps = {"failed": 2, "pending": gen.rng.randint(1, 2), "recent": 1}.get(scenario, 4)
    for i, status in enumerate(LIFECYCLE[:steps]):
        event(status, created + timedelta(minutes=7 * i))
    done = created + timedelta(minutes=30)
    if scenario in ("finished", "returned", "partly_returned"):
        expect.settled = value
    if scenario == "failed":
        event("FALHA", done, status_description="Conta destino inválida", error={"code": "CONTA_INVALIDA"})
        expect.flag("payout_failed", value, ZERO)
    elif scenario in ("pending", "recent"):
        expect.pending_since = created
    elif scenario == "amount_conflict":
        other = value + gen.cents(1, 20)
        event("FINALIZADO", done, value=other)
        expect.expected = expect.settled = other
        expect.flag("amount_conflict", value, other)
    elif scenario in ("returned", "partly_returned"):
        back = value if scenario == "returned" else (value * Decimal("0.4")).quantize(Decimal("0.01"))
        returned_at = created + timedelta(days=2)
        if scenario == "returned":
            event("DEVOLVIDO", returned_at, returned_date=returned_at.date().isoformat())
        refund = _refund(gen, ident, back, returned_at + timedelta(minutes=1), e2e, partial=back != value)
        expect.flag("payout_returned", value, value - back, refund.keys)


def _refund(gen: Gen, transfer_id: str, value: Decimal, at: datetime, e2e: str, partial: bool) -> Expect:
    ident = gen.uuid()
    expect = Expect("transfeera", "transfer_refund", f"transfeera:{ident}", expected=value, settled=value)
    gen.month.objects.append(expect)
    data = {"id": ident, "value": value, "partial": partial, "end2end_id": e2e, "transfer_id": transfer_id,
            "integration_id": f"refund-{transfer_id}"}  # fmt: skip
    gen.transfeera(expect, "TransferRefund", at, data)
    return expect


def _cash_in(gen: Gen, charge: dict[str, Any] | None) -> dict[str, Any]:
    ident = gen.uuid()
    at = charge["paid_at"] + timedelta(seconds=3) if charge else gen.moment()
    value = charge["amount"] if charge else gen.cents(20, 3000)
    e2e = charge["e2e"] if charge else gen.e2e(at, "00000000")
    txid = charge["txid"] if charge else "tf" + gen.hex(24)
    expect = Expect("transfeera", "pix_in", f"transfeera:{ident}", expected=value, settled=value)
    expect.matched = charge is not None
    gen.month.objects.append(expect)
    data = {"id": ident, "value": value, "end2end_id": e2e, "txid": txid, "integration_id": f"cashin-{ident[:8]}"}
    gen.transfeera(expect, "CashIn", at, data)
    return {"e2e": e2e, "value": value, "at": at}


def _cash_in_refund(gen: Gen, cash_in: dict[str, Any], status: str) -> None:
    ident = gen.uuid()
    value = cash_in["value"]
    settled = value if status == "DEVOLVIDO" else ZERO
    expect = Expect("transfeera", "cashin_refund", f"transfeera:{ident}", expected=value, settled=settled)
    gen.month.objects.append(expect)
    data = {"id": ident, "status": status, "value": value, "original_end2end_id": cash_in["e2e"],
            "return_id": "D" + gen.hex(31), "integration_id": f"devolucao-{ident[:8]}"}  # fmt: skip
    gen.transfeera(expect, "CashInRefund", cash_in["at"] + timedelta(hours=4), data)


def _utc(moment: datetime) -> str:
    from ledger.traffic.bodies import utc_ms

    return utc_ms(moment)
