"""Kobana command events in both published shapes reach the real boleto or Pix charge, never a phantom.

Kobana's payloads.mdx shows a command event (``*.register.*``, ``*.cancel.*``, ``*.update.*``) two
ways: the "Comando" section (``object`` with ``operation``, ``resource_type``, ``resource_uid`` and
the resource nested, a boleto by uid only) and the resource sections (the Boleto tab, "Pix —
operações": ``operation`` and the nested resource, no ``resource_type``). Samples:
tests/samples/kobana/docs/ (``*.comando.json`` and the Boleto tab's ``bank_billet.register.confirmed``;
``pix.register.confirmed`` is the Comando one, ``pix.cancel.confirmed`` the operações one).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

import db
from ledger import store
from ledger.reconcile import build_report
from tests.ledger_helpers import body, deliver, deliver_batch, facts, ledger_objects

D = Decimal
BOLETO_ID, BOLETO_UID = "84512377", "BB7F3A2C9D1E4B6A8F05"  # the documented bank_billet.paid's boleto
PIX_UID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"  # the documented pix.db.created / overdue / cancel's charge
FAMILIES = ("register", "cancel", "update")
STATUS_AFTER = {"register": "registered", "cancel": "canceled", "update": "opened"}


def boleto_command(shape: str, operation: str, status: str = "confirmed", amount: str = "349.90") -> dict:
    """A ``bank_billet.<operation>.<status>`` for the documented boleto, in ``shape`` comando|resource."""
    name = (
        "bank_billet.register.confirmed.comando.json" if shape == "comando" else "bank_billet.register.confirmed.json"
    )
    data = body("kobana", f"docs/{name}", **{"event_code": f"bank_billet.{operation}.{status}",
                                             "object.operation": operation, "object.status": status,
                                             "object.updated_at": "2026-06-16T09:20:05-03:00"})  # fmt: skip
    nested = data["object"]["bank_billet"]
    nested.update(uid=BOLETO_UID, status=STATUS_AFTER[operation], amount=D(amount))
    if shape == "comando":
        data["object"]["resource_uid"] = BOLETO_UID
    return data


def pix_command(shape: str, operation: str, status: str = "confirmed", amount: str = "150.75") -> dict:
    """A ``pix.<operation>.<status>`` for the documented Pix charge, in ``shape`` comando|resource."""
    name = "pix.register.confirmed.json" if shape == "comando" else "pix.cancel.confirmed.json"
    data = body("kobana", f"docs/{name}", **{"event_code": f"pix.{operation}.{status}",
                                             "object.operation": operation, "object.status": status})  # fmt: skip
    nested = data["object"]["pix"]
    nested.update(uid=PIX_UID, status=STATUS_AFTER[operation], amount=D(amount))
    if shape == "comando":
        data["object"]["resource_uid"] = PIX_UID
    return data


def command_ids(data: dict) -> set[str]:
    return {f"kobana:{data['object'][k]}" for k in ("id", "uid") if data["object"].get(k)}


def state_of(engine, object_id: str):
    with db.session_factory(engine)() as session:
        return {s.object_id: s for s in store.states(session)}[object_id]


def discrepancies(engine) -> list[tuple[str, str]]:
    with db.session_factory(engine)() as session:
        report = build_report(store.states(session), date(2000, 1, 1), date(2100, 1, 1))
    return [(d.object_id, d.type) for d in report.discrepancies]


@pytest.mark.parametrize("shape", ["comando", "resource"])
@pytest.mark.parametrize("operation", FAMILIES)
def test_a_boleto_command_names_the_boleto_never_itself(shape, operation):
    """Either shape, every family: one fact, about the boleto (by id, or by uid when only that is given)."""
    data = boleto_command(shape, operation)
    [fact] = facts("kobana", data, "d")
    assert fact.object_id in (f"kobana:{BOLETO_ID}", f"kobana:{BOLETO_UID}")
    assert fact.object_id not in command_ids(data)
    assert fact.kind == "boleto" and fact.status == STATUS_AFTER[operation] and fact.amount == D("349.90")
    assert fact.canceled is (operation == "cancel")


@pytest.mark.parametrize("shape", ["comando", "resource"])
@pytest.mark.parametrize("operation", FAMILIES)
def test_a_pix_command_names_the_charge_never_itself(shape, operation):
    """Either shape, every family: one fact about the Pix charge ``kobana:<uid>``."""
    data = pix_command(shape, operation)
    [fact] = facts("kobana", data, "d")
    assert fact.object_id == f"kobana:{PIX_UID}" and fact.object_id not in command_ids(data)
    assert fact.kind == "pix_charge" and fact.status == STATUS_AFTER[operation]
    assert fact.canceled is (operation == "cancel")


@pytest.mark.parametrize("shape", ["comando", "resource"])
@pytest.mark.parametrize("status", ["requested", "failed", "error"])
def test_a_command_that_did_not_happen_is_no_fact(shape, status):
    """*.register.requested / failed / error changed nothing: no fact, in either shape."""
    assert facts("kobana", boleto_command(shape, "register", status), "d") == []
    assert facts("kobana", pix_command(shape, "cancel", status), "d") == []


def test_a_command_without_its_resource_is_no_fact():
    """A command whose nested resource and resource_uid are missing names nothing: no object at all."""
    data = boleto_command("resource", "register")
    del data["object"]["bank_billet"]
    assert facts("kobana", data, "d") == []


@pytest.mark.parametrize("deliver_", [deliver, deliver_batch], ids=["one_by_one", "one_batch"])
@pytest.mark.parametrize("order", ["register_first", "paid_first"])
@pytest.mark.parametrize("shape", ["comando", "resource"])
def test_the_registration_reaches_the_paid_boleto_so_it_is_no_unknown_charge(engine, shape, order, deliver_):
    """bank_billet.register.confirmed + bank_billet.paid, any order, either shape, one event per
    transaction or one batch: one object, kobana:84512377, paid, and no unknown_charge."""
    items = [
        ("kobana", boleto_command(shape, "register"), "r"),
        ("kobana", body("kobana", "bank_billet.paid.json"), "p"),
    ]
    deliver_(engine, *(items if order == "register_first" else items[::-1]))
    rows = ledger_objects(engine)
    assert list(rows) == [f"kobana:{BOLETO_ID}"]
    state = state_of(engine, f"kobana:{BOLETO_ID}")
    assert (state.status, state.created_seen, state.expected, state.settled) == ("paid", True, D("349.90"), D("349.90"))
    assert discrepancies(engine) == []


@pytest.mark.parametrize("shape", ["comando", "resource"])
def test_a_cancel_closes_the_real_pix_charge(engine, shape):
    """pix.db.created then pix.cancel.confirmed: the charge is canceled and expects nothing more."""
    deliver(engine, ("kobana", body("kobana", "docs/pix.db.created.json"), "c"),
            ("kobana", pix_command(shape, "cancel"), "x"))  # fmt: skip
    assert list(ledger_objects(engine)) == [f"kobana:{PIX_UID}"]
    state = state_of(engine, f"kobana:{PIX_UID}")
    assert state.status == "canceled" and state.canceled_at is not None and state.expected == D("0.00")


@pytest.mark.parametrize("shape", ["comando", "resource"])
def test_a_boleto_cancel_closes_the_real_boleto(engine, shape):
    """bank_billet.created then bank_billet.cancel.confirmed: canceled, nothing expected, one object."""
    created = body("kobana", "bank_billet.paid.json", **{
        "event_code": "bank_billet.created", "object.status": "opened", "object.bank_billet_payments": [],
        "object.updated_at": "2026-06-16T09:18:18-03:00", "changes": {}})  # fmt: skip
    deliver(engine, ("kobana", created, "c"), ("kobana", boleto_command(shape, "cancel"), "x"))
    assert list(ledger_objects(engine)) == [f"kobana:{BOLETO_ID}"]
    state = state_of(engine, f"kobana:{BOLETO_ID}")
    assert state.canceled_at is not None and state.expected == D("0.00")


@pytest.mark.parametrize("shape", ["comando", "resource"])
def test_a_confirmed_update_changes_the_amount_without_a_conflict(engine, shape):
    """pix.db.created at 150.75, then pix.update.confirmed at 175.00: amount 175.00, no amount_conflict."""
    deliver(engine, ("kobana", body("kobana", "docs/pix.db.created.json"), "c"),
            ("kobana", pix_command(shape, "update", amount="175.00"), "u"))  # fmt: skip
    state = state_of(engine, f"kobana:{PIX_UID}")
    assert state.amount == D("175.00") and not state.amount_conflict
    assert discrepancies(engine) == []
