"""Every example payload the providers publish, through the real parser and the ledger's extractors.

The table is the audit docs/reconciliation.md summarises: what each documented example makes the
ledger record (kind and object), or that it is deliberately ignored. A sample added under
tests/samples without a row here fails, so no published shape goes unaudited.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.helpers import SAMPLES
from tests.ledger_helpers import facts

#: sample → the (kind, object id) facts it yields; ``[]`` = ignored on purpose (docs/reconciliation.md says why).
AUDIT: dict[str, list[tuple[str, str]]] = {
    # Kobana: the samples in shared/samples
    "kobana/bank_billet.paid.json": [("boleto", "kobana:84512377")],
    "kobana/bank_billet.paid.boleto_simples_2017.json": [("boleto", "kobana:1")],
    "kobana/bank_billet.paid.seed_envelope.json": [("boleto", "kobana:123456")],
    "kobana/pix.paid.json": [("pix_charge", "kobana:9f8e7d6c-5b4a-4392-8281-7060f5e4d3c2")],
    "kobana/pix.register.confirmed.json": [("pix_charge", "kobana:8c9d0e1f-2a3b-4c5d-6e7f-8a9b0c1d2e3f")],
    "kobana/ping.json": [],
    # Kobana: every full example of payloads.mdx (tests/samples/kobana/docs)
    "kobana/docs/bank_billet.paid.json": [("boleto", "kobana:84512377")],
    "kobana/docs/bank_billet.register.confirmed.json": [("boleto", "kobana:84512377")],  # Boleto tab
    "kobana/docs/bank_billet.register.confirmed.comando.json": [  # uid only: joins kobana:<id> via aka
        ("boleto", "kobana:7b8c9d0e-1f2a-3b4c-5d6e-7f8a9b0c1d2e")
    ],
    "kobana/docs/bank_billet_payment.created.json": [("boleto", "kobana:30591847")],
    "kobana/docs/pix.db.created.json": [("pix_charge", "kobana:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")],
    "kobana/docs/pix.paid.json": [("pix_charge", "kobana:9f8e7d6c-5b4a-4392-8281-7060f5e4d3c2")],
    "kobana/docs/pix.overdue.json": [("pix_charge", "kobana:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")],
    "kobana/docs/pix.db.deleted.json": [("pix_charge", "kobana:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")],
    "kobana/docs/pix.register.confirmed.json": [("pix_charge", "kobana:8c9d0e1f-2a3b-4c5d-6e7f-8a9b0c1d2e3f")],
    "kobana/docs/pix.cancel.confirmed.json": [("pix_charge", "kobana:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")],
    # Transfeera (shared/samples)
    "transfeera/Transfer.json": [("transfer", "transfeera:60040")],
    "transfeera/TransferRefund.json": [("transfer_refund", "transfeera:7d3aae40-6655-4d9a-801b-d0ab7ae906d7")],
    "transfeera/CashIn.json": [("pix_in", "transfeera:7d3aae40-6655-4d9a-801b-d0ab7ae906d7")],
    "transfeera/CashInRefund.json": [("cashin_refund", "transfeera:7d3aae40-6655-4d9a-801b-d0ab7ae906d7")],
    # Celcoin (shared/samples)
    "celcoin/pix-payment-in.json": [("pix_in", "celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9")],
    "celcoin/pix-payment-out.json": [("pix_out", "celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9")],
    "celcoin/pix-reversal-in.json": [("pix_reversal_in", "celcoin:8a18df09-5155-4397-acc1-3dc61df1d151")],
    "celcoin/pix-reversal-out.json": [("pix_reversal_out", "celcoin:b94150c9-7dad-4b21-8183-50c83f4c5dd8")],
    "celcoin/spb-transfer-in.json": [("ted_in", "celcoin:e2726e30-c318-4e1f-b284-e37c14e6c4b2")],
    "celcoin/spb-transfer-out.json": [("ted_out", "celcoin:7e172eef-f05e-429e-ae36-401310a204cd")],
    "celcoin/account-created.flat.json": [],
    "celcoin/card-created.flat.json": [],
}
#: Not events: the probe Transfeera sends when a URL is registered (the door answers it, nothing is stored).
NOT_EVENTS = {"transfeera/test_probe.json"}


def _samples() -> list[str]:
    return sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.json"))


def _facts(name: str):
    provider = name.split("/")[0]
    entity = name.split("/")[-1].split(".")[0] if name.endswith(".flat.json") else None
    return facts(provider, json.loads((SAMPLES / name).read_text(), parse_float=Decimal), f"k-{name}", entity)


def test_every_published_example_is_audited():
    """No sample without a decision: each file is in the table (feeds the ledger, or ignored)."""
    unaudited = [n for n in _samples() if n not in NOT_EVENTS and n not in AUDIT and not n.startswith("kobana/docs/")]
    assert unaudited == []


@pytest.mark.parametrize("name", [n for n in _samples() if n not in NOT_EVENTS])
def test_each_example_yields_exactly_the_audited_facts(name):
    """The facts each documented example gives, by kind and object id; Kobana examples not in the
    table (accounts, transfers, payments out, mailboxes...) give none."""
    assert [(f.kind, f.object_id) for f in _facts(name)] == AUDIT.get(name, [])


def test_money_in_examples_is_exact_and_fees_and_credit_days_are_kept():
    """bank_billet.paid and bank_billet_payment.created keep Kobana's bank_rate and credit_at."""
    [paid] = _facts("kobana/docs/bank_billet.paid.json")
    [payment] = paid.payments
    assert (payment.id, payment.amount, payment.fee, str(payment.credit_on)) == (
        "6620044",
        Decimal("349.90"),
        Decimal("2.50"),
        "2026-06-17",
    )
    [alone] = _facts("kobana/docs/bank_billet_payment.created.json")
    [payment] = alone.payments
    assert (payment.id, payment.amount, payment.fee, str(payment.credit_on)) == (
        "9102837",
        Decimal("1289.90"),
        Decimal("3.49"),
        "2026-06-16",
    )
    assert alone.lifecycle is False  # a payment alone does not prove the boleto was seen created
