"""Kobana scenarios: boletos and Pix charges, paid right, wrong, twice, late, after cancel, or never."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.traffic import bodies
from ledger.traffic.month import Gen
from ledger.traffic.truth import ZERO, Expect

#: How many boletos of each scenario a month holds.
BOLETOS = {
    "paid": 60,
    "paid_late": 10,
    "underpaid": 6,
    "overpaid": 5,
    "paid_twice": 4,
    "canceled": 8,
    "paid_after_cancel": 4,
    "open": 8,
    "unknown": 5,
    "amount_conflict": 3,
}
PIX = {"paid": 36, "canceled": 4, "paid_after_cancel": 2, "open": 4, "unknown": 3}
CUSTOMERS = ("Maria Aparecida de Souza", "João Pedro Oliveira", "Ana Clara Lima", "Padaria Pão Quente Ltda",
             "Carlos Eduardo Santos", "Oficina do Zé ME", "Beatriz Ferreira", "Comercial Alvorada Ltda")  # fmt: skip


def generate(gen: Gen) -> list[dict[str, Any]]:
    """Adds every Kobana object; returns the paid Pix charges (other providers may receive them)."""
    for scenario, count in BOLETOS.items():
        for _ in range(count):
            _boleto(gen, scenario)
    paid = []
    for scenario, count in PIX.items():
        for _ in range(count):
            charge = _pix(gen, scenario)
            if scenario == "paid":
                paid.append(charge)
    return paid


def _boleto(gen: Gen, scenario: str) -> None:
    n = gen.next_id()
    ident, uid = 84_600_000 + n, gen.hex(20).upper()
    face = gen.cents(40, 2500)
    created = gen.moment(12 if scenario in ("paid_late", "open") else 20)
    due = (created + timedelta(days=gen.rng.randint(3, 10))).astimezone(bodies.BRT).date()
    common: dict[str, Any] = dict(ident=ident, uid=uid, due=due, created=created, customer=gen.rng.choice(CUSTOMERS),
                  external_id=f"INV-{created:%Y%m}-{n:04d}", control_number=f"PED-{500_000 + n}")  # fmt: skip
    expect = Expect("kobana", "boleto", f"kobana:{ident}", expected=face, settled=ZERO)
    gen.month.objects.append(expect)
    payment_id = 6_620_000 + 10 * n
    paid_day = created + timedelta(days=1, hours=2)

    def event(code: str, status: str, at: Any, payments: Any = (), amount: Decimal = face, **extra: Any) -> None:
        body = bodies.boleto(code, amount=amount, status=status, updated=at, payments=list(payments), **common, **extra)
        gen.kobana(expect, body)

    if scenario != "unknown":
        event("bank_billet.created", "opened", created)
        if gen.rng.random() < 0.5:
            event("bank_billet.registered", "opened", created + timedelta(minutes=2))
    if scenario in ("paid", "unknown"):
        event("bank_billet.paid", "paid", paid_day, [(payment_id, face, paid_day.date())])
        expect.settled = face
        if scenario == "unknown":
            expect.flag("unknown_charge", ZERO, face)
    elif scenario == "paid_late":
        late = created + timedelta(days=12)
        fine, interest = (face * Decimal("0.02")).quantize(Decimal("0.01")), gen.cents(1, 9)
        total = face + fine + interest
        event("bank_billet.overdue", "overdue", created + timedelta(days=11))
        event("bank_billet.paid", "paid", late, [(payment_id, total, late.date())], fine=fine, interest=interest)
        expect.expected = expect.settled = total
    elif scenario in ("underpaid", "overpaid"):
        paid = face - gen.cents(1, 30) if scenario == "underpaid" else face + gen.cents(1, 30)
        event("bank_billet.paid", "paid", paid_day, [(payment_id, paid, paid_day.date())])
        expect.settled = paid
        expect.flag(scenario, face, paid)
    elif scenario == "paid_twice":
        second = paid_day + timedelta(hours=5)
        first = [(payment_id, face, paid_day.date())]
        event("bank_billet.paid", "paid", paid_day, first)
        event("bank_billet.paid", "paid", second, [*first, (payment_id + 1, face, second.date())])
        expect.settled = face + face
        expect.flag("paid_twice", face, face + face)
    elif scenario == "canceled":
        event("bank_billet.canceled", "canceled", created + timedelta(days=2))
        expect.expected = ZERO
    elif scenario == "paid_after_cancel":
        event("bank_billet.canceled", "canceled", created + timedelta(hours=3))
        event("bank_billet.paid", "paid", paid_day, [(payment_id, face, paid_day.date())])
        expect.expected, expect.settled = ZERO, face
        expect.flag("paid_after_cancel", ZERO, face)
    elif scenario == "open" and gen.rng.random() < 0.5:
        event("bank_billet.overdue", "overdue", created + timedelta(days=11))
    elif scenario == "amount_conflict":
        other = face + gen.cents(1, 50)
        event("bank_billet.paid", "paid", paid_day, [(payment_id, other, paid_day.date())], amount=other)
        expect.expected = expect.settled = other
        expect.flag("amount_conflict", face, other)


def _pix(gen: Gen, scenario: str) -> dict[str, Any]:
    n = gen.next_id()
    ident, uid, txid = 85_000 + n, gen.uuid(), "kob" + gen.hex(29)
    amount = gen.cents(10, 900)
    created = gen.moment()
    paid_at = created + timedelta(minutes=gen.rng.randint(1, 50))
    e2e = gen.e2e(paid_at, "18236120")
    expect = Expect("kobana", "pix_charge", f"kobana:{uid}", expected=amount, settled=ZERO)
    gen.month.objects.append(expect)

    def command(operation: str, status: str, at: Any) -> None:
        body = bodies.pix_command(operation, command_id=90_000 + 2 * n + (operation == "cancel"), uid=uid,
                                  txid=txid, amount=amount, status=status, at=at)  # fmt: skip
        gen.kobana(expect, body)

    if scenario != "unknown":
        command("register", "opened", created)
    if scenario in ("canceled", "paid_after_cancel"):
        command("cancel", "canceled", created + timedelta(seconds=40))
        expect.expected = ZERO
    if scenario in ("paid", "unknown", "paid_after_cancel"):
        body = bodies.pix_paid(ident=ident, uid=uid, txid=txid, amount=amount, paid=amount, e2e=e2e,
                               created=created, paid_at=paid_at)  # fmt: skip
        gen.kobana(expect, body)
        expect.settled = amount
        if scenario == "unknown":
            expect.flag("unknown_charge", ZERO, amount)
        if scenario == "paid_after_cancel":
            expect.flag("paid_after_cancel", ZERO, amount)
    return {"txid": txid, "e2e": e2e, "amount": amount, "paid_at": paid_at}
