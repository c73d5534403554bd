"""``flask ledger show`` and ``ledger list`` as a person reads them: labelled lines, R$ 1.234,56,
dd/mm/aaaa hh:mm in São Paulo time; the JSON form (``--format json``) stays the machine's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ops.i18n import day, moment
from ops.i18n import money as _money

_LIST_COLUMNS = (("object_id", "OBJECT"), ("kind", "KIND"), ("status", "STATUS"), ("expected", "EXPECTED"),
                 ("settled", "SETTLED"), ("opened_at", "OPENED"))  # fmt: skip


def money(value: str | Decimal | None) -> str:
    """``"349.90"`` → ``R$ 349,90`` (a normal space: terminals and grep read it better)."""
    return "-" if value is None else _money(Decimal(value)).replace("\xa0", " ")


def when(value: str | None) -> str:
    return moment(datetime.fromisoformat(value)) if value else "-"


def text(state: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    """One object: what it is, what it should and did move, its payments and references, its events."""
    lines = [f"{state['object_id']}  ({state['provider']} {state['kind']})"]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<12} {value}")

    row("status", state.get("status") or "-")
    row("amount", money(state.get("amount")))
    row("expected", money(state.get("expected")))
    row("settled", money(state.get("settled")))
    if state.get("adjustments"):
        row("adjustments", ", ".join(f"{name} {money(v)}" for name, v in state["adjustments"].items()))
    if state.get("due_date"):
        row("due", day(date.fromisoformat(state["due_date"])))
    row("opened", when(state.get("opened_at")))
    if state.get("canceled_at"):
        row("canceled", when(state["canceled_at"]))
    credits = state.get("credits") or {}
    for n, (pid, value) in enumerate((state.get("payments") or {}).items()):
        credit = credits.get(pid) or {}
        extra = f"  fee {money(credit['fee'])}" if credit.get("fee") else ""
        extra += f"  credited {day(date.fromisoformat(credit['on']))}" if credit.get("on") else ""
        row("payments" if n == 0 else "", f"{money(value)}  ({pid}){extra}")
    for n, (name, value) in enumerate((state.get("refs") or {}).items()):
        row("references" if n == 0 else "", f"{name} {value}")
    lines.append("  events, in provider time (São Paulo):")
    for event in events:
        paid = ", ".join(f"paid {money(item[1])} ({item[0]})" for item in event["payments"])
        amount = money(event["amount"]) if event["amount"] is not None else ""
        lines.append(f"    {when(event['at'])}  #{event['event_id']:<6} {event['code']:<30} "
                     f"{event['status'] or '':<12} {amount:>14}  {paid}".rstrip())  # fmt: skip
    return "\n".join(lines) + "\n"


def listing(rows: Sequence[Mapping[str, Any]]) -> str:
    """``ledger list``'s table: a header row, then one object per line."""
    if not rows:
        return "(no objects)\n"
    cells = [[title for _key, title in _LIST_COLUMNS]]
    for r in rows:
        cells.append([r["object_id"], r["kind"], r["status"] or "-", money(r["expected"]), money(r["settled"]),
                      when(r["opened_at"])])  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(_LIST_COLUMNS))]
    right = {3, 4}
    out = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
           .rstrip() for r in cells]  # fmt: skip
    return "\n".join(out) + "\n"
