"""The database being down never uses up an event's retries (issue 15 §1).

An outage longer than the whole retry schedule leaves the events waiting in the inbox; once the
database answers, each is processed once, with one attempt. Only a handler's failure is an
attempt. The outage is a database URL nothing listens on (``tests/test_worker.py`` does the
same); the fault suite stops a real PostgreSQL (``tests/test_faults.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

import db
from db.models import EventRecord
from tests import effects as fx
from tests.helpers import sample
from workers import jobs, stream
from workers.queue import drain_if_waiting, events_queue, queues

RAW = sample("kobana", "bank_billet.paid.json")
DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"  # discard port: connection refused


def _rows(engine: sa.Engine) -> list[EventRecord]:
    with db.session_factory(engine)() as session:
        return list(session.scalars(sa.select(EventRecord).order_by(EventRecord.id)))


def _burst(redis_conn) -> None:
    SimpleWorker(list(queues(redis_conn)), connection=redis_conn, serializer="json").work(burst=True)


def test_an_outage_longer_than_the_retry_schedule_spends_no_retry(
    settings, deliver, redis_conn, engine, effects, registry, monkeypatch
):
    """Retries: 1, at once. The database stays down for five rounds of drains and maintenance
    (five times the schedule): the events wait in the inbox, nothing is failed or dead-lettered;
    back up, each is processed once, one attempt each."""
    registry.handler("kobana", "bank_billet.paid")(lambda event, session: fx.record(event, session, "ledger"))
    short = settings.replace(job_retry_max=1, job_retry_intervals=(0,))
    for n in range(3):
        assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": f"o-{n}"}).json["status"] == "accepted"
    monkeypatch.setattr(jobs, "reclaim_after_ms", lambda settings: 0)  # a later drain may claim at once
    jobs.configure(short.replace(database_url=DEAD_DATABASE))
    try:
        for _ in range(5):
            drain_if_waiting(redis_conn, short)  # the worker's maintenance, as during a long outage
            _burst(redis_conn)
        assert redis_conn.xlen(stream.INBOX) == 3
        assert len(FailedJobRegistry(queue=events_queue(redis_conn))) == 0
        assert [job.func_name for job in events_queue(redis_conn).get_jobs()] == []
        jobs.configure(short)  # the database is back
        drain_if_waiting(redis_conn, short)
        _burst(redis_conn)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    assert [(row.status, row.attempts) for row in _rows(engine)] == [("processed", 1)] * 3
    assert len(effects()) == 3
    assert redis_conn.xlen(stream.INBOX) == 0


def test_a_one_event_job_that_meets_the_outage_puts_its_event_back_without_a_retry(
    settings, deliver, redis_conn, engine, effects, registry, monkeypatch
):
    """A handler failed once (an attempt, recorded), its retry job meets the outage: the event goes
    back to the inbox instead of spending the last retry; stored once when the database answers."""
    calls: list[int] = []

    def flaky(event, session):
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("ERP timed out")
        fx.record(event, session, "flaky")

    registry.handler("kobana", "bank_billet.paid")(flaky)
    short = settings.replace(job_retry_max=1, job_retry_intervals=(0,))
    jobs.configure(short)
    monkeypatch.setattr(jobs, "reclaim_after_ms", lambda settings: 0)
    try:
        deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "flaky-1"})
        jobs.drain_inbox()  # the handler fails: one attempt, a one-event retry job is queued
        queued = [job.func_name for job in events_queue(redis_conn).get_jobs()]
        assert queued.count("workers.jobs.process_event") == 1  # beside the door's drain job
        jobs.configure(short.replace(database_url=DEAD_DATABASE))
        _burst(redis_conn)  # the retry meets the outage
        assert len(FailedJobRegistry(queue=events_queue(redis_conn))) == 0
        assert redis_conn.xlen(stream.INBOX) == 1  # back in the inbox
        jobs.configure(short)
        drain_if_waiting(redis_conn, short)
        _burst(redis_conn)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    [row] = _rows(engine)
    assert (row.status, row.attempts) == ("processed", 2)  # the handler's failure, then its success
    assert len(effects()) == 1


def test_a_handler_failure_still_counts_and_dead_letters_after_the_schedule(
    settings, deliver, redis_conn, engine, registry
):
    """The distinction cuts both ways: a handler that always raises uses its retries and is failed."""

    def broken(event, session):
        raise ValueError("no account for this billet")

    registry.handler("kobana", "bank_billet.paid")(broken)
    short = settings.replace(job_retry_max=1, job_retry_intervals=(0,))
    jobs.configure(short)
    try:
        deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "broken-1"})
        _burst(redis_conn)
    finally:
        jobs._runtime.engine.dispose()  # type: ignore[union-attr]
        jobs._runtime = None
    [row] = _rows(engine)
    assert (row.status, row.attempts) == ("failed", 2)


def test_only_database_connectivity_errors_are_the_database_being_down():
    """OperationalError and a dropped connection, also when a handler's failure wraps them; a
    handler's own bug is not."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    from workers.inbox import HandlerFailed

    down = OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    assert jobs.database_unavailable(down)
    try:
        try:
            raise down
        except OperationalError as exc:
            raise HandlerFailed("ledger", 1, exc) from exc
    except HandlerFailed as wrapped:
        assert jobs.database_unavailable(wrapped)
    assert not jobs.database_unavailable(ValueError("no account"))
    assert not jobs.database_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
