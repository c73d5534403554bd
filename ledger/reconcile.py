"""From object states to the finance report: totals per provider and kind, and discrepancies.

Per-object discrepancies come from the object's own state; two need the other objects too:
a payout is ``payout_returned`` when a return (``TransferRefund``, ``pix-reversal-in``) points
at it, and a received Pix is *matched* to a Kobana charge when a txid / end-to-end id links
them (a matched receipt is the same money as the charge's payment, so the net counts it once).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.fold import FAILED, RETURNED, ObjectState
from ledger.money import ZERO, fmt
from ledger.vocab import CHARGES, DIRECTION, KINDS, PAYOUTS, RECEIVED, RETURNS
from providers.timeparse import BRT

DEFAULT_PENDING_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Discrepancy:
    provider: str
    kind: str
    object_id: str
    type: str
    expected: Decimal
    actual: Decimal
    event_ids: tuple[Any, ...]
    note: str = ""
    #: The workflow status (ledger/discrepancies.py) when the report was read through it; else None.
    status: str | None = None

    @property
    def delta(self) -> Decimal:
        return self.actual - self.expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "object_id": self.object_id,
            "type": self.type,
            "expected": fmt(self.expected),
            "actual": fmt(self.actual),
            "delta": fmt(self.delta),
            "event_ids": list(self.event_ids),
        } | ({"status": self.status} if self.status else {})


@dataclass(frozen=True)
class Total:
    provider: str
    kind: str
    count: int
    expected: Decimal
    settled: Decimal

    @property
    def direction(self) -> str:
        return DIRECTION[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "count": self.count,
            "expected": fmt(self.expected),
            "settled": fmt(self.settled),
        }


@dataclass(frozen=True)
class DailyCredit:
    """Charge payments whose money reaches the account on one day: gross, the provider's fees, net."""

    day: date
    provider: str
    count: int
    paid: Decimal
    fees: Decimal

    @property
    def net(self) -> Decimal:
        return self.paid - self.fees

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "provider": self.provider,
            "payments": self.count,
            "paid": fmt(self.paid),
            "fees": fmt(self.fees),
            "net": fmt(self.net),
        }


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    totals: list[Total]
    discrepancies: list[Discrepancy]
    net: dict[str, Decimal] = field(default_factory=dict)  # per provider, plus "all"
    daily: list[DailyCredit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (docs/reconciliation.md); keys are never removed or renamed."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "totals": [t.to_dict() for t in self.totals],
            "discrepancies": [d.to_dict() for d in self.discrepancies],
            "daily": [c.to_dict() for c in self.daily],
        }


def local_date(moment: datetime) -> date:
    """The Brazilian calendar day of a moment (finance closes days in Brasília time)."""
    return moment.astimezone(BRT).date()


def opened_in(state: ObjectState, date_from: date, date_to: date) -> bool:
    """Whether the object was created on a Brasília day from ``date_from`` to ``date_to``: the
    objects a report of those days totals and judges."""
    return state.opened_at is not None and date_from <= local_date(state.opened_at) <= date_to


def build_report(
    states: Iterable[ObjectState],
    date_from: date,
    date_to: date,
    *,
    provider: str | None = None,
    as_of: datetime | None = None,
    pending_after: timedelta = DEFAULT_PENDING_AFTER,
) -> Report:
    """The report for objects opened between ``date_from`` and ``date_to`` (inclusive, BRT days).

    ``states`` should hold every object (returns and matches may fall outside the period).
    """
    everything = list(states)
    as_of = as_of or datetime.now(UTC)
    links = _Links(everything)
    mine = [s for s in everything if provider is None or s.provider == provider]
    chosen = [s for s in mine if opened_in(s, date_from, date_to)]
    sums: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    net: dict[str, Decimal] = defaultdict(lambda: ZERO)
    found: list[Discrepancy] = []
    for state in chosen:
        row = sums[(state.provider, state.kind)]
        row[0] += 1
        row[1] += state.expected
        row[2] += state.settled
        if not (state.kind in RECEIVED and links.charge_for(state)):
            sign = 1 if DIRECTION[state.kind] == "in" else -1
            net[state.provider] += sign * state.settled
        found.extend(discrepancies_of(state, links, as_of, pending_after))
    kind_order = {k: i for i, k in enumerate(KINDS)}
    totals = [
        Total(p, k, c, e, s) for (p, k), (c, e, s) in sorted(sums.items(), key=lambda i: (i[0][0], kind_order[i[0][1]]))
    ]
    found.sort(key=lambda d: (d.provider, kind_order[d.kind], d.object_id, d.type))
    net_all = {p: net[p] for p in sorted(net)}
    net_all["all"] = sum(net.values(), ZERO)
    return Report(date_from, date_to, totals, found, net_all, daily_credits(mine, date_from, date_to))


def daily_credits(states: Iterable[ObjectState], date_from: date, date_to: date) -> list[DailyCredit]:
    """Charge payments by the day their money is credited (Kobana's ``credit_at``, else the day
    of the payment notice), ``date_from`` to ``date_to``, whenever the charge was created: fees
    stated by the provider (Kobana's ``bank_rate``) are taken off; none stated counts as 0.00."""
    sums: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    for state in states:
        if state.kind not in CHARGES:
            continue
        for pid, amount in state.payments.items():
            credit = state.credits.get(pid)
            if credit is None or not date_from <= credit.on <= date_to:
                continue
            row = sums[(credit.on, state.provider)]
            row[0] += 1
            row[1] += amount
            row[2] += credit.fee or ZERO
    return [DailyCredit(day, p, c, paid, fees) for (day, p), (c, paid, fees) in sorted(sums.items())]


class _Links:
    """Cross-object references: returns → payouts, received Pix → Kobana charges."""

    def __init__(self, states: list[ObjectState]) -> None:
        self.by_id = {s.object_id: s for s in states}
        self.payout_by_ref: dict[tuple[str, str, str], ObjectState] = {}
        self.charge_by_ref: dict[tuple[str, str], ObjectState] = {}
        self.returns: dict[str, list[ObjectState]] = defaultdict(list)
        for s in states:
            if s.kind in PAYOUTS:
                for name in ("end_to_end_id", "client_code"):
                    if name in s.refs:
                        self.payout_by_ref[(s.provider, name, s.refs[name])] = s
            elif s.kind in CHARGES:
                for name in ("txid", "end_to_end_id"):
                    if name in s.refs:
                        self.charge_by_ref[(name, s.refs[name])] = s
        for s in states:
            if s.kind in RETURNS and (payout := self._payout_for(s)) is not None:
                self.returns[payout.object_id].append(s)

    def _payout_for(self, ret: ObjectState) -> ObjectState | None:
        if ret.kind == "transfer_refund" and "transfer_id" in ret.refs:
            return self.by_id.get(f"transfeera:{ret.refs['transfer_id']}")
        if "original_id" in ret.refs and (hit := self.by_id.get(f"{ret.provider}:{ret.refs['original_id']}")):
            return hit
        for mine, theirs in (("original_end_to_end_id", "end_to_end_id"), ("original_client_code", "client_code")):
            if mine in ret.refs and (hit := self.payout_by_ref.get((ret.provider, theirs, ret.refs[mine]))):
                return hit
        return None

    def charge_for(self, received: ObjectState) -> ObjectState | None:
        for name in ("txid", "end_to_end_id"):
            if name in received.refs and (hit := self.charge_by_ref.get((name, received.refs[name]))):
                return hit
        return None


def discrepancies_of(state: ObjectState, links: _Links, as_of: datetime, pending_after: timedelta) -> list[Discrepancy]:
    out: list[Discrepancy] = []

    def flag(kind: str, expected: Decimal, actual: Decimal, ids: Iterable[Any] = (), note: str = "") -> None:
        events = tuple(sorted({*state.event_ids, *ids}, key=lambda e: (str(type(e)), e)))
        out.append(Discrepancy(state.provider, state.kind, state.object_id, kind, expected, actual, events, note))

    if state.kind in CHARGES and state.payments:
        paid, due = state.paid, state.due
        if not state.created_seen:
            flag("unknown_charge", ZERO, paid)
        if state.paid_after_cancel:
            flag("paid_after_cancel", ZERO, paid)
        elif len(state.payments) > 1:
            flag("paid_twice", due, paid, note=f"{len(state.payments)} payments")
        elif paid < due:
            flag("underpaid", due, paid, note=_adjustment_note(state))
        elif paid > due:
            flag("overpaid", due, paid, note=_adjustment_note(state))
    if state.kind in PAYOUTS:
        value = state.amount or ZERO
        returns = links.returns.get(state.object_id, [])
        if state.status in FAILED:
            flag("payout_failed", value, ZERO, note=state.status or "")
        elif returns or state.status in RETURNED:
            back = sum((r.settled for r in returns), ZERO) if returns else value
            ids = [i for r in returns for i in r.event_ids]
            note = "returned by " + ", ".join(r.object_id for r in returns) if returns else "DEVOLVIDO"
            flag("payout_returned", value, value - back, ids, note=note)
        elif not state.terminal and state.opened_at is not None and as_of - state.opened_at > pending_after:
            since = state.opened_at.astimezone(BRT).strftime("%Y-%m-%d %H:%M")
            flag("payout_pending", value, ZERO, note=f"{state.status} since {since} BRT")
    if state.amount_conflict and state.first_amount is not None and state.amount is not None:
        flag("amount_conflict", state.first_amount, state.amount)
    return out


def _adjustment_note(state: ObjectState) -> str:
    parts = [f"{name} {fmt(value)}" for name, value in sorted(state.adjustments.items())]
    return f"face {fmt(state.amount or ZERO)}" + (", " + ", ".join(parts) if parts else "")
