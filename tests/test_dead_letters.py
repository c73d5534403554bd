"""Every dead letter, wherever it sits, is listed by `events list --status failed` and can be replayed.

Besides the event log's ``failed`` rows: RQ's failed registry (a one-event job that failed before
the event log could record it) and the inbox's undecodable list (workers/dead_letters.py).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

import db
from db.models import EventRecord
from tests.helpers import sample
from workers import jobs, stream
from workers.queue import enqueue_single, events_queue, queues

RAW = sample("kobana", "bank_billet.paid.json")


def _rows(engine: sa.Engine) -> list[EventRecord]:
    with db.session_factory(engine)() as session:
        return list(session.scalars(sa.select(EventRecord).order_by(EventRecord.id)))


def _taken(deliver, redis_conn, key: str):
    """An event as the door queued it, taken off the inbox (as a drain would before handing it over)."""
    assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": key}).json["status"] == "accepted"
    [(entry_id, fields)] = stream.take(redis_conn, "test", 10, 60_000)
    stream.ack(redis_conn, [entry_id])
    return fields


def _list_failed(app) -> list[dict]:
    result = app.test_cli_runner().invoke(args=["events", "list", "--status", "failed", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_job_that_failed_before_the_event_log_recorded_it_is_listed_and_replayed(
    app, settings, deliver, redis_conn, runtime, registry, engine, monkeypatch
):
    """A one-event job dies on its last try before storing its event (here: a deployed bug reading
    it): the event is in no table, only in RQ's failed registry. `events list --status failed`
    shows it; `events replay --status failed` puts it back; the worker then stores it once."""
    envelope = stream.decode(_taken(deliver, redis_conn, "rq-only"))
    enqueue_single(events_queue(redis_conn), envelope, settings.replace(job_retry_max=0))

    def deployed_bug(envelope):
        raise RuntimeError("KeyError in a schema migration")

    monkeypatch.setattr(jobs, "validated", deployed_bug)
    SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
    monkeypatch.undo()
    assert _rows(engine) == [] and len(FailedJobRegistry(queue=events_queue(redis_conn))) == 1
    [letter] = _list_failed(app)
    assert (letter["kept_in"], letter["idempotency_key"], letter["status"]) == ("rq", "delivery:rq-only", "failed")
    assert "KeyError in a schema migration" in letter["last_error"]
    replayed = app.test_cli_runner().invoke(args=["events", "replay", "--status", "failed"])
    assert replayed.exit_code == 0, replayed.output
    assert "requeued" in replayed.output
    assert len(FailedJobRegistry(queue=events_queue(redis_conn))) == 0
    jobs.drain_inbox()
    assert [(row.idempotency_key, row.status) for row in _rows(engine)] == [("delivery:rq-only", "ignored")]
    assert _list_failed(app) == []


def test_an_entry_set_aside_in_the_inbox_is_listed_and_replayed(app, deliver, redis_conn, runtime, registry, engine):
    """An inbox entry a drain could not decode is kept aside (stream.UNDECODABLE): listed as failed,
    and once decodable (a fix deployed), replayed into the inbox and stored."""
    fields = _taken(deliver, redis_conn, "aside")
    stream.set_aside(redis_conn, b"0-1", fields)
    [letter] = _list_failed(app)
    assert (letter["kept_in"], letter["idempotency_key"]) == ("inbox", "delivery:aside")
    replayed = app.test_cli_runner().invoke(args=["events", "replay", "--status", "failed"])
    assert replayed.exit_code == 0 and "requeued" in replayed.output
    assert redis_conn.llen(stream.UNDECODABLE) == 0
    jobs.drain_inbox()
    assert [row.idempotency_key for row in _rows(engine)] == ["delivery:aside"]


def test_a_failed_event_in_the_event_log_is_listed_once(app, settings, deliver, redis_conn, registry, engine):
    """A handler that always fails: the event log's failed row and RQ's dead letter are one event,
    listed once (the row, with its attempts)."""
    registry.handler("kobana", "bank_billet.paid")(lambda event, session: 1 / 0)
    jobs.configure(settings.replace(job_retry_max=1, job_retry_intervals=(0,)))
    try:
        deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "always-fails"})
        SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    [letter] = _list_failed(app)
    assert (letter["idempotency_key"], letter["attempts"]) == ("delivery:always-fails", 2)
    assert "kept_in" not in letter and letter["source"] == "webhook"
