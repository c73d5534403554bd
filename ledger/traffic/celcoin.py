"""Celcoin scenarios: Pix and TED in and out (PENDING → CONFIRMED | ERROR), reversals both ways."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.traffic.month import Gen
from ledger.traffic.truth import ZERO, Expect

PIX_IN = {"confirmed": 30, "blocked_then_confirmed": 5}
TED_IN = 15
PIX_OUT = {"confirmed": 22, "pending_then_confirmed": 8, "pending_then_error": 3, "error": 2, "pending": 3,
           "amount_conflict": 2}  # fmt: skip
TED_OUT = {"confirmed": 11, "error": 2, "pending": 2}
PIX_REVERSALS_IN = (Decimal("1"), Decimal("1"), Decimal("0.5"), Decimal("0.25"))  # share of the payout back
PIX_REVERSALS_OUT = 4
_KIND = {"pix-payment-in": "pix_in", "spb-transfer-in": "ted_in", "pix-payment-out": "pix_out",
         "spb-transfer-out": "ted_out", "pix-reversal-in": "pix_reversal_in",
         "pix-reversal-out": "pix_reversal_out"}  # fmt: skip
OUR_ACCOUNT = {"bank": "13935893", "branch": "0001", "account": "300123", "taxId": "13935893000109",
               "name": "Loja Centro Ltda", "accountType": "TRAN"}  # fmt: skip


def generate(gen: Gen) -> None:
    received = []
    for scenario, count in PIX_IN.items():
        received += [_money_in(gen, "pix-payment-in", scenario) for _ in range(count)]
    for _ in range(TED_IN):
        _money_in(gen, "spb-transfer-in", "confirmed")
    confirmed_outs = []
    for entity, scenarios in (("pix-payment-out", PIX_OUT), ("spb-transfer-out", TED_OUT)):
        for scenario, count in scenarios.items():
            for _ in range(count):
                out = _money_out(gen, entity, scenario)
                if entity == "pix-payment-out" and scenario == "confirmed":
                    confirmed_outs.append(out)
    for share, out in zip(PIX_REVERSALS_IN, confirmed_outs, strict=False):
        _reversal_in(gen, out, share)
    for original in received[:PIX_REVERSALS_OUT]:
        _reversal_out(gen, original)


def _expect(gen: Gen, entity: str, ident: str, amount: Decimal) -> Expect:
    expect = Expect("celcoin", _KIND[entity], f"celcoin:{ident}", expected=amount, settled=ZERO)
    gen.month.objects.append(expect)
    return expect


def _money_in(gen: Gen, entity: str, scenario: str) -> dict[str, Any]:
    ident, at = gen.uuid(), gen.moment()
    amount = gen.cents(15, 4000)
    expect = _expect(gen, entity, ident, amount)
    payer = {"bank": "00000000", "branch": "1234", "account": str(gen.rng.randint(10_000, 99_999)),
             "taxId": "12345678000190", "name": "Cliente Pagador Ltda", "accountType": "CACC",
             "personType": "LEGAL_PERSON"}  # fmt: skip
    body: dict[str, Any] = {"id": ident, "amount": amount, "debitParty": payer, "creditParty": OUR_ACCOUNT}
    if entity == "pix-payment-in":
        body.update(endToEndId=gen.e2e(at, "00000000"), transactionIdentification=f"pedido-{ident[:8]}")
    else:
        body.update(numCtrlSTR=str(gen.rng.randint(10**18, 10**19 - 1)))
    if scenario == "blocked_then_confirmed":  # precautionary block: amount 0.00 until released (§2.6)
        gen.celcoin(expect, entity, at, "PENDING", {**body, "amount": ZERO, "blockedAmount": amount})
        at += timedelta(minutes=gen.rng.randint(5, 50))
    gen.celcoin(expect, entity, at, "CONFIRMED", body)
    expect.settled = amount
    return {**body, "at": at}


def _money_out(gen: Gen, entity: str, scenario: str) -> dict[str, Any]:
    ident, at = gen.uuid(), gen.moment()
    amount = gen.cents(20, 3000)
    expect = _expect(gen, entity, ident, amount)
    body: dict[str, Any] = {"id": ident, "amount": amount, "clientCode": f"payout-{ident[:13]}",
                            "debitParty": OUR_ACCOUNT}  # fmt: skip
    if entity == "pix-payment-out":
        body["endToEndId"] = gen.e2e(at)
    else:
        body.update(numCtrlStr=f"STR{at:%Y%m%d}{gen.rng.randint(10**7, 10**8 - 1)}", description="Pagamento")
    later = at + timedelta(minutes=gen.rng.randint(3, 55))
    error = {"errorCode": "CBE171", "message": "Transação recusada na análise de bloqueio cautelar"}
    if scenario.startswith("pending") or scenario == "amount_conflict":
        gen.celcoin(expect, entity, at, "PENDING", body)
    if scenario in ("confirmed", "pending_then_confirmed"):
        gen.celcoin(expect, entity, later, "CONFIRMED", body)
        expect.settled = amount
    elif scenario in ("error", "pending_then_error"):
        gen.celcoin(expect, entity, later, "ERROR", {**body, "error": error})
        expect.flag("payout_failed", amount, ZERO)
    elif scenario == "pending":
        expect.pending_since = at
    elif scenario == "amount_conflict":
        other = amount + gen.cents(1, 25)
        gen.celcoin(expect, entity, later, "CONFIRMED", {**body, "amount": other})
        expect.expected = expect.settled = other
        expect.flag("amount_conflict", amount, other)
    return {**body, "at": later, "expect": expect}


def _reversal_in(gen: Gen, out: dict[str, Any], share: Decimal) -> None:
    ident, at = gen.uuid(), out["at"] + timedelta(hours=gen.rng.randint(2, 30))
    amount = (out["amount"] * share).quantize(Decimal("0.01"))
    expect = _expect(gen, "pix-reversal-in", ident, amount)
    body = {"id": ident, "amount": amount, "reason": "MD06", "originalId": out["id"],
            "originalClientCode": out["clientCode"], "originalEndToEndId": out["endToEndId"],
            "returnIdentification": "D" + gen.hex(31)}  # fmt: skip
    gen.celcoin(expect, "pix-reversal-in", at, "CONFIRMED", body)
    expect.settled = amount
    payout: Expect = out["expect"]
    payout.flag("payout_returned", out["amount"], out["amount"] - amount, expect.keys)


def _reversal_out(gen: Gen, original: dict[str, Any]) -> None:
    ident, at = gen.uuid(), original["at"] + timedelta(hours=gen.rng.randint(1, 48))
    amount = (original["amount"] / 2).quantize(Decimal("0.01"))
    expect = _expect(gen, "pix-reversal-out", ident, amount)
    body = {"id": ident, "amount": amount, "clientCode": f"devolucao-{ident[:8]}", "reason": "MD06",
            "originalEndToEndId": original["endToEndId"], "originalPaymentId": original["id"],
            "returnIdentification": "D" + gen.hex(31)}  # fmt: skip
    gen.celcoin(expect, "pix-reversal-out", at, "CONFIRMED", body)
    expect.settled = amount
