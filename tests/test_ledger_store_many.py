"""``store.record_many``: the batch form of ``record`` the workers' drains use (one call per batch).

Checked against ``record`` itself on a generated month of real provider traffic (10% delivered
twice, shuffled), on SQLite and, with ``TEST_DATABASE_URL``, PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import db
from handlers.ledger import keep_ledger
from ledger import store
from ledger.facts import Fact, Source, facts_from
from ledger.fold import ObjectState
from ledger.models import LedgerFact, LedgerObject
from ledger.money import from_cents
from ledger.traffic import generate
from tests.ledger_helpers import store_events
from workers.event import Event


@pytest.fixture(scope="module")
def traffic() -> list[Any]:
    """A month for all three providers, 10% of it twice, in shuffled order (as the door receives it)."""
    return generate(2026, 10, seed=4).traffic(seed=9, duplicates=0.10)


def facts_of(events: list[Event]) -> list[Fact]:
    return [
        fact
        for e in events
        for fact in facts_from(
            Source(e.provider, e.event_code, e.payload, e.id, e.idempotency_key, e.occurred_at, e.received_at)
        )
    ]


def ledger_content(engine: sa.Engine) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Both ledger tables by natural key (object id and kind; plus event id for facts), ids left out."""
    columns = [c for c in LedgerObject.__table__.c if c.name != "id"]
    with db.session_factory(engine)() as session:
        objects = {(r.object_id, r.kind): tuple(r) for r in session.execute(sa.select(*columns))}
        facts = {
            (r.object_id, r.kind, r.event_id): (r.at, r.code, r.fact)
            for r in session.execute(
                sa.select(
                    LedgerObject.object_id,
                    LedgerObject.kind,
                    LedgerFact.event_id,
                    LedgerFact.at,
                    LedgerFact.code,
                    LedgerFact.fact,
                ).join(LedgerFact.object)
            )
        }
    return objects, facts


def empty_ledger(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(LedgerFact))
        conn.execute(sa.delete(LedgerObject))


def in_batches(engine: sa.Engine, facts: list[Fact], size: int) -> None:
    for start in range(0, len(facts), size):
        with db.session_factory(engine).begin() as session:
            store.record_many(session, facts[start : start + size])


def test_a_shuffled_month_in_batches_leaves_exactly_what_record_leaves(engine, traffic):
    """Same objects (status, centavos, refs, whole state) and same facts as record, one event at a time."""
    events = store_events(engine, traffic)
    sessions = db.session_factory(engine)
    for event in events:
        with sessions.begin() as session:
            keep_ledger(event, session)
    one_by_one = ledger_content(engine)
    assert len(one_by_one[0]) > 300 and len(one_by_one[1]) > 700

    empty_ledger(engine)
    for start in range(0, len(events), 200):  # the worker's batch size
        with sessions.begin() as session:
            keep_ledger.many(events[start : start + 200], session)  # what the worker calls per batch
    assert ledger_content(engine) == one_by_one

    empty_ledger(engine)
    in_batches(engine, facts_of(events), len(events))  # the whole month in one call
    assert ledger_content(engine) == one_by_one


def test_duplicate_facts_in_the_list_and_already_stored_change_nothing(engine, traffic):
    """Every fact twice in one list, then the same facts again (reversed) against the stored ones."""
    facts = facts_of(store_events(engine, traffic))[:150]
    in_batches(engine, facts, len(facts))
    once = ledger_content(engine)

    empty_ledger(engine)
    in_batches(engine, [f for fact in facts for f in (fact, fact)], 300)
    assert ledger_content(engine) == once
    in_batches(engine, facts[::-1] + facts[:40], 190)
    assert ledger_content(engine) == once


def test_statement_count_does_not_grow_with_the_list(engine, traffic):
    """10 facts and 100 facts (new objects and existing ones alike) cost the same six statements
    (five, plus the one lookup of boletos' uid akas: ledger.store.resolve)."""
    facts = facts_of(store_events(engine, traffic))
    executed: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        executed.append(statement)

    def statements(batch: list[Fact]) -> int:
        with db.session_factory(engine).begin() as session:
            session.execute(sa.select(1))  # the transaction's BEGIN is not record_many's
            executed.clear()
            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                store.record_many(session, batch)
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
        return len(executed)

    assert statements(facts[:10]) == statements(facts[10:110]) == statements(facts[:100] * 2) == 6


def test_money_stays_integer_centavos_and_exact_decimal(engine, traffic):
    """Amount columns come back as int; the stored state's amounts are exact two-place Decimals."""
    in_batches(engine, facts_of(store_events(engine, traffic)), 200)
    with db.session_factory(engine)() as session:
        rows = session.execute(sa.select(LedgerObject.expected_cents, LedgerObject.settled_cents, LedgerObject.state))
        rows = rows.all()
    assert rows
    for expected_cents, settled_cents, state in rows:
        assert type(expected_cents) is int and type(settled_cents) is int
        folded = ObjectState.from_dict(state)
        assert from_cents(expected_cents) == folded.expected == Decimal(state["expected"])
        assert from_cents(settled_cents) == folded.settled == Decimal(state["settled"])
        assert all(isinstance(v, Decimal) and v == v.quantize(Decimal("0.01")) for v in folded.payments.values())
    assert sum(settled for _expected, settled, _state in rows) > 0
