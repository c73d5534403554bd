"""Fold an object's facts into its state, the same whatever order and however often they arrived.

Facts are sorted by the provider's own time, then by a status rank (so a CONFIRMED and a PENDING
stamped in the same millisecond resolve the same way every time), then by idempotency key. A
late, older event therefore never overwrites a newer state, and the fold is a pure function of
the *set* of events: recomputing it from all stored events on every new one is always correct.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.facts import Fact
from ledger.money import ZERO, fmt
from ledger.vocab import CHARGES
from providers.timeparse import BRT

#: Tie-break rank of a status at the same provider time: later in a lifecycle ranks higher.
STATUS_RANK = {
    # Kobana
    "generating": 0, "opened": 10, "registered": 15, "overdue": 20, "canceled": 30, "paid": 40,
    # Transfeera Transfer (providers.md §3.6; CRIADO → ... → FINALIZADO | FALHA | DEVOLVIDO)
    "CRIADO": 0, "AGENDADO": 5, "RECEBIDO": 10, "EM_PROCESSAMENTO": 15, "TRANSFERIDO": 20,
    "FINALIZADO": 30, "FALHA": 40, "NAO_REALIZADO": 40, "DEVOLVIDO": 50,
    # Celcoin (PENDING → CONFIRMED | ERROR)
    "INITIATED": 0, "PENDING": 5, "PROCESSING": 10, "CONFIRMED": 30, "ERROR": 40,
}  # fmt: skip

#: Statuses after which money has moved, per kind family (no status = the notice is the settlement).
SETTLED = frozenset({"paid", "TRANSFERIDO", "FINALIZADO", "DEVOLVIDO", "CONFIRMED"})
FAILED = frozenset({"FALHA", "ERROR", "NAO_REALIZADO"})
RETURNED = frozenset({"DEVOLVIDO"})


@dataclass(frozen=True)
class Credit:
    on: date
    fee: Decimal | None = None


def order_key(fact: Fact) -> tuple[datetime, int, str]:
    return (fact.at, STATUS_RANK.get(fact.status or "", 25), fact.key)


@dataclass
class ObjectState:
    object_id: str
    provider: str
    kind: str
    status: str | None = None
    amount: Decimal | None = None  # face / requested amount, latest by provider time
    first_amount: Decimal | None = None
    amount_conflict: bool = False
    adjustments: dict[str, Decimal] = field(default_factory=dict)
    payments: dict[str, Decimal] = field(default_factory=dict)
    #: Per payment id: the day its money reaches the account (the provider's ``credit_at``, else
    #: the Brasília day of the payment notice) and the provider's fee, when stated.
    credits: dict[str, Credit] = field(default_factory=dict)
    created_seen: bool = False
    canceled_at: datetime | None = None
    paid_after_cancel: bool = False
    opened_at: datetime | None = None
    last_at: datetime | None = None
    due_date: date | None = None
    refs: dict[str, str] = field(default_factory=dict)
    event_ids: list[Any] = field(default_factory=list)

    # -- derived figures ----------------------------------------------------------------
    @property
    def due(self) -> Decimal:
        """What a charge should be paid: face amount plus fine and interest, minus discount."""
        adj = self.adjustments
        base = self.amount or ZERO
        return base + adj.get("fine", ZERO) + adj.get("interest", ZERO) - adj.get("discount", ZERO)

    @property
    def paid(self) -> Decimal:
        return sum(self.payments.values(), ZERO)

    @property
    def expected(self) -> Decimal:
        if self.kind in CHARGES:
            return ZERO if self.canceled_at else self.due
        return self.amount or ZERO

    @property
    def settled(self) -> Decimal:
        if self.kind in CHARGES:
            return self.paid
        if self.status is None or self.status in SETTLED:
            return self.amount or ZERO
        return ZERO

    @property
    def terminal(self) -> bool:
        return self.status in SETTLED or self.status in FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "provider": self.provider,
            "kind": self.kind,
            "status": self.status,
            "amount": _s(self.amount),
            "first_amount": _s(self.first_amount),
            "amount_conflict": self.amount_conflict,
            "adjustments": {k: fmt(v) for k, v in sorted(self.adjustments.items())},
            "payments": {k: fmt(v) for k, v in sorted(self.payments.items())},
            "credits": {k: {"on": c.on.isoformat(), "fee": _s(c.fee)} for k, c in sorted(self.credits.items())},
            "created_seen": self.created_seen,
            "canceled_at": _t(self.canceled_at),
            "paid_after_cancel": self.paid_after_cancel,
            "opened_at": _t(self.opened_at),
            "last_at": _t(self.last_at),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "refs": dict(sorted(self.refs.items())),
            "event_ids": list(self.event_ids),
            "expected": fmt(self.expected),
            "settled": fmt(self.settled),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectState:
        return cls(
            object_id=data["object_id"],
            provider=data["provider"],
            kind=data["kind"],
            status=data.get("status"),
            amount=_d(data.get("amount")),
            first_amount=_d(data.get("first_amount")),
            amount_conflict=bool(data.get("amount_conflict")),
            adjustments={k: Decimal(v) for k, v in (data.get("adjustments") or {}).items()},
            payments={k: Decimal(v) for k, v in (data.get("payments") or {}).items()},
            credits={
                k: Credit(date.fromisoformat(c["on"]), _d(c.get("fee"))) for k, c in (data.get("credits") or {}).items()
            },  # fmt: skip
            created_seen=bool(data.get("created_seen")),
            canceled_at=_dt(data.get("canceled_at")),
            paid_after_cancel=bool(data.get("paid_after_cancel")),
            opened_at=_dt(data.get("opened_at")),
            last_at=_dt(data.get("last_at")),
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
            refs=dict(data.get("refs") or {}),
            event_ids=list(data.get("event_ids") or []),
        )


def fold(facts: Iterable[Fact]) -> ObjectState:
    """The state of one object from all its facts (duplicates by idempotency key count once)."""
    unique = {f.key: f for f in facts}
    ordered = sorted(unique.values(), key=order_key)
    if not ordered:
        raise ValueError("fold() needs at least one fact")
    head = ordered[0]
    state = ObjectState(object_id=head.object_id, provider=head.provider, kind=head.kind)
    amounts: list[Decimal] = []
    changed = False
    payment_times: list[datetime] = []
    for fact in ordered:
        if fact.status:
            state.status = fact.status
        if fact.amount:  # zero = not stated (Celcoin's blocked cash-in reports 0.00)
            amounts.append(fact.amount)
            changed = changed or fact.amount_changed
        if fact.adjustments:
            state.adjustments = dict(fact.adjustments)
        for payment in fact.payments:
            state.payments[payment.id] = payment.amount
            payment_times.append(fact.at)
            known = state.credits.get(payment.id)
            state.credits[payment.id] = Credit(
                on=payment.credit_on or (known.on if known else fact.at.astimezone(BRT).date()),
                fee=payment.fee if payment.fee is not None else (known.fee if known else None),
            )
        state.created_seen = state.created_seen or fact.lifecycle
        if fact.canceled and state.canceled_at is None:
            state.canceled_at = fact.at
        state.opened_at = min(filter(None, (state.opened_at, fact.opened_at)), default=None)
        state.due_date = fact.due_date or state.due_date
        state.refs.update(fact.refs)
    if amounts:
        state.first_amount, state.amount = amounts[0], amounts[-1]
        state.amount_conflict = len(set(amounts)) > 1 and not changed
    state.opened_at = state.opened_at or head.at
    state.last_at = ordered[-1].at
    if state.canceled_at is not None:
        state.paid_after_cancel = any(t > state.canceled_at for t in payment_times)
    if state.kind not in CHARGES:
        state.payments, state.credits = {}, {}
    state.event_ids = sorted({f.event_id for f in ordered}, key=lambda e: (str(type(e)), e))
    return state


def _s(value: Decimal | None) -> str | None:
    return fmt(value) if value is not None else None


def _d(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
