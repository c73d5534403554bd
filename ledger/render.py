"""The report as a finance person reads it (table), a spreadsheet opens it (CSV), a script parses it (JSON).

CSV defaults to what a Brazilian spreadsheet expects: ``;`` between fields and ``,`` as the
decimal mark (Excel and LibreOffice in pt-BR read ``1234,56`` as a number and would split
``1234.56`` or a ``,``-separated file wrongly), UTF-8 with a BOM so accents survive in Excel.
``--csv-style intl`` gives ``,`` and ``.`` instead. JSON amounts are always strings like ``"349.90"``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from ledger.money import fmt
from ledger.reconcile import Report
from ledger.vocab import DIRECTION
from providers.timeparse import BRT

CSV_STYLES = {"br": (";", ","), "intl": (",", ".")}
_MAX_EVENT_IDS = 4


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def brl(value: Decimal) -> str:
    """``Decimal('-12345.6')`` → ``-R$ 12.345,60`` (the way a Brazilian finance team reads money)."""
    text = f"{abs(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 else "") + "R$ " + text


def _ids(ids: tuple[object, ...] | list[object]) -> str:
    shown = ", ".join(str(i) for i in ids[:_MAX_EVENT_IDS])
    return shown + (f" (+{len(ids) - _MAX_EVENT_IDS})" if len(ids) > _MAX_EVENT_IDS else "")


def to_table(report: Report, as_of: datetime | None = None) -> str:
    lines = [f"Reconciliation {report.date_from} to {report.date_to} (Brasília days)"]
    if as_of:
        lines[0] += f", as of {as_of.astimezone(BRT):%Y-%m-%d %H:%M} BRT"
    lines += ["", "TOTALS (expected = what should move; settled = what did move)"]
    rows = [("provider", "kind", "dir", "count", "expected", "settled")]
    rows += [
        (t.provider, t.kind, DIRECTION[t.kind], str(t.count), brl(t.expected), brl(t.settled)) for t in report.totals
    ]
    lines += _grid(rows, right={3, 4, 5})
    lines += ["", "NET MOVEMENT (settled in minus out; a Pix already counted as a Kobana charge payment counts once)"]
    lines += _grid([(name, brl(value)) for name, value in report.net.items()], right={1}, header=False)
    lines += ["", "CREDITS PER DAY (charge payments by the day their money is credited; fees as the provider states)"]
    if report.daily:
        crows = [("day", "provider", "payments", "paid", "fees", "net credited")]
        crows += [(str(c.day), c.provider, str(c.count), brl(c.paid), brl(c.fees), brl(c.net)) for c in report.daily]
        lines += _grid(crows, right={2, 3, 4, 5})
    else:
        lines.append("  none")
    lines += ["", f"OPEN DISCREPANCIES ({len(report.discrepancies)})"]
    by_type: dict[str, list[Decimal]] = {}
    for d in report.discrepancies:
        by_type.setdefault(d.type, []).append(d.delta)
    summary = [("type", "count", "sum of deltas")]
    summary += [(name, str(len(v)), brl(sum(v, Decimal("0.00")))) for name, v in sorted(by_type.items())]
    if report.discrepancies:
        lines += _grid(summary, right={1, 2})
        lines.append("")
        drows = [("provider", "kind", "object_id", "type", "expected", "actual", "delta", "events", "note")]
        drows += [(d.provider, d.kind, d.object_id, d.type, brl(d.expected), brl(d.actual), brl(d.delta),
                   _ids(d.event_ids), d.note) for d in report.discrepancies]  # fmt: skip
        lines += _grid(drows, right={4, 5, 6})
    else:
        lines.append("  none")
    return "\n".join(lines) + "\n"


def _grid(rows: Sequence[tuple[str, ...]], right: set[int], header: bool = True) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  " + "  ".join(cells).rstrip())
        if header and n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def to_csv(report: Report, style: str = "br") -> str:
    """Three blocks (totals, discrepancies, credits per day), each with its own header, separated by a
    blank line. The first two never change their columns; new blocks and columns only ever come last."""
    separator, decimal_mark = CSV_STYLES[style]
    money: Callable[[Decimal], str] = lambda v: fmt(v).replace(".", decimal_mark)  # noqa: E731
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    writer.writerow(["from", "to", "provider", "kind", "direction", "count", "expected", "settled"])
    for t in report.totals:
        row = [report.date_from, report.date_to, t.provider, t.kind, DIRECTION[t.kind], t.count]
        writer.writerow(row + [money(t.expected), money(t.settled)])
    for name, value in report.net.items():
        writer.writerow([report.date_from, report.date_to, name, "net", "in-out", "", "", money(value)])
    writer.writerow([])
    writer.writerow(["provider", "kind", "object_id", "type", "expected", "actual", "delta", "event_ids", "note"])
    for d in report.discrepancies:
        ids = " ".join(str(i) for i in d.event_ids)
        writer.writerow([d.provider, d.kind, d.object_id, d.type, money(d.expected), money(d.actual),
                         money(d.delta), ids, d.note])  # fmt: skip
    writer.writerow([])
    writer.writerow(["day", "provider", "payments", "paid", "fees", "net_credited"])
    for c in report.daily:
        writer.writerow([c.day, c.provider, c.count, money(c.paid), money(c.fees), money(c.net)])
    return buffer.getvalue()
