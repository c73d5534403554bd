"""The console's reads that are plain SQL aggregates (the overview): Flask-free, dialect-aware.

Days are Brasília days, as in the report: PostgreSQL converts with ``AT TIME ZONE``; SQLite
shifts by three hours (Brazil has kept UTC-3 all year since 2019).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import FAILED, QUARANTINED, EventRecord
from ledger.discrepancies import ACKNOWLEDGED, OPEN, DiscrepancyRow
from ledger.models import LedgerObject
from ledger.money import ZERO, from_cents
from ledger.vocab import DIRECTION, KINDS
from ops.i18n import TIMEZONE


@dataclass(frozen=True)
class Totals:
    provider: str
    kind: str
    count: int
    expected: Decimal
    settled: Decimal


def brt_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TIMEZONE).astimezone(UTC)


def totals(session: Session, since: date, until: date) -> list[Totals]:
    """Per provider and kind, objects opened on Brasília days ``since`` to ``until`` (inclusive)."""
    o = LedgerObject
    query = (
        select(o.provider, o.kind, func.count(), func.sum(o.expected_cents), func.sum(o.settled_cents))
        .where(o.opened_at >= brt_midnight(since), o.opened_at < brt_midnight(until + timedelta(days=1)))
        .group_by(o.provider, o.kind)
    )
    order = {k: i for i, k in enumerate(KINDS)}
    rows = [
        Totals(p, k, int(c), from_cents(int(e or 0)), from_cents(int(s or 0)))
        for p, k, c, e, s in session.execute(query)
    ]
    return sorted(rows, key=lambda t: (t.provider, order.get(t.kind, 99)))


def open_by_type(session: Session) -> dict[str, int]:
    query = (
        select(DiscrepancyRow.type, func.count())
        .where(DiscrepancyRow.status.in_((OPEN, ACKNOWLEDGED)))
        .group_by(DiscrepancyRow.type)
    )
    return dict(sorted((t, int(c)) for t, c in session.execute(query)))


def event_counts(session: Session) -> dict[str, int]:
    return {
        status: int(
            session.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.status == status)) or 0
        )
        for status in (FAILED, QUARANTINED)
    }


def settled_per_day(session: Session, today: date, days: int = 30) -> list[tuple[date, Decimal, Decimal]]:
    """(day, money in, money out) settled by objects opened on each of the last ``days`` Brasília days."""
    o = LedgerObject
    first = today - timedelta(days=days - 1)
    query = (
        select(_brt_day(session, o.opened_at).label("day"), o.kind, func.sum(o.settled_cents))
        .where(o.opened_at >= brt_midnight(first), o.opened_at < brt_midnight(today + timedelta(days=1)))
        .group_by("day", o.kind)
    )
    sums: dict[date, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for day_value, kind, cents in session.execute(query):
        day_ = day_value if isinstance(day_value, date) else date.fromisoformat(str(day_value))
        sums[day_][0 if DIRECTION.get(kind) == "in" else 1] += from_cents(int(cents or 0))
    return [(first + timedelta(days=n), *sums[first + timedelta(days=n)]) for n in range(days)]  # type: ignore[misc]


def _brt_day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(str(TIMEZONE), column))
    return func.date(column, "-3 hours")
