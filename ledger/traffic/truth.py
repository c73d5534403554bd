"""The ground truth of a generated month: what each object should show, decided by its scenario."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.vocab import DIRECTION, KINDS

ZERO = Decimal("0.00")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


@dataclass
class Expect:
    """One object as its scenario defines it."""

    provider: str
    kind: str
    object_id: str
    expected: Decimal
    settled: Decimal
    keys: list[str] = field(default_factory=list)
    #: ``(type, expected, actual, extra idempotency keys)``
    flags: list[tuple[str, Decimal, Decimal, list[str]]] = field(default_factory=list)
    matched: bool = False  # a received Pix that is the payment of one of our Kobana charges
    pending_since: datetime | None = None  # a payout never finished, for payout_pending

    def flag(self, kind: str, expected: Decimal, actual: Decimal, extra: list[str] | None = None) -> None:
        self.flags.append((kind, expected, actual, list(extra or ())))


def expected_report(objects: list[Expect], as_of: datetime, pending_after: timedelta) -> dict[str, Any]:
    """Totals, discrepancies (with idempotency keys instead of event ids) and net, as the report shows."""
    totals: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    net: dict[str, Decimal] = defaultdict(lambda: ZERO)
    flags = []
    for obj in objects:
        row = totals[(obj.provider, obj.kind)]
        row[0] += 1
        row[1] += obj.expected
        row[2] += obj.settled
        if not obj.matched:
            net[obj.provider] += obj.settled if DIRECTION[obj.kind] == "in" else -obj.settled
        found = list(obj.flags)
        if obj.pending_since is not None and as_of - obj.pending_since > pending_after:
            found.append(("payout_pending", obj.expected, ZERO, []))
        for kind, expected, actual, extra in found:
            flags.append(
                {
                    "provider": obj.provider,
                    "kind": obj.kind,
                    "object_id": obj.object_id,
                    "type": kind,
                    "expected": _money(expected),
                    "actual": _money(actual),
                    "delta": _money(actual - expected),
                    "event_keys": sorted({*obj.keys, *extra}),
                }
            )
    order = {k: i for i, k in enumerate(KINDS)}
    return {
        "totals": [
            {"provider": p, "kind": k, "count": c, "expected": _money(e), "settled": _money(s)}
            for (p, k), (c, e, s) in sorted(totals.items(), key=lambda i: (i[0][0], order[i[0][1]]))
        ],
        "discrepancies": sorted(flags, key=lambda d: (d["provider"], order[d["kind"]], d["object_id"], d["type"])),
        "net": {**{p: _money(v) for p, v in sorted(net.items())}, "all": _money(sum(net.values(), ZERO))},
    }
