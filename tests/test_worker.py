"""The worker side: each event stored once, its handlers run once, in the transaction that marks it."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from rq.registry import FailedJobRegistry

import db
from app import create_app
from db.models import EventRecord
from tests import effects as fx
from tests.helpers import Deliver, queued, sample
from workers import jobs
from workers.inbox import HandlerFailed
from workers.queue import queues


def _rows(engine: sa.Engine) -> list[EventRecord]:
    with db.session_factory(engine)() as session:
        return list(session.scalars(sa.select(EventRecord).order_by(EventRecord.id)))


def _recorder(registry, provider: str, *patterns: str, name: str = "record"):
    def handler(event, session):
        fx.record(event, session, name)

    handler.__name__ = handler.__qualname__ = name
    return registry.handler(provider, *patterns)(handler)


def _retrying_deliver(settings, **retry) -> Deliver:
    """Deliver to a service whose worker retries (the retry policy is the worker's settings)."""
    retrying = settings.replace(job_retry_max=retry.get("max", 2), job_retry_intervals=(0,))
    jobs.configure(retrying)
    return Deliver(create_app(retrying).test_client())


def test_a_delivered_event_is_stored_and_processed_by_its_handler(deliver, work, engine, effects, registry):
    """A signed delivery ends as one ``processed`` row, its handler's effect committed once."""
    _recorder(registry, "kobana", "bank_billet.paid")
    assert deliver.kobana(sample("kobana", "bank_billet.paid.json")).status_code == 200
    work()
    [row] = _rows(engine)
    assert (row.status, row.attempts, row.handlers) == ("processed", 1, ["tests.test_worker.record"])
    assert row.raw == sample("kobana", "bank_billet.paid.json")
    assert effects() == [(row.id, "record", "bank_billet.paid")]


def test_handlers_receive_decimal_amounts_and_the_event_id(deliver, work, registry, engine):
    """Handlers get a typed Event: Decimal money, the event-log id to use as their own idempotency key."""
    seen = []
    registry.handler("kobana", "bank_billet.paid")(lambda event, session: seen.append(event))
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [event] = seen
    assert isinstance(event.payload["object"]["amount"], Decimal)
    assert event.id == _rows(engine)[0].id


def test_the_same_event_delivered_twice_runs_its_handler_once(deliver, redis_conn, runtime, effects, registry):
    """A redelivery (same idempotency key) after the first was processed changes nothing."""
    _recorder(registry, "kobana", "bank_billet.paid")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    [envelope] = queued(redis_conn)
    assert jobs.process_event(envelope) == "processed"
    assert jobs.process_event(envelope) == "duplicate"
    assert len(effects()) == 1


def test_a_duplicate_storm_of_ten_concurrent_deliveries_has_one_effect(deliver, redis_conn, runtime, effects, registry):
    """Ten workers processing the same event at the same instant give one row and one effect."""

    def slow(event, session):
        fx.record(event, session, "slow")
        threading.Event().wait(0.05)  # hold the transaction open so the others pile up on it

    registry.handler("kobana", "bank_billet.paid")(slow)
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    [envelope] = queued(redis_conn)
    start, outcomes = threading.Barrier(10), []

    def race() -> None:
        start.wait()
        outcomes.append(jobs.process_event(json.loads(json.dumps(envelope))))

    threads = [threading.Thread(target=race) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["duplicate"] * 9 + ["processed"]
    assert len(effects()) == 1


def test_events_arriving_out_of_order_are_each_processed_once(deliver, work, engine, effects, registry):
    """The payment notice before the registration notice: both processed, once, each with its own time."""
    _recorder(registry, "kobana", "pix.*")
    deliver.kobana(sample("kobana", "pix.paid.json"))
    deliver.kobana(sample("kobana", "pix.register.confirmed.json"))
    work()
    deliver.kobana(sample("kobana", "pix.paid.json"))  # and the first one again, late
    work()
    rows = _rows(engine)
    assert [(r.event_code, r.status) for r in rows] == [
        ("pix.paid", "processed"),
        ("pix.register.confirmed", "processed"),
    ]
    assert [code for _, _, code in effects()] == ["pix.paid", "pix.register.confirmed"]
    assert all(r.occurred_at is not None for r in rows)


def test_an_event_without_handler_is_ignored(deliver, work, engine, registry):
    """No matching handler is not an error: the event is stored as ``ignored``."""
    deliver.kobana(sample("kobana", "pix.register.confirmed.json"))
    work()
    [row] = _rows(engine)
    assert (row.status, row.handlers, row.last_error) == ("ignored", [], None)


def test_a_ping_is_stored_as_ping_and_dispatched_to_nobody(deliver, work, engine, effects, registry):
    """Kobana's signed ping is recorded with status ``ping``; even a catch-all handler does not run."""
    _recorder(registry, "*", "*")
    deliver.kobana(sample("kobana", "ping.json"))
    work()
    [row] = _rows(engine)
    assert row.status == "ping"
    assert effects() == []


def test_wildcards_route_one_event_to_every_matching_handler(deliver, work, engine, effects, registry):
    """``bank_billet.*`` and ``*`` on any provider both get ``bank_billet.paid``, most specific first."""
    _recorder(registry, "*", "*", name="everything")
    _recorder(registry, "kobana", "bank_billet.*", name="billets")
    _recorder(registry, "transfeera", "*", name="other_provider")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [row] = _rows(engine)
    assert [name for _, name, _ in effects()] == ["billets", "everything"]
    assert row.handlers == ["tests.test_worker.billets", "tests.test_worker.everything"]


def test_a_handler_for_the_new_code_also_gets_events_sent_under_the_old_one(deliver, work, engine, effects, registry):
    """Alias routing: a ``homologation_started`` handler receives a legacy ``homologated`` event."""
    _recorder(registry, "kobana", "bank_billet_account.homologation_started")
    raw = json.dumps({"event_code": "bank_billet_account.homologated", "object": {"id": 7}}).encode()
    deliver.kobana(raw)
    work()
    [row] = _rows(engine)
    assert (row.event_code, row.original_code, row.status) == (
        "bank_billet_account.homologation_started",
        "bank_billet_account.homologated",
        "processed",
    )
    assert len(effects()) == 1


def test_a_failing_handler_is_retried_and_then_succeeds(settings, work, engine, effects, registry, capfd):
    """A handler exception rolls back, is logged with the event's context, and RQ's retry succeeds."""
    calls = []

    def flaky(event, session):
        fx.record(event, session, "flaky")
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("ledger service timed out")

    registry.handler("kobana", "bank_billet.paid")(flaky)
    _retrying_deliver(settings).kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [row] = _rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)
    assert len(effects()) == 1  # the first attempt's row was rolled back with it
    assert calls == [row.id, row.id]  # the id handlers pass to outside systems is the same on every try
    [failure] = [line for line in capfd.readouterr().err.splitlines() if "event.attempt_failed" in line]
    for context in ("provider=kobana", "event_code=bank_billet.paid", f"log_id={row.id}", "final_attempt=False"):
        assert context in failure
    assert ".flaky" in failure and "ledger service timed out" in failure


def test_retries_exhausted_leave_the_event_failed_and_the_job_dead_lettered(
    settings, work, engine, effects, registry, redis_conn
):
    """After the last try the event is ``failed`` with its error and the job sits in RQ's failed registry."""

    def broken(event, session):
        fx.record(event, session, "broken")
        raise ValueError("no account for this billet")

    registry.handler("kobana", "bank_billet.paid")(broken)
    _retrying_deliver(settings, max=2).kobana(sample("kobana", "bank_billet.paid.json"))
    work()
    [row] = _rows(engine)
    assert (row.status, row.attempts) == ("failed", 3)
    assert "no account for this billet" in row.last_error
    assert effects() == []
    events_queue = queues(redis_conn)[0]
    assert len(FailedJobRegistry(queue=events_queue)) == 1


def test_an_unreachable_database_leaves_the_event_waiting_and_marks_nothing(
    settings, redis_conn, effects, registry, engine, monkeypatch
):
    """With the database down the event waits in the inbox: no retry spent, no dead letter, nothing
    marked; once the database is back it is processed once (tests/test_database_outage.py)."""
    from rq import SimpleWorker

    from workers import stream
    from workers.queue import drain_if_waiting

    _recorder(registry, "kobana", "bank_billet.paid")
    _retrying_deliver(settings, max=1).kobana(sample("kobana", "bank_billet.paid.json"))
    closed_port = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"  # discard port: connection refused
    monkeypatch.setattr(jobs, "reclaim_after_ms", lambda settings: 0)
    jobs.configure(settings.replace(database_url=closed_port))
    try:
        SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
        events_queue = queues(redis_conn)[0]
        assert len(FailedJobRegistry(queue=events_queue)) == 0 and _rows(engine) == []
        assert redis_conn.xlen(stream.INBOX) == 1
        jobs.configure(settings)  # the database is back: the next drain takes the waiting event
        drain_if_waiting(redis_conn, settings)
        SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    [row] = _rows(engine)
    assert (row.status, row.attempts) == ("processed", 1) and len(effects()) == 1


def test_a_quarantined_body_is_stored_with_its_validation_errors(deliver, work, engine, effects, registry):
    """A body that fails validation at the door is stored ``quarantined`` with the errors; no handler runs."""
    _recorder(registry, "*", "*")
    raw = json.dumps({"event_code": "bank_billet.paid", "object": {"id": 1, "amount": "12,50"}}).encode()
    deliver.kobana(raw)
    work()
    [row] = _rows(engine)
    assert row.status == "quarantined"
    assert row.validation_errors == {"object": {"amount": ["Not a valid number."]}}
    assert row.raw == raw and effects() == []


@pytest.mark.parametrize("status", ["received", "failed"])
def test_a_stored_but_unfinished_event_is_dispatched_by_its_next_delivery(
    deliver, redis_conn, runtime, engine, effects, registry, status
):
    """An event left ``received`` (crash) or ``failed`` is processed when its job or a redelivery comes."""
    _recorder(registry, "kobana", "bank_billet.paid")
    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    [envelope] = queued(redis_conn)
    registry.handler("kobana", "bank_billet.paid")(lambda e, s: (_ for _ in ()).throw(RuntimeError("down")))
    with pytest.raises(HandlerFailed):
        jobs.process_event(envelope)
    with engine.begin() as conn:
        conn.execute(sa.update(EventRecord).values(status=status))
    registry.restore({})
    _recorder(registry, "kobana", "bank_billet.paid")
    assert jobs.process_event(envelope) == "processed"
    assert len(effects()) == 1


def test_an_overlong_provider_id_is_stored_by_its_digest_and_still_deduplicated(
    deliver, redis_conn, runtime, engine, effects, registry
):
    """A 1,000-character provider id fits the log as its SHA-256 key; its redelivery is a duplicate."""
    _recorder(registry, "celcoin", "*")
    body = json.loads(sample("celcoin", "pix-payment-in.json"))
    body["body"]["id"] = body["body"]["endToEndId"] = "E" + "9" * 1000
    deliver.celcoin(json.dumps(body).encode())
    [envelope] = queued(redis_conn)
    assert len(envelope["idempotency_key"]) > 1000
    assert [jobs.process_event(envelope), jobs.process_event(envelope)] == ["processed", "duplicate"]
    [row] = _rows(engine)
    assert row.idempotency_key.startswith("sha256:") and len(effects()) == 1


def test_a_job_popped_by_a_worker_that_dies_at_once_stays_recoverable(deliver, redis_conn):
    """Between RQ's pop and its started-registry write a crash must not strand the job.

    RQ moves the job into an intermediate queue (swept back by maintenance) only when the worker
    listens to one queue; with two it pops it into thin air. Quarantined bodies share the queue.
    """
    from rq import Queue
    from rq.intermediate_queue import IntermediateQueue

    deliver.kobana(sample("kobana", "bank_billet.paid.json"))
    deliver.kobana(b"not json")  # quarantined: same queue
    listened = list(queues(redis_conn))
    job, queue = Queue.dequeue_any(listened, timeout=None, connection=redis_conn, serializer="json")
    # ...and the worker dies here, before anything else touches Redis.
    assert len(listened) == 1
    assert job.id in IntermediateQueue(queue.key, redis_conn).get_job_ids()
