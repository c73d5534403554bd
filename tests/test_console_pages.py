"""What the console's pages show: the same numbers and bytes as the CLI, masked bodies, search, replay."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import sqlalchemy as sa
from openpyxl import load_workbook

import db
from db.models import EventRecord
from ops.i18n import money
from tests.console_helpers import add_everyone, login, post, quarantined_event, underpaid_boleto
from web.console.models import AuditEntry

PERIOD = "from=2026-06-01&to=2026-06-30"
CLI_PERIOD = ["--from", "2026-06-01", "--to", "2026-06-30"]


def test_the_reconciliation_page_shows_the_cli_reports_numbers(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    login(client, "viewer")
    report = json.loads(
        app.test_cli_runner().invoke(args=["reconcile", "report", *CLI_PERIOD, "--format", "json"]).output
    )
    page = client.get(f"/console/reconciliation?{PERIOD}").get_data(as_text=True)
    assert report["totals"] and report["discrepancies"]
    for total in report["totals"]:
        assert money(Decimal(total["expected"])) in page and money(Decimal(total["settled"])) in page
    for found in report["discrepancies"]:
        assert found["object_id"] in page and money(Decimal(found["delta"])) in page


def test_the_csv_export_is_byte_for_byte_the_clis(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    login(client, "viewer")
    cli = app.test_cli_runner().invoke(args=["reconcile", "report", *CLI_PERIOD, "--format", "csv"]).stdout_bytes
    response = client.get(f"/console/reconciliation.csv?{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data == cli
    assert "attachment" in response.headers["Content-Disposition"]


def test_the_excel_export_holds_money_as_numbers_in_reais(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    login(client, "viewer")
    book = load_workbook(io.BytesIO(client.get(f"/console/reconciliation.xlsx?{PERIOD}").data))
    totals = book["Totals"]
    expected = totals["G2"]
    assert expected.value == 349.9 and "R$" in expected.number_format
    assert book["Discrepancies"]["D2"].value == "underpaid"


def test_exports_are_audited(app, client, engine):
    add_everyone(engine)
    login(client, "viewer")
    client.get(f"/console/reconciliation.csv?{PERIOD}")
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)) == "export"


def test_a_viewer_sees_the_body_masked_and_cannot_reveal_it(app, client, engine):
    add_everyone(engine)
    [_created, paid] = underpaid_boleto(engine)
    login(client, "viewer")
    page = client.get(f"/console/events/{paid.id}").get_data(as_text=True)
    assert "311.422.058-90" not in page and "31142205890" not in page
    assert "Mensalidade junho/2026" in page  # the rest of the body is there, pretty-printed
    assert post(client, f"/console/events/{paid.id}/reveal", page="/console/").status_code == 403


def test_an_operator_reveals_a_body_and_the_reveal_is_audited(app, client, engine):
    add_everyone(engine)
    [_created, paid] = underpaid_boleto(engine)
    login(client, "operator")
    page = post(client, f"/console/events/{paid.id}/reveal", page="/console/").get_data(as_text=True)
    assert "311.422.058-90" in page
    with db.session_factory(engine)() as session:
        last = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.actor, last.action, last.object) == ("operator@example.com", "event_reveal", f"event {paid.id}")


def test_events_are_found_by_object_id_external_id_or_key_and_filtered(app, client, engine):
    add_everyone(engine)
    [created, paid] = underpaid_boleto(engine)
    login(client, "viewer")

    def ids(query: str) -> set[int]:
        page = client.get(f"/console/events?{query}").get_data(as_text=True)
        return {e for e in (created.id, paid.id) if f'href="/console/events/{e}"' in page}

    assert ids("q=kobana:84512377") == {created.id, paid.id}
    assert ids("q=INV-2026-0042") == {created.id, paid.id}
    assert ids(f"q={paid.idempotency_key}") == {paid.id}
    assert ids("code=bank_billet.created") == {created.id}
    assert ids("code=bank_billet.*&provider=kobana") == {created.id, paid.id}
    assert ids("provider=transfeera") == set()
    assert client.get("/console/events?from=31-10-2026").status_code == 400


def test_events_pages_by_keyset(app, client, engine, monkeypatch):
    from web.console import views_events

    add_everyone(engine)
    [created, paid] = underpaid_boleto(engine)
    monkeypatch.setattr(views_events, "PAGE", 1)
    login(client, "viewer")
    first = client.get("/console/events").get_data(as_text=True)
    assert f'href="/console/events/{paid.id}"' in first and f"before={paid.id}" in first
    second = client.get(f"/console/events?before={paid.id}").get_data(as_text=True)
    assert f'href="/console/events/{created.id}"' in second


def test_an_operator_replays_a_quarantined_event(app, client, engine):
    add_everyone(engine)
    event_id = quarantined_event(engine)
    login(client, "operator")
    assert str(event_id) in client.get("/console/quarantine").get_data(as_text=True)
    response = post(client, f"/console/events/{event_id}/replay", page="/console/quarantine")
    assert response.status_code == 302
    with db.session_factory(engine)() as session:
        assert session.get(EventRecord, event_id).status == "processed"
        audit = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (audit.action, audit.object, audit.detail) == ("event_replay", f"event {event_id}", "processed")


def test_a_viewer_cannot_replay(app, client, engine):
    add_everyone(engine)
    event_id = quarantined_event(engine)
    login(client, "viewer")
    assert (
        "Replay"
        not in client.get("/console/quarantine").get_data(as_text=True).split("<main>")[1].split("Quarantine")[-1]
    )
    assert post(client, f"/console/events/{event_id}/replay", page="/console/").status_code == 403
    with db.session_factory(engine)() as session:
        assert session.get(EventRecord, event_id).status == "quarantined"


def test_bulk_replay_shows_the_count_and_needs_it_confirmed(app, client, engine):
    add_everyone(engine)
    first, second = quarantined_event(engine, "q-1"), quarantined_event(engine, "q-2")
    login(client, "operator")
    confirm = client.get("/console/events/replay?status=quarantined").get_data(as_text=True)
    assert 'name="count" value="2"' in confirm
    wrong = post(client, "/console/events/replay", {"status": "quarantined", "count": "5"}, page="/console/")
    assert wrong.status_code == 302 and "/console/events/replay" in wrong.headers["Location"]
    with db.session_factory(engine)() as session:
        assert {session.get(EventRecord, i).status for i in (first, second)} == {"quarantined"}
    post(client, "/console/events/replay", {"status": "quarantined", "count": "2"}, page="/console/")
    with db.session_factory(engine)() as session:
        statuses = {session.get(EventRecord, i).status for i in (first, second)}
    assert "quarantined" not in statuses


def test_pages_are_in_portuguese_by_default_and_english_on_request(app, client, engine):
    add_everyone(engine)
    underpaid_boleto(engine)
    login(client, "viewer")
    page = client.get("/console/discrepancies").get_data(as_text=True)
    assert "Divergências" in page and "R$\xa0349,90" in page and "pago a menos" in page
    post(client, "/console/language", {"lang": "en", "back": "/console/discrepancies"})
    page = client.get("/console/discrepancies").get_data(as_text=True)
    assert "Discrepancies" in page and "R$349.90" in page and ">underpaid<" in page


def test_the_overview_shows_counts_totals_and_a_chart(app, client, engine):
    add_everyone(engine)
    quarantined_event(engine)
    login(client, "viewer")
    page = client.get("/console/").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page
    assert 'href="/console/quarantine"><strong>1</strong>' in page.replace("card warn", "card").replace(
        ' class="card"', ""
    )
