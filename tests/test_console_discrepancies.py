"""The discrepancy workflow: opened by the worker, acknowledged, resolved, reopened by hand or by a later event;
the console and ``flask reconcile ...`` act on the same rows with the same JSON keys."""

from __future__ import annotations

import json

import sqlalchemy as sa

import db
from ledger import discrepancies as workflow
from ledger.discrepancies import DiscrepancyRow
from tests.console_helpers import add_everyone, login, post, underpaid_boleto
from web.console.models import AuditEntry

KEYS = ["id", "object_id", "provider", "kind", "type", "status", "expected", "settled", "difference", "opened_at",
        "resolved_at", "resolved_by", "reason", "note"]  # fmt: skip


def rows(engine) -> list[DiscrepancyRow]:
    with db.session_factory(engine)() as session:
        found = list(session.scalars(sa.select(DiscrepancyRow).order_by(DiscrepancyRow.id)))
        for row in found:
            _ = row.notes  # loaded while the session is open
        return found


def test_the_worker_opens_a_discrepancy_when_the_ledger_flags_one(engine):
    underpaid_boleto(engine)
    [row] = rows(engine)
    assert (row.object_id, row.type, row.status, str(row.expected), str(row.settled)) == (
        "kobana:84512377", "underpaid", "open", "349.90", "300.00")  # fmt: skip
    assert [n.action for n in row.notes] == ["opened"]


def test_a_resolved_discrepancy_reopens_when_a_later_event_changes_its_amounts(engine):
    underpaid_boleto(engine)
    [row] = rows(engine)
    with db.session_factory(engine).begin() as session:
        workflow.resolve(session, row.id, "ana@example.com", "charged_difference", "boleto for the rest sent")
    [event] = underpaid_boleto(engine, paid="320", key="p2", updated_at="2026-06-17T10:00:00-03:00")
    [row] = rows(engine)
    assert row.status == "open" and row.resolved_at is None and str(row.settled) == "320.00"
    before, last = row.notes[-2], row.notes[-1]
    assert (last.actor, last.action, last.event_id) == ("system", "auto_reopened", event.id)
    assert (before.action, before.settled_cents, last.settled_cents) == ("resolved", 30000, 32000)


def test_a_resolved_discrepancy_stays_resolved_when_an_event_changes_nothing(engine):
    underpaid_boleto(engine)
    [row] = rows(engine)
    with db.session_factory(engine).begin() as session:
        workflow.resolve(session, row.id, "ana@example.com", "written_off")
    underpaid_boleto(engine, key="p-again", updated_at="2026-06-17T10:00:00-03:00")  # same payment, same amounts
    assert rows(engine)[0].status == "resolved"


def test_resolved_ones_leave_the_open_list_and_the_report_and_stay_in_history(app, engine):
    underpaid_boleto(engine)
    runner = app.test_cli_runner()
    [listed] = json.loads(runner.invoke(args=["reconcile", "discrepancies", "--format", "json"]).output)
    assert list(listed) == KEYS
    result = runner.invoke(args=["reconcile", "resolve", str(listed["id"]), "--reason", "written_off", "--note", "ok"])
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(args=["reconcile", "discrepancies", "--format", "json"]).output) == []
    [resolved] = json.loads(runner.invoke(args=["reconcile", "discrepancies", "--status", "resolved",
                                                "--format", "json"]).output)  # fmt: skip
    assert (resolved["status"], resolved["reason"], resolved["note"], resolved["difference"]) == (
        "resolved", "written_off", "ok", "-49.90")  # fmt: skip
    assert resolved["resolved_by"].startswith("cli")
    report = json.loads(runner.invoke(args=["reconcile", "report", "--from", "2026-06-01", "--to", "2026-06-30",
                                            "--format", "json"]).output)  # fmt: skip
    assert report["discrepancies"] == []
    result = runner.invoke(args=["reconcile", "reopen", str(listed["id"])])
    assert json.loads(result.output)["status"] == "open"
    report = json.loads(runner.invoke(args=["reconcile", "report", "--from", "2026-06-01", "--to", "2026-06-30",
                                            "--format", "json"]).output)  # fmt: skip
    assert [d["status"] for d in report["discrepancies"]] == ["open"]


def test_cli_acknowledge_and_bad_actions_answer_clearly(app, engine):
    underpaid_boleto(engine)
    runner = app.test_cli_runner()
    [row] = rows(engine)
    assert json.loads(runner.invoke(args=["reconcile", "acknowledge", str(row.id)]).output)["status"] == "acknowledged"
    again = runner.invoke(args=["reconcile", "acknowledge", str(row.id)])
    assert again.exit_code != 0 and "only an open one" in again.output
    assert runner.invoke(args=["reconcile", "resolve", str(row.id), "--reason", "because"]).exit_code == 2
    missing = runner.invoke(args=["reconcile", "reopen", "999"])
    assert missing.exit_code != 0 and "no discrepancy 999" in missing.output
    with db.session_factory(engine)() as session:
        assert [a.action for a in session.scalars(sa.select(AuditEntry))] == ["discrepancy_acknowledge"]


def test_a_viewer_resolves_in_the_console_and_it_leaves_the_inbox(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    [row] = rows(engine)
    login(client, "viewer")
    inbox = client.get("/console/discrepancies").get_data(as_text=True)
    assert "kobana:84512377" in inbox and "R$\xa0349,90" in inbox
    page = f"/console/discrepancies/{row.id}"
    assert post(client, f"{page}/acknowledge", page=page).status_code == 302
    response = post(client, f"{page}/resolve", {"reason": "refunded_to_payer", "note": "estornado"}, page=page)
    assert response.status_code == 302
    assert "kobana:84512377" not in client.get("/console/discrepancies").get_data(as_text=True)
    assert "kobana:84512377" in client.get("/console/discrepancies?status=resolved").get_data(as_text=True)
    with db.session_factory(engine)() as session:
        audit = [(a.actor, a.action) for a in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]
    assert audit[-2:] == [
        ("viewer@example.com", "discrepancy_acknowledge"),
        ("viewer@example.com", "discrepancy_resolve"),
    ]
    [row] = rows(engine)
    assert (row.status, row.reason, row.note, row.resolved_by) == ("resolved", "refunded_to_payer", "estornado",
                                                                   "viewer@example.com")  # fmt: skip


def test_resolve_needs_a_reason_from_the_list(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    [row] = rows(engine)
    login(client, "viewer")
    page = f"/console/discrepancies/{row.id}"
    assert post(client, f"{page}/resolve", {"reason": "felt_like_it"}, page=page).status_code == 400
    assert rows(engine)[0].status == "open"


def test_the_object_timeline_shows_facts_references_and_history(app, client, engine):
    add_everyone(engine)
    events = underpaid_boleto(engine)
    login(client, "viewer")
    page = client.get("/console/objects/kobana:84512377").get_data(as_text=True)
    for event in events:
        assert f'href="/console/events/{event.id}"' in page
    assert "R$\xa0300,00" in page and "underpaid" in page.lower() or "pago a menos" in page.lower()


def test_the_pages_fast_figures_equal_the_full_report_on_a_generated_month(app, client, settings, engine, work):
    """~880 signed deliveries through the door and the worker: the console page's SQL summary (worker-kept
    rows, no refresh) gives the same totals, net and discrepancies as the full report."""
    from datetime import date

    from ledger.demo import headers_for, path_for
    from ledger.traffic import generate

    month = generate(2026, 10, seed=4)
    for delivery in month.traffic(seed=9, duplicates=0.10):
        assert (
            client.post(path_for(delivery), data=delivery.body, headers=headers_for(delivery, settings)).status_code
            == 200
        )
    work()
    start, end = date(2026, 10, 1), date(2026, 10, 31)
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        fast = workflow.summary(session, start, end)
    with sessions.begin() as session:
        full = workflow.report(session, start, end)

    def key(d):
        return (d.provider, d.kind, d.object_id, d.type, d.expected, d.actual, d.status)

    assert fast.totals == full.totals
    assert fast.net == full.net
    missing = sorted(set(map(key, full.discrepancies)) - set(map(key, fast.discrepancies)))
    assert missing == []
    assert [key(d) for d in fast.discrepancies] == [key(d) for d in full.discrepancies]
    assert len(full.discrepancies) > 20
