"""The built-in ledger handlers on a real database, and the finance commands that read the ledger."""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa

import db
from handlers import handlers_for
from handlers.ledger import keep_ledger
from ledger.models import LedgerFact, LedgerObject
from tests.ledger_helpers import body, deliver, store_event

D = Decimal


def created():
    return body("kobana", "bank_billet.paid.json", **{
        "event_code": "bank_billet.created", "object.status": "opened", "object.paid_amount": D("0"),
        "object.bank_billet_payments": [], "object.updated_at": "2026-06-16T09:18:18-03:00",
        "changes": {}})  # fmt: skip


def objects(engine):
    with db.session_factory(engine)() as session:
        return {row.object_id: row for row in session.scalars(sa.select(LedgerObject))}


def test_ledger_handlers_are_registered_for_money_events_only():
    """bank_billet.*, pix.*, Transfer..., the six Celcoin money entities; never ping or cards."""
    assert keep_ledger in handlers_for("kobana", "bank_billet.paid")
    assert keep_ledger in handlers_for("transfeera", "TransferRefund")
    assert keep_ledger in handlers_for("celcoin", "pix-reversal-in")
    assert keep_ledger not in handlers_for("kobana", "ping")
    assert keep_ledger not in handlers_for("celcoin", "card-created")


def test_paid_before_created_on_the_database_yields_a_paid_boleto(engine):
    """bank_billet.paid stored before bank_billet.created: paid, 34990 centavos expected and settled."""
    deliver(engine, ("kobana", body("kobana", "bank_billet.paid.json"), "p"), ("kobana", created(), "c"))
    row = objects(engine)["kobana:84512377"]
    assert (row.status, row.expected_cents, row.settled_cents) == ("paid", 34990, 34990)
    assert row.external_id == "INV-2026-0042"
    assert row.state["created_seen"] is True


def test_running_the_handler_twice_for_one_event_changes_nothing(engine):
    """A retried job re-runs the handler: still one fact per (object, event), same state."""
    [event] = deliver(engine, ("kobana", body("kobana", "bank_billet.paid.json"), "p"))
    before = objects(engine)["kobana:84512377"].state
    with db.session_factory(engine).begin() as session:
        keep_ledger(event, session)
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(LedgerFact)) == 1
    assert objects(engine)["kobana:84512377"].state == before


def test_ledger_disabled_writes_nothing(engine, settings):
    """LEDGER_ENABLED=false: the event is stored, the ledger stays empty."""
    deliver(engine, ("kobana", created(), "c"), settings=settings.replace(ledger_enabled=False))
    assert objects(engine) == {}


def test_report_command_prints_the_documented_json(engine, app):
    """flask reconcile report --format json: totals and the underpaid discrepancy with its event ids."""
    payment = body("kobana", "bank_billet.paid.json")["object"]["bank_billet_payments"][0] | {"paid_amount": D("300")}
    short = body("kobana", "bank_billet.paid.json", **{"object.bank_billet_payments": [payment]})
    events = deliver(engine, ("kobana", created(), "c"), ("kobana", short, "p"))
    result = app.test_cli_runner().invoke(
        args=["reconcile", "report", "--from", "2026-06-01", "--to", "2026-06-30", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"] == [{"provider": "kobana", "kind": "boleto", "count": 1, "expected": "349.90",
                               "settled": "300.00"}]  # fmt: skip
    assert data["discrepancies"] == [{"provider": "kobana", "kind": "boleto", "object_id": "kobana:84512377",
                                      "type": "underpaid", "expected": "349.90", "actual": "300.00",
                                      "delta": "-49.90", "event_ids": sorted(e.id for e in events),
                                      "status": "open"}]  # fmt: skip


def test_ledger_show_and_list_read_the_object_back(engine, app):
    """flask ledger show prints the state and history; ledger list --format json filters by status."""
    deliver(engine, ("kobana", created(), "c"), ("kobana", body("kobana", "bank_billet.paid.json"), "p"))
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["ledger", "show", "kobana:84512377"])
    assert shown.exit_code == 0, shown.output
    assert "status       paid" in shown.output and "bank_billet.created" in shown.output
    listed = runner.invoke(args=["ledger", "list", "--status", "paid", "--format", "json"])
    assert [r["object_id"] for r in json.loads(listed.output)] == ["kobana:84512377"]
    assert runner.invoke(args=["ledger", "list", "--status", "canceled", "--format", "json"]).output.strip() == "[]"
    missing = runner.invoke(args=["ledger", "show", "kobana:1"])
    assert missing.exit_code != 0 and "no object" in missing.output


def test_absurd_statuses_from_outside_never_crash_the_handler(engine):
    """A 100-character status is recorded harmlessly (cut to the column), not raised.

    Absurd amounts (a 123-trillion Pix) no longer reach a handler: the door's schemas cap money
    at 10^12 reais and quarantine the body (tests/test_signature_edges.py and friends).
    """
    hostile = body("celcoin", "pix-payment-out.json", status="X" * 100)
    deliver(engine, ("celcoin", hostile, "h"))
    row = objects(engine)["celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9"]
    assert len(row.status) == 40


def test_two_workers_folding_one_object_at_once_both_events_count(engine):
    """Worker B waits on the object's lock while A's transaction is open; the final state has both events."""
    import threading

    registered = created()
    registered.update(event_code="bank_billet.registered")
    deliver(engine, ("kobana", registered, "r"))  # the object row exists and is committed
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        paid_event = store_event(session, "kobana", body("kobana", "bank_billet.paid.json"), "p")
        created_event = store_event(session, "kobana", created(), "c")
    first = sessions()
    first.begin()
    keep_ledger(paid_event, first)  # holds the row lock (PostgreSQL) / the write lock (SQLite)
    errors = []

    def second() -> None:
        try:
            with sessions.begin() as session:
                keep_ledger(created_event, session)
        except Exception as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # B is blocked until A commits
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not errors
    row = objects(engine)["kobana:84512377"]
    assert row.state["created_seen"] is True and row.status == "paid"
    assert len(row.state["event_ids"]) == 3


def test_bad_dates_get_a_clear_message_not_a_traceback(app):
    """--from 2026-13-01 or a bad --as-of: exit code 2 and a message naming the expected format."""
    runner = app.test_cli_runner()
    bad_day = runner.invoke(args=["reconcile", "report", "--from", "2026-13-01", "--to", "2026-10-31"])
    assert bad_day.exit_code == 2 and "expected a date like" in bad_day.output
    bad_time = runner.invoke(args=["reconcile", "report", "--from", "2026-10-01", "--to", "2026-10-31",
                                   "--as-of", "yesterday"])  # fmt: skip
    assert bad_time.exit_code == 2 and "expected an ISO time" in bad_time.output
    bad_month = runner.invoke(args=["reconcile", "demo", "--month", "2026-13"])
    assert bad_month.exit_code == 2 and "expected a month like" in bad_month.output
