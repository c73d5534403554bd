"""The reconciliation report reads what its period can depend on, and gives what it gives over every object.

``flask reconcile report`` and the console's CSV and XLSX used to fold the whole ledger for any
period: time and memory growing with every object ever kept. Now ``discrepancies.report`` reads
``period_states``: the period's objects, the charges with credits in it, and what those link
to. Three generated months (every discrepancy type; returns, refunds and Pix matched to
charges; credits the day after payment) are reported for months, a quarter and single days on
either side of month ends, each against ``build_report`` over every object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

import db
from config import Settings
from handlers.ledger import keep_ledger_many
from ledger import discrepancies, store
from ledger.models import LedgerObject
from ledger.reconcile import Report, _Links, build_report, local_date
from ledger.traffic import generate
from ledger.vocab import CHARGES, PAYOUTS
from tests.databases import fresh_database
from tests.ledger_helpers import body, deliver, store_events

MONTHS = ((2026, 8), (2026, 9), (2026, 10))
#: Months, a quarter, and days either side of month ends: objects open on days 1-20 of each month
#: (ledger.traffic), so a 21st holds only credits of payments made the day before.
DAYS = (date(2026, 8, 20), date(2026, 8, 21), date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 20),
        date(2026, 9, 21), date(2026, 10, 1), date(2026, 10, 15))  # fmt: skip
PERIODS = [
    (date(2026, 8, 1), date(2026, 8, 31)),
    (date(2026, 9, 1), date(2026, 9, 30)),
    (date(2026, 10, 1), date(2026, 10, 31)),
    (date(2026, 8, 1), date(2026, 10, 31)),
    *((day, day) for day in DAYS),
]


@pytest.fixture(scope="module")
def ledger(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The three months in a database of this module's own, loaded once (the session's database is
    emptied after every test). ``database_url``: the kind of database the suite runs on."""
    with fresh_database(tmp_path_factory.mktemp("ledger")) as url:
        engine = db.engine_from(Settings(database_url=url))
        for i, (year, month) in enumerate(MONTHS):
            traffic = generate(year, month, seed=month, first_id=1000 * i).traffic(seed=month, duplicates=0)
            events = store_events(engine, traffic)
            with db.session_factory(engine).begin() as session:
                keep_ledger_many(events, session)
        yield engine
        engine.dispose()


def _shape(report: Report) -> tuple:
    found = [(d.provider, d.kind, d.object_id, d.type, d.expected, d.actual, d.event_ids, d.note)
             for d in report.discrepancies]  # fmt: skip
    return report.totals, report.net, found, report.daily


@pytest.mark.parametrize(("start", "end"), PERIODS, ids=[f"{s}..{e}" for s, e in PERIODS])
def test_the_report_of_a_period_equals_the_report_over_every_object(ledger, start, end):
    with db.session_factory(ledger)() as session:  # rolled back: each side sees the same rows
        everything = store.states(session)
        full = build_report(everything, start, end)
        bounded = discrepancies.report(session, start, end)
    assert _shape(bounded) == _shape(full)
    assert full.totals or full.daily


def test_a_provider_s_report_of_a_period_equals_the_one_over_every_object(ledger):
    start, end = date(2026, 9, 1), date(2026, 9, 30)
    with db.session_factory(ledger)() as session:
        for provider in ("kobana", "transfeera", "celcoin"):
            full = build_report(store.states(session), start, end, provider=provider)
            assert _shape(discrepancies.report(session, start, end, provider=provider)) == _shape(full)


def test_a_day_s_report_reads_a_small_part_of_the_ledger(ledger):
    day = date(2026, 9, 15)
    with db.session_factory(ledger)() as session:
        read = discrepancies.period_states(session, day, day)
        assert 0 < len(read) < len(store.states(session)) / 10


def test_the_months_hold_the_links_that_cross_a_period_s_edge(ledger):
    """What the equalities above rest on is there: returns and credits on other days than their objects'."""
    with db.session_factory(ledger)() as session:
        states = store.states(session)
    links = _Links(states)
    day = {s.object_id: local_date(s.opened_at) for s in states if s.opened_at}
    returned = [r for s in states if s.kind in PAYOUTS for r in links.returns.get(s.object_id, [])
                if day[r.object_id] != day[s.object_id]]  # fmt: skip
    credited_later = [s for s in states if s.kind in CHARGES for c in s.credits.values() if c.on != day[s.object_id]]
    assert returned and credited_later


def test_a_pix_received_days_after_its_charge_is_left_out_of_the_net_of_its_day(engine):
    """The generated months match each received Pix to a charge of the same day; here the charge
    is three days older, outside the day's report, and must still be found."""
    charge = body("kobana", "pix.paid.json", **{"object.txid": "kobdays0001", "object.amount": Decimal("50.54")})
    cash_in = body("transfeera", "CashIn.json", **{"data.txid": "kobdays0001", "date": "2024-06-18T13:00:00.000Z"})
    deliver(engine, ("kobana", charge, "k-days-1"), ("transfeera", cash_in, "t-days-1"))
    day = date(2024, 6, 18)
    with db.session_factory(engine)() as session:
        full = build_report(store.states(session), day, day)
        bounded = discrepancies.report(session, day, day)
    assert [(t.provider, t.kind, t.count) for t in full.totals] == [("transfeera", "pix_in", 1)]
    assert full.net["all"] == 0
    assert _shape(bounded) == _shape(full)


def test_first_and_last_credit_on_are_a_charge_s_credit_days(ledger):
    with db.session_factory(ledger)() as session:
        query = sa.select(LedgerObject.state, LedgerObject.first_credit_on, LedgerObject.last_credit_on)
        rows = session.execute(query).all()
    assert any(first for _state, first, _last in rows)
    for state, first, last in rows:
        days = [date.fromisoformat(c["on"]) for c in (state.get("credits") or {}).values()]
        assert (first, last) == ((min(days), max(days)) if days else (None, None))


def test_the_migration_fills_the_credit_days_of_the_charges_already_kept(database_url, tmp_path):
    credits = {"p1": {"on": "2026-10-05", "fee": "1.50"}, "p2": {"on": "2026-10-02", "fee": None}}
    with fresh_database(tmp_path, revision="0008_console") as url:
        engine = db.engine_from(Settings(database_url=url))
        with engine.begin() as conn:
            for object_id, state in (
                ("kobana:1", {"credits": credits}),
                ("kobana:2", {"credits": {}}),
                ("kobana:3", {}),
            ):
                conn.execute(sa.text("INSERT INTO ledger_objects (object_id, provider, kind, expected_cents, "
                                     "settled_cents, state) VALUES (:id, 'kobana', 'boleto', 0, 0, :state)"),
                             {"id": object_id, "state": json.dumps(state)})  # fmt: skip
        db.migrate(Settings(database_url=url))
        query = "SELECT object_id, first_credit_on, last_credit_on FROM ledger_objects ORDER BY object_id"
        with engine.connect() as conn:
            rows = [(o, first and str(first), last and str(last)) for o, first, last in conn.execute(sa.text(query))]
        engine.dispose()
    assert rows == [("kobana:1", "2026-10-02", "2026-10-05"), ("kobana:2", None, None), ("kobana:3", None, None)]
