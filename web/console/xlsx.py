"""The reconciliation as an Excel workbook (openpyxl): money as numbers formatted in reais."""

from __future__ import annotations

import io
from typing import cast

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ledger.reconcile import Report
from ledger.vocab import DIRECTION

#: Excel's built-in pt-BR currency format: R$ 1.234,56 (negative with a minus sign).
BRL = '"R$" #,##0.00;-"R$" #,##0.00'


def workbook(report: Report) -> bytes:
    book = Workbook()
    sheet = cast(Worksheet, book.active)  # a new workbook always has one sheet
    sheet.title = "Totals"
    sheet.append(["from", "to", "provider", "kind", "direction", "count", "expected", "settled"])
    for t in report.totals:
        sheet.append([report.date_from, report.date_to, t.provider, t.kind, DIRECTION[t.kind], t.count, t.expected,
                      t.settled])  # fmt: skip
    for name, value in report.net.items():
        sheet.append([report.date_from, report.date_to, name, "net", "in-out", None, None, value])
    _money(sheet, ("G", "H"))
    issues = book.create_sheet("Discrepancies")
    issues.append(["provider", "kind", "object_id", "type", "status", "expected", "actual", "delta", "event_ids",
                   "note"])  # fmt: skip
    for d in report.discrepancies:
        issues.append([d.provider, d.kind, d.object_id, d.type, d.status, d.expected, d.actual, d.delta,
                       " ".join(str(i) for i in d.event_ids), d.note])  # fmt: skip
    _money(issues, ("F", "G", "H"))
    ws: Worksheet
    for ws in (sheet, issues):
        for column in ws.columns:
            ws.column_dimensions[get_column_letter(column[0].column or 1)].width = max(
                12, min(48, max(len(str(c.value or "")) for c in column) + 2)
            )
        for cell in ws["A"] + ws["B"]:
            if cell.row > 1 and ws is sheet:
                cell.number_format = "DD/MM/YYYY"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _money(sheet: object, columns: tuple[str, ...]) -> None:
    for letter in columns:
        for cell in sheet[letter][1:]:  # type: ignore[index]
            cell.number_format = BRL
