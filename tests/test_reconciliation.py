"""A month of real traffic through the real door and real workers reconciles to the centavo."""

from __future__ import annotations

import json

import sqlalchemy as sa

import db
from db.models import EventRecord
from ledger.demo import headers_for, path_for
from ledger.traffic import generate
from tests.helpers import sample


def test_a_month_through_http_and_workers_reports_exactly_the_ground_truth(app, client, settings, engine, work):
    """~880 signed deliveries (10% twice, shuffled) → endpoints → RQ workers → report == ground truth."""
    month = generate(2026, 10, seed=4)
    traffic = month.traffic(seed=9, duplicates=0.10)
    for delivery in traffic:
        response = client.post(path_for(delivery), data=delivery.body, headers=headers_for(delivery, settings))
        assert response.status_code == 200, response.json
        assert response.json["status"] in ("accepted", "duplicate")
    work()
    result = app.test_cli_runner().invoke(args=["reconcile", "report", "--from", "2026-10-01", "--to", "2026-10-31",
                                                "--format", "json", "--as-of", month.as_of.isoformat()])  # fmt: skip
    assert result.exit_code == 0, result.output
    got, want = json.loads(result.output), month.expected_report()
    with db.session_factory(engine)() as session:
        keys = dict(session.execute(sa.select(EventRecord.id, EventRecord.idempotency_key)).all())
    assert len(keys) == len(month.deliveries)  # every distinct notification stored exactly once
    assert got["totals"] == want["totals"]
    assert {d.pop("status") for d in got["discrepancies"]} == {"open"}  # every one is new: nobody resolved any
    discrepancies = [{**{k: v for k, v in d.items() if k != "event_ids"},
                      "event_keys": sorted(keys[i] for i in d["event_ids"])} for d in got["discrepancies"]]  # fmt: skip
    assert discrepancies == want["discrepancies"]


def test_ledger_enabled_false_processes_events_but_keeps_no_ledger(settings, deliver, redis_conn, engine):
    """LEDGER_ENABLED=false: the worker stores and processes the event; the ledger stays empty."""
    from rq import SimpleWorker

    from ledger.models import LedgerObject
    from workers import jobs
    from workers.queue import queues

    jobs.configure(settings.replace(ledger_enabled=False))
    try:
        response = deliver.kobana(sample("kobana", "bank_billet.paid.json"), headers={"X-Kobana-Delivery-Id": "d-1"})
        assert response.status_code == 200
        SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    with db.session_factory(engine)() as session:
        assert session.scalar(sa.select(EventRecord.status)) == "processed"
        assert session.scalar(sa.select(sa.func.count()).select_from(LedgerObject)) == 0
