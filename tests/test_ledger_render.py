"""The report's three formats: JSON stable for scripts, CSV clean in a Brazilian spreadsheet, a table for people."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

from ledger.reconcile import build_report
from ledger.render import brl, to_csv, to_json, to_table
from tests.ledger_helpers import body, fold_all


def _report():
    payment = body("kobana", "bank_billet.paid.json")["object"]["bank_billet_payments"][0]
    payment = payment | {"paid_amount": Decimal("300.00")}
    created = body("kobana", "bank_billet.paid.json", **{
        "event_code": "bank_billet.created", "object.status": "opened", "object.bank_billet_payments": [],
        "object.updated_at": "2026-06-16T09:18:18-03:00"})  # fmt: skip
    paid = body("kobana", "bank_billet.paid.json", **{"object.bank_billet_payments": [payment]})
    states = fold_all([("kobana", created, "c"), ("kobana", paid, "p")])
    return build_report(states.values(), date(2026, 6, 1), date(2026, 6, 30))


def test_json_has_exactly_the_documented_keys_and_string_amounts():
    """{"from","to","totals":[...],"discrepancies":[...],"daily":[...]} with amounts like "349.90"."""
    data = json.loads(to_json(_report()))
    assert list(data) == ["from", "to", "totals", "discrepancies", "daily"]
    assert data["totals"] == [
        {"provider": "kobana", "kind": "boleto", "count": 1, "expected": "349.90", "settled": "300.00"}
    ]
    [found] = data["discrepancies"]
    assert list(found) == ["provider", "kind", "object_id", "type", "expected", "actual", "delta", "event_ids"]
    assert (found["type"], found["expected"], found["actual"], found["delta"]) == ("underpaid", "349.90", "300.00",
                                                                                    "-49.90")  # fmt: skip


def test_csv_defaults_to_semicolons_and_decimal_commas_for_brazilian_spreadsheets():
    """Default CSV: BOM, ';' separator, '349,90' amounts that pt-BR Excel reads as numbers."""
    text = to_csv(_report())
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["from", "to", "provider", "kind", "direction", "count", "expected", "settled"]
    assert rows[1][-2:] == ["349,90", "300,00"]
    assert ["kobana", "boleto", "kobana:84512377", "underpaid", "349,90", "300,00", "-49,90"] in [r[:7] for r in rows]


def test_fees_and_net_credited_amounts_per_day_in_every_format():
    """Kobana's bank_rate 2.50 and credit_at 2026-06-17 on the payment: paid 300.00, fee 2.50, net 297.50
    that day; CSV adds the block at the end, so the existing blocks keep their columns."""
    report = _report()
    assert json.loads(to_json(report))["daily"] == [
        {"day": "2026-06-17", "provider": "kobana", "payments": 1, "paid": "300.00", "fees": "2.50", "net": "297.50"}
    ]
    rows = list(csv.reader(io.StringIO(to_csv(report).lstrip("\ufeff")), delimiter=";"))
    assert rows[-2:] == [["day", "provider", "payments", "paid", "fees", "net_credited"],
                         ["2026-06-17", "kobana", "1", "300,00", "2,50", "297,50"]]  # fmt: skip
    table = to_table(report)
    assert "CREDITS PER DAY" in table and "R$ 297,50" in table and "R$ 2,50" in table


def test_csv_intl_style_uses_commas_and_decimal_points():
    """--csv-style intl: ',' separator and '349.90' amounts."""
    rows = list(csv.reader(io.StringIO(to_csv(_report(), "intl").lstrip("\ufeff"))))
    assert rows[1][-2:] == ["349.90", "300.00"]


def test_table_shows_reais_the_brazilian_way():
    """R$ 1.234,56 in the table; the discrepancy is listed with its type."""
    assert brl(Decimal("-12345.6")) == "-R$ 12.345,60"
    table = to_table(_report())
    assert "R$ 349,90" in table and "underpaid" in table and "OPEN DISCREPANCIES (1)" in table
