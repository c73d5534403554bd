"""The ledger core: provider events become one state per money object, whatever the order."""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import hypothesis
import pytest
from hypothesis import strategies as st

from ledger.fold import fold
from ledger.money import to_decimal
from ledger.reconcile import build_report
from ledger.traffic import generate
from ledger.vocab import DISCREPANCY_TYPES
from tests.ledger_helpers import body, facts, fold_all

D = Decimal


def created(**changes):
    return body("kobana", "bank_billet.paid.json", **{
        "event_code": "bank_billet.created", "object.status": "opened", "object.paid_amount": D("0"),
        "object.paid_at": None, "object.bank_billet_payments": [], "object.payment_count": 0,
        "object.updated_at": "2026-06-16T09:18:18-03:00", "changes": {}, **changes})  # fmt: skip


def paid(**changes):
    return body("kobana", "bank_billet.paid.json", **changes)


def canceled(at="2026-06-16T10:00:00-03:00"):
    return created(**{"event_code": "bank_billet.canceled", "object.status": "canceled", "object.updated_at": at})


def report(states, **kwargs):
    return build_report(states.values(), date(2026, 6, 1), date(2026, 6, 30), **kwargs)


def types(states, **kwargs):
    return sorted((d.object_id, d.type, str(d.expected), str(d.actual), str(d.delta)) for d in
                  report(states, **kwargs).discrepancies)  # fmt: skip


def test_paid_before_created_still_yields_a_paid_boleto_with_its_expected_amount():
    """bank_billet.paid arriving before bank_billet.created: paid, expected 349.90, nothing flagged."""
    state = fold_all([("kobana", paid(), "d-paid"), ("kobana", created(), "d-created")])["kobana:84512377"]
    assert state.status == "paid"
    assert state.expected == D("349.90")
    assert state.settled == D("349.90")
    assert types({"x": state}) == []


def test_every_arrival_order_gives_the_same_state():
    """created, registered, overdue and paid in all 24 orders fold to one identical state."""
    events = [
        ("kobana", created(), "a"),
        ("kobana", created(**{"event_code": "bank_billet.registered",
                              "object.updated_at": "2026-06-16T09:20:05-03:00"}), "b"),
        ("kobana", created(**{"event_code": "bank_billet.overdue", "object.status": "overdue",
                              "object.updated_at": "2026-06-16T12:00:00-03:00"}), "c"),
        ("kobana", paid(), "d"),
    ]  # fmt: skip
    states = {repr(fold_all(list(order))["kobana:84512377"].to_dict()) for order in itertools.permutations(events)}
    assert len(states) == 1
    assert "'status': 'paid'" in states.pop()


def test_a_redelivered_event_counts_once():
    """The same payment delivered three times is one payment, not paid_twice."""
    state = fold_all([("kobana", created(), "c")] + [("kobana", paid(), "p")] * 3)["kobana:84512377"]
    assert state.paid == D("349.90")
    assert len(state.payments) == 1


def test_underpaid_boleto_reports_the_shortfall():
    """A boleto of 349.90 paid 300.00 is underpaid by -49.90."""
    payment = paid()["object"]["bank_billet_payments"][0] | {"paid_amount": D("300.00")}
    states = fold_all([("kobana", created(), "c"), ("kobana", paid(**{"object.bank_billet_payments": [payment]}), "p")])
    assert types(states) == [("kobana:84512377", "underpaid", "349.90", "300.00", "-49.90")]


def test_overpaid_boleto_reports_the_excess():
    """A boleto of 349.90 paid 400.00 is overpaid by 50.10."""
    payment = paid()["object"]["bank_billet_payments"][0] | {"paid_amount": D("400.00")}
    states = fold_all([("kobana", created(), "c"), ("kobana", paid(**{"object.bank_billet_payments": [payment]}), "p")])
    assert types(states) == [("kobana:84512377", "overpaid", "349.90", "400.00", "50.10")]


def test_fine_and_interest_stated_by_the_payment_are_not_a_discrepancy():
    """Paid 359.88 = 349.90 + fine 6.99 + interest 2.99: expected includes them, nothing flagged."""
    payment = paid()["object"]["bank_billet_payments"][0] | {"paid_amount": D("359.88")}
    late = paid(**{"object.bank_billet_payments": [payment], "object.fine_value": D("6.99"),
                   "object.interest_value": D("2.99")})  # fmt: skip
    state = fold_all([("kobana", created(), "c"), ("kobana", late, "p")])["kobana:84512377"]
    assert state.adjustments == {"fine": D("6.99"), "interest": D("2.99")}
    assert state.expected == state.settled == D("359.88")
    assert types({"x": state}) == []


def test_boleto_paid_twice_is_flagged_once_as_paid_twice():
    """Two distinct payment ids: paid_twice with the total received, not also overpaid."""
    first = paid()["object"]["bank_billet_payments"][0]
    second = first | {"id": 6620045, "paid_at": "2026-06-17"}
    again = paid(**{"object.bank_billet_payments": [first, second], "object.updated_at": "2026-06-17T10:00:00-03:00"})
    states = fold_all([("kobana", created(), "c"), ("kobana", paid(), "p1"), ("kobana", again, "p2")])
    assert types(states) == [("kobana:84512377", "paid_twice", "349.90", "699.80", "349.90")]


def test_payment_after_cancel_is_flagged_with_nothing_expected():
    """Canceled at 10:00, paid at 14:05: paid_after_cancel, expected 0.00, actual 349.90."""
    states = fold_all([("kobana", paid(), "p"), ("kobana", canceled(), "x"), ("kobana", created(), "c")])
    assert types(states) == [("kobana:84512377", "paid_after_cancel", "0.00", "349.90", "349.90")]


def test_payment_for_a_charge_never_seen_created_is_recorded_and_flagged_unknown():
    """Only bank_billet.paid ever arrives: the boleto is in the ledger and flagged unknown_charge."""
    states = fold_all([("kobana", paid(), "p")])
    assert states["kobana:84512377"].settled == D("349.90")
    assert types(states) == [("kobana:84512377", "unknown_charge", "0.00", "349.90", "349.90")]


def test_two_events_with_different_amounts_are_an_amount_conflict():
    """created says 349.90, paid says 359.90 (no update in between): amount_conflict of 10.00."""
    payment = paid()["object"]["bank_billet_payments"][0] | {"paid_amount": D("359.90")}
    other = paid(**{"object.amount": D("359.90"), "object.bank_billet_payments": [payment]})
    states = fold_all([("kobana", other, "p"), ("kobana", created(), "c")])
    assert types(states) == [("kobana:84512377", "amount_conflict", "349.90", "359.90", "10.00")]


HUNDRED = D("100")


def transfer(status, when, key_value=HUNDRED):
    return ("transfeera", body("transfeera", "Transfer.json", **{
        "id": f"evt-{status}", "date": when, "data.status": status, "data.value": key_value,
        "data.created_at": "2026-06-10T12:00:00.000Z"}), f"evt-{status}")  # fmt: skip


def test_failed_transfer_is_payout_failed():
    """CRIADO then FALHA: payout_failed, nothing settled."""
    states = fold_all([transfer("FALHA", "2026-06-10T12:30:00.000Z"), transfer("CRIADO", "2026-06-10T12:00:00.000Z")])
    assert states["transfeera:60040"].status == "FALHA"
    assert types(states) == [("transfeera:60040", "payout_failed", "100.00", "0.00", "-100.00")]


def test_older_status_arriving_late_never_overwrites_a_newer_one():
    """FINALIZADO at 12:20 then a late CRIADO from 12:00: the transfer stays FINALIZADO."""
    states = fold_all(
        [transfer("FINALIZADO", "2026-06-10T12:20:00.000Z"), transfer("CRIADO", "2026-06-10T12:00:00.000Z")]
    )
    assert states["transfeera:60040"].status == "FINALIZADO"
    assert states["transfeera:60040"].settled == D("100.00")


def test_refunded_transfer_is_payout_returned_with_the_refund_events():
    """A TransferRefund of 50.54 pointing at transfer 60040 flags it payout_returned by -50.54."""
    refund = body(
        "transfeera", "TransferRefund.json", **{"data.transfer_id": "60040", "date": "2026-06-12T10:00:00.000Z"}
    )
    states = fold_all([transfer("FINALIZADO", "2026-06-10T12:20:00.000Z"), ("transfeera", refund, "evt-refund")])
    [found] = report(states).discrepancies
    assert (found.type, str(found.expected), str(found.actual), str(found.delta)) == (
        "payout_returned",
        "100.00",
        "49.46",
        "-50.54",
    )
    assert set(found.event_ids) == {"evt-FINALIZADO", "evt-refund"}


def test_pending_payout_is_flagged_only_after_the_configured_time():
    """A Celcoin pix-payment-out still PENDING: flagged after 24 h, not after 23 h."""
    out = body("celcoin", "pix-payment-out.json", status="PENDING", createTimestamp="2026-06-10T12:00:00.000+00:00")
    states = fold_all([("celcoin", out, "o")])
    opened = datetime(2026, 6, 10, 12, tzinfo=UTC)
    assert types(states, as_of=opened + timedelta(hours=23)) == []
    assert [t[1] for t in types(states, as_of=opened + timedelta(hours=25))] == ["payout_pending"]
    assert types(states, as_of=opened + timedelta(hours=25), pending_after=timedelta(hours=48)) == []


def test_pending_then_confirmed_in_the_same_millisecond_resolves_to_confirmed():
    """PENDING and CONFIRMED stamped alike: the status rank decides, in every arrival order."""
    when = "2026-06-10T12:00:00.000+00:00"
    pending = ("celcoin", body("celcoin", "pix-payment-out.json", status="PENDING", createTimestamp=when), "k1")
    confirmed = ("celcoin", body("celcoin", "pix-payment-out.json", createTimestamp=when), "k2")
    for order in ([pending, confirmed], [confirmed, pending]):
        assert fold_all(order)["celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9"].status == "CONFIRMED"


def test_blocked_cash_in_reporting_zero_is_not_an_amount_conflict():
    """Celcoin's PENDING cash-in shows amount 0.00 until released (providers.md §2.6): no conflict."""
    when = "2026-06-10T12:00:00.000+00:00"
    blocked = body(
        "celcoin", "pix-payment-in.json", status="PENDING", createTimestamp=when, **{"body.amount": D("0.00")}
    )
    states = fold_all([("celcoin", blocked, "a"), ("celcoin", body("celcoin", "pix-payment-in.json"), "b")])
    assert states["celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9"].amount == D("8000.00")
    assert not states["celcoin:7d89772a-6fbe-4cbf-a3c3-fc7f31aa63c9"].amount_conflict


def test_cash_in_is_matched_to_the_kobana_pix_charge_by_txid_and_counted_once_in_net():
    """A Transfeera CashIn carrying a Kobana txid is the same money: net counts 49.90 once."""
    charge = body("kobana", "pix.paid.json", **{"object.created_at": "2026-06-15T09:12:03-03:00",
                                                "object.updated_at": "2026-06-15T09:18:41-03:00"})  # fmt: skip
    cash_in = body("transfeera", "CashIn.json", date="2026-06-15T12:18:44.000Z",
                   **{"data.txid": "kobaa11bb22cc33dd44ee55ff66001122", "data.value": D("49.90")})  # fmt: skip
    states = fold_all([("kobana", charge, "k"), ("transfeera", cash_in, "t")])
    assert report(states).net["all"] == D("49.90")


def test_a_float_amount_is_refused_loudly():
    """Money is never a float: the ledger raises instead of rounding a float quietly."""
    with pytest.raises(TypeError):
        to_decimal(349.9)


def test_generated_month_has_no_float_anywhere_and_folds_to_its_ground_truth():
    """The whole generated month, folded without a database, equals its independent ground truth."""
    month = generate(2026, 10)
    grouped = {}
    for delivery in month.traffic(seed=3):
        found = facts(delivery.provider, _loads(delivery.body), delivery.delivery_id or delivery.key)
        for fact in found:
            _assert_no_float(fact.__dict__)
            grouped.setdefault((fact.object_id, fact.kind), []).append(fact)
    states = {oid: fold(group) for (oid, _), group in grouped.items()}
    got = build_report(states.values(), date(2026, 10, 1), date(2026, 10, 31), as_of=month.as_of)
    want = month.expected_report()
    _assert_no_float(got.to_dict())
    assert got.to_dict()["totals"] == want["totals"]
    assert [{k: v for k, v in d.items() if k != "event_ids"} for d in got.to_dict()["discrepancies"]] == [
        {k: v for k, v in d.items() if k != "event_keys"} for d in want["discrepancies"]
    ]
    assert {k: str(v) for k, v in got.net.items()} == want["net"]
    assert {d["type"] for d in want["discrepancies"]} == set(DISCREPANCY_TYPES)


def _loads(raw):
    return json.loads(raw, parse_float=D)


def _assert_no_float(value):
    if isinstance(value, dict):
        for item in value.values():
            _assert_no_float(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _assert_no_float(item)
    else:
        assert not isinstance(value, float), value


def test_a_fact_survives_its_json_round_trip_exactly():
    """What the database stores per event folds back to the very same fact (Decimal, dates, refs)."""
    from ledger.facts import Fact

    for fact in facts("kobana", paid(**{"object.fine_value": D("6.99")}), "p"):
        again = Fact.from_dict(json.loads(json.dumps(fact.to_dict())))
        assert again == fact


@functools.cache
def _month_facts():
    grouped = {}
    for delivery in generate(2026, 10, seed=1).deliveries:
        for fact in facts(delivery.provider, _loads(delivery.body), delivery.delivery_id or delivery.key):
            grouped.setdefault((fact.object_id, fact.kind), []).append(fact)
    return grouped


@hypothesis.settings(max_examples=80, deadline=None, derandomize=True)
@hypothesis.given(st.data())
def test_any_order_and_any_repeats_of_an_objects_events_fold_to_the_same_state(data):
    """For every generated object: shuffled and partly redelivered events give the identical state."""
    grouped = _month_facts()
    events = grouped[data.draw(st.sampled_from(sorted(grouped)))]
    shuffled = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=3))
    assert fold(shuffled + repeats).to_dict() == fold(events).to_dict()


def test_celcoin_legacy_request_body_is_a_pix_in_too():
    """The legacy {"RequestBody": {"TransactionType": "RECEIVEPIX", ...}} shape becomes a confirmed pix_in."""
    legacy = {"RequestBody": {"TransactionType": "RECEIVEPIX", "TransactionId": 761679887, "Amount": D("8000.00"),
                              "EndToEndId": "E1393589320230727130301498341234",
                              "createdTimestamp": "07/27/2023 10:03:31",
                              "StatusCode": {"Description": "confirmed", "StatusId": 2}}}  # fmt: skip
    state = fold_all([("celcoin", legacy, "l")])["celcoin:761679887"]
    assert (state.kind, state.status, state.settled) == ("pix_in", "CONFIRMED", D("8000.00"))
    assert state.opened_at.isoformat() == "2023-07-27T10:03:31-03:00"
