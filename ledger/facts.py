"""What one provider event says about one money object, in provider-neutral terms.

Each provider module registers extractors with ``@extracts(provider, *patterns)``; an
extractor turns a validated payload (``providers.load_payload``) into ``Fact`` s. The fold
never looks at a provider payload again, so adding a provider means adding one module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.money import to_decimal


@dataclass(frozen=True)
class Payment:
    """One payment of a charge; the id makes a redelivered or re-reported payment count once.

    ``fee`` and ``credit_on`` are what the provider says it keeps and when the rest reaches the
    account (Kobana ``bank_rate`` and ``credit_at``), when it says so: the report's credits per day.
    """

    id: str
    amount: Decimal
    fee: Decimal | None = None
    credit_on: date | None = None

    def to_list(self) -> list[str | None]:
        """``[id, amount]``, plus ``fee`` and ``credit_on`` when stated (older facts have two items)."""
        head: list[str | None] = [self.id, str(self.amount)]
        if self.fee is None and self.credit_on is None:
            return head
        fee = None if self.fee is None else str(self.fee)
        return head + [fee, self.credit_on.isoformat() if self.credit_on else None]

    @classmethod
    def from_list(cls, item: list[Any]) -> Payment:
        fee = item[2] if len(item) > 2 else None
        credit = item[3] if len(item) > 3 else None
        return cls(item[0], Decimal(item[1]), None if fee is None else Decimal(fee),
                   date.fromisoformat(credit) if credit else None)  # fmt: skip


@dataclass(frozen=True)
class Fact:
    object_id: str  # "provider:provider's own id"
    provider: str
    kind: str
    event_id: int | str  # event-log primary key (idempotency key when none yet)
    key: str  # idempotency key: the last tie-breaker, so order never depends on arrival
    at: datetime  # the provider's own time for this event
    code: str
    status: str | None = None
    amount: Decimal | None = None  # face / requested amount as this event reports it
    amount_changed: bool = False  # an update that legitimately changes the amount
    payments: tuple[Payment, ...] = ()
    adjustments: Mapping[str, Decimal] = field(default_factory=dict)  # fine, interest, discount
    refs: Mapping[str, str] = field(default_factory=dict)
    lifecycle: bool = True  # proves the charge exists (anything but a bare payment notice)
    canceled: bool = False
    opened_at: datetime | None = None  # when the object itself was created, if stated
    due_date: date | None = None
    #: The object's other id, when this event names it both ways (a Kobana boleto's
    #: ``kobana:<uid>`` beside ``kobana:<id>``): a fact that knows only the uid reaches this object.
    aka: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (amounts as strings) so the database keeps facts, not re-parsed payloads."""
        return {
            "object_id": self.object_id,
            "provider": self.provider,
            "kind": self.kind,
            "event_id": self.event_id,
            "key": self.key,
            "at": self.at.isoformat(),
            "code": self.code,
            "status": self.status,
            "amount": None if self.amount is None else str(self.amount),
            "amount_changed": self.amount_changed,
            "payments": [p.to_list() for p in self.payments],
            "adjustments": {k: str(v) for k, v in self.adjustments.items()},
            "refs": dict(self.refs),
            "lifecycle": self.lifecycle,
            "canceled": self.canceled,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "aka": self.aka,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fact:
        return cls(
            object_id=data["object_id"],
            provider=data["provider"],
            kind=data["kind"],
            event_id=data["event_id"],
            key=data["key"],
            at=datetime.fromisoformat(data["at"]),
            code=data["code"],
            status=data.get("status"),
            amount=None if data.get("amount") is None else Decimal(data["amount"]),
            amount_changed=bool(data.get("amount_changed")),
            payments=tuple(Payment.from_list(item) for item in data.get("payments") or ()),
            adjustments={k: Decimal(v) for k, v in (data.get("adjustments") or {}).items()},
            refs=dict(data.get("refs") or {}),
            lifecycle=bool(data.get("lifecycle", True)),
            canceled=bool(data.get("canceled")),
            opened_at=datetime.fromisoformat(data["opened_at"]) if data.get("opened_at") else None,
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
            aka=data.get("aka"),
        )


@dataclass(frozen=True)
class Source:
    """The event fields an extractor may use (a subset of ``workers.event.Event``)."""

    provider: str
    event_code: str
    payload: Mapping[str, Any]
    event_id: int | str
    idempotency_key: str
    occurred_at: datetime | None
    received_at: datetime


Extractor = Callable[[Source], Iterable[Fact]]

#: ``{(provider, pattern): extractor}``; pattern is an exact code or ``prefix.*``.
_EXTRACTORS: dict[tuple[str, str], Extractor] = {}


def extracts(provider: str, *patterns: str) -> Callable[[Extractor], Extractor]:
    def register(fn: Extractor) -> Extractor:
        for pattern in patterns:
            if (provider, pattern) in _EXTRACTORS:
                raise ValueError(f"two ledger extractors for {provider!r} {pattern!r}")
            _EXTRACTORS[(provider, pattern)] = fn
        return fn

    return register


def extractor_for(provider: str, code: str) -> Extractor | None:
    """Exact code first, then the longest ``prefix.*`` match."""
    if (provider, code) in _EXTRACTORS:
        return _EXTRACTORS[(provider, code)]
    parts = code.split(".")
    for size in range(len(parts) - 1, 0, -1):
        found = _EXTRACTORS.get((provider, ".".join(parts[:size]) + ".*"))
        if found:
            return found
    return None


def facts_from(source: Source) -> list[Fact]:
    """The ledger facts in one event; [] for events the ledger does not track (ping, cards...)."""
    import ledger.sources  # noqa: F401 - registers the extractors

    extractor = extractor_for(source.provider, source.event_code)
    return list(extractor(source)) if extractor else []


def ref(value: object) -> str | None:
    """A reference as text (ids arrive as numbers or strings), None when empty."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text[:200] or None


def refs(**values: object) -> dict[str, str]:
    return {name: text for name, value in values.items() if (text := ref(value))}


def amounts(**values: object) -> dict[str, Decimal]:
    out = {}
    for name, value in values.items():
        number = to_decimal(value)
        if number is not None:
            out[name] = number
    return out
