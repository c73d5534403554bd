"""The generator's frame: clock, ids, amounts, the list of deliveries and the ground truth."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.traffic import bodies
from ledger.traffic.truth import Expect, expected_report


@dataclass(frozen=True)
class Delivery:
    """One notification as the provider sends it (signing happens at send time: ``t`` is now)."""

    provider: str
    body: bytes
    key: str  # the idempotency key the door derives from it
    object_id: str
    event_code: str
    delivery_id: str | None = None  # Kobana's X-Kobana-Delivery-Id (kept on a retry)
    entity: str | None = None  # Celcoin path entity; BaaS bodies carry their own


@dataclass
class Month:
    start: datetime  # first instant of the month, Brasília time
    end: datetime
    deliveries: list[Delivery] = field(default_factory=list)
    objects: list[Expect] = field(default_factory=list)

    @property
    def as_of(self) -> datetime:
        """When the month's report is run in tests: the first instant of the next month."""
        return self.end

    def expected_report(self, as_of: datetime | None = None, pending_after: timedelta = timedelta(hours=24)) -> Any:
        return expected_report(self.objects, as_of or self.as_of, pending_after)

    def traffic(self, seed: int = 0, duplicates: float = 0.10) -> list[Delivery]:
        """Every delivery, ``duplicates`` of them twice (provider retries), in shuffled order."""
        rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
        sent = list(self.deliveries)
        sent += rng.sample(self.deliveries, round(len(self.deliveries) * duplicates))
        rng.shuffle(sent)
        return sent


class Gen:
    """Shared helpers for the per-provider scenario modules."""

    def __init__(self, month: Month, seed: int) -> None:
        self.month = month
        self.rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
        self.counter = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, size: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(size))

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def cents(self, low: int, high: int) -> Decimal:
        """A random amount between ``low`` and ``high`` reais, built from integer centavos."""
        return (Decimal(self.rng.randint(low * 100, high * 100)) / 100).quantize(Decimal("0.01"))

    def moment(self, last_day: int = 20) -> datetime:
        """A business-hours moment between day 1 and ``last_day`` of the month (Brasília time)."""
        day = self.rng.randint(0, last_day - 1)
        return self.month.start + timedelta(days=day, hours=self.rng.randint(8, 17), minutes=self.rng.randint(0, 59),
                                            seconds=self.rng.randint(0, 59))  # fmt: skip

    def e2e(self, at: datetime, ispb: str = "13935893") -> str:
        return f"E{ispb}{at.astimezone(bodies.BRT):%Y%m%d%H%M}{self.hex(11)}"

    def add(self, expect: Expect, provider: str, body: dict[str, Any], key: str, code: str, **extra: Any) -> None:
        self.month.deliveries.append(Delivery(provider, bodies.dumps(body), key, expect.object_id, code, **extra))
        expect.keys.append(key)

    def kobana(self, expect: Expect, body: dict[str, Any]) -> None:
        delivery_id = self.uuid()
        self.add(expect, "kobana", body, f"delivery:{delivery_id}", body["event_code"], delivery_id=delivery_id)

    def transfeera(self, expect: Expect, obj: str, at: datetime, data: dict[str, Any]) -> None:
        event_id = self.uuid()
        body = bodies.transfeera(obj, event_id=event_id, at=at, data=data)
        self.add(expect, "transfeera", body, f"event:{event_id}", obj)

    def celcoin(self, expect: Expect, entity: str, at: datetime, status: str, body: dict[str, Any]) -> None:
        full = bodies.celcoin(entity, at=at, status=status, style=self.rng.randint(0, 1), body=body)
        self.add(expect, "celcoin", full, f"{entity}:{body['id']}:{status}", entity)


def generate(year: int, month: int, seed: int = 2026, first_id: int = 0) -> Month:
    """A month of traffic for Kobana, Transfeera and Celcoin with every discrepancy type in it.

    Numbered ids (boletos, Kobana Pix, Transfeera transfers) count from ``first_id``: months meant
    to sit in one ledger each take their own range (a month uses fewer than 1,000), or their
    objects would be the same ones.
    """
    from ledger.traffic import celcoin, kobana, transfeera

    start = datetime(year, month, 1, tzinfo=bodies.BRT)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=bodies.BRT)
    result = Month(start=start, end=end)
    gen = Gen(result, seed)
    gen.counter = first_id
    paid_pix = kobana.generate(gen)
    transfeera.generate(gen, paid_pix)
    celcoin.generate(gen)
    return result
