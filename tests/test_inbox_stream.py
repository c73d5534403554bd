"""The inbox stream and its drains: many events per job and per transaction, nothing lost on the way."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from rq import Queue

import db
from db.models import EventRecord
from tests import effects as fx
from tests.helpers import sample
from workers import jobs, stream
from workers.queue import DRAIN_JOB, EVENTS_QUEUE, drain_if_waiting

RAW = sample("kobana", "bank_billet.paid.json")


def _statuses(engine: sa.Engine) -> dict[str, tuple[str, int]]:
    with db.session_factory(engine)() as session:
        rows = session.scalars(sa.select(EventRecord).order_by(EventRecord.id))
        return {row.idempotency_key: (row.status, row.attempts) for row in rows}


def _deliver_many(deliver, count: int) -> None:
    for n in range(count):
        assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": f"d-{n}"}).json["status"] == "accepted"


def _drain_jobs(redis_conn) -> list[str]:
    queue = Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json")
    return [job.func_name for job in queue.get_jobs()]


def _record_all(registry) -> None:
    registry.handler("kobana", "bank_billet.paid")(lambda event, session: fx.record(event, session, "ledger"))


def test_an_acknowledged_event_is_in_the_stream_and_rings_one_drain(deliver, redis_conn):
    """The 2xx means the entry is in Redis; only the first event rings for a drain job."""
    _deliver_many(deliver, 3)
    assert redis_conn.xlen(stream.INBOX) == 3
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]


def test_one_drain_stores_and_dispatches_a_whole_batch(deliver, runtime, engine, effects, registry):
    """Five waiting events are processed by one drain job, in one go, each once."""
    _record_all(registry)
    _deliver_many(deliver, 5)
    assert jobs.drain_inbox() == {"taken": 5, "processed": 5, "handed_over": 0}
    assert set(_statuses(engine).values()) == {("processed", 1)}
    assert len(effects()) == 5


def test_a_drained_batch_leaves_the_stream(deliver, runtime, registry, redis_conn):
    """Entries are acked and deleted once their batch is committed: the stream holds only what waits."""
    _record_all(registry)
    _deliver_many(deliver, 2)
    jobs.drain_inbox()
    assert redis_conn.xlen(stream.INBOX) == 0
    assert redis_conn.xpending(stream.INBOX, stream.GROUP)["pending"] == 0


def test_a_full_batch_calls_a_second_drain_so_another_worker_helps(settings, deliver, redis_conn, registry, effects):
    """With more waiting than a batch, the drain queues a helper (one, however many full batches
    it takes) and goes on batch after batch itself."""
    _record_all(registry)
    jobs.configure(settings.replace(drain_batch=2))
    _deliver_many(deliver, 5)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    assert jobs.drain_inbox()["processed"] == 5
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]


def test_a_drain_takes_what_arrives_while_it_lingers_and_no_new_drain_job_is_queued(
    settings, app, deliver, redis_conn, registry, engine, effects
):
    """A steady trickle costs one RQ job, not one per event: the running drain holds the doorbell,
    so an event appended meanwhile queues nothing, and the drain reads it within its linger."""
    from tests.helpers import Deliver

    _record_all(registry)
    jobs.configure(settings.replace(drain_linger_ms=1000))
    _deliver_many(deliver, 1)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    later = threading.Timer(
        0.3, lambda: Deliver(app.test_client()).kobana(RAW, headers={"X-Kobana-Delivery-Id": "late"})
    )
    later.start()
    totals = jobs.drain_inbox()
    later.join()
    assert totals["processed"] == 2
    assert _drain_jobs(redis_conn) == []  # the late event rang nothing
    assert set(_statuses(engine)) == {"delivery:d-0", "delivery:late"}


def test_a_drain_that_ends_silences_the_doorbell_so_the_next_event_rings(
    settings, deliver, redis_conn, registry, effects
):
    """After a quiet linger the drain lets the doorbell go, then looks once more: nothing can
    arrive between its last read and its end without ringing for a new drain."""
    _record_all(registry)
    jobs.configure(settings.replace(drain_linger_ms=50))
    _deliver_many(deliver, 2)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    assert jobs.drain_inbox()["processed"] == 2
    assert not redis_conn.exists(stream.DOORBELL)
    assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "next"}).json["status"] == "accepted"
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]


def test_a_worker_asked_to_stop_does_not_linger(settings, deliver, redis_conn, registry, effects):
    """SIGTERM (a deploy) while a drain lingers: it finishes its batch and ends, leaving the
    doorbell free, instead of holding the worker's stop for DRAIN_LINGER_MS."""
    _record_all(registry)
    jobs.configure(settings.replace(drain_linger_ms=5000))
    _deliver_many(deliver, 2)
    jobs.wind_down()
    started = time.monotonic()
    assert jobs.drain_inbox()["processed"] == 2
    assert time.monotonic() - started < 2
    assert not redis_conn.exists(stream.DOORBELL)


def test_a_drain_ends_within_a_third_of_its_timeout_and_rings_a_successor(
    settings, deliver, redis_conn, registry, effects
):
    """However busy the inbox, one drain job ends well inside JOB_TIMEOUT; what still waits gets a new drain."""

    def slow(event, session):
        time.sleep(0.05)
        fx.record(event, session, "ledger")

    registry.handler("kobana", "bank_billet.paid")(slow)
    jobs.configure(settings.replace(job_timeout=1, drain_batch=1, drain_linger_ms=1000))
    _deliver_many(deliver, 12)
    queue = Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json")
    queue.empty()
    started = time.monotonic()
    totals = jobs.drain_inbox()
    assert time.monotonic() - started < 1.0
    assert 0 < totals["processed"] < 12
    assert redis_conn.xlen(stream.INBOX) == 12 - totals["processed"]
    assert redis_conn.exists(stream.DOORBELL)  # rung for a successor, beside the helper a full batch called
    assert _drain_jobs(redis_conn) == [DRAIN_JOB, DRAIN_JOB]


def _busy_inbox(registry, deliver, also=lambda: None) -> None:
    """Two events waiting, and every event stored takes 0.2 s while a new one arrives: the inbox
    is never empty, yet no batch is full (no helper is called)."""
    arrivals = iter(range(1000))

    def slow(event, session):
        time.sleep(0.2)
        deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": f"later-{next(arrivals)}"})
        also()
        fx.record(event, session, "ledger")

    registry.handler("kobana", "bank_billet.paid")(slow)
    _deliver_many(deliver, 2)


def test_a_drain_hands_over_holding_the_doorbell_so_the_maintenance_adds_no_second_drain(
    settings, deliver, redis_conn, registry, effects
):
    """The maintenance runs between a worker's jobs, so right after a drain that reached its time
    limit. By then the other worker may have taken the successor off the queue: were the doorbell
    let go, the maintenance would see events waiting, no job and no hold, and queue a second drain
    beside the successor, and the two would each hand over to one of their own for good."""
    jobs.configure(settings.replace(job_timeout=1))
    _busy_inbox(registry, deliver)
    queue = Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json")
    queue.empty()
    jobs.drain_inbox()
    assert redis_conn.xlen(stream.INBOX) > 0
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]  # the successor
    queue.empty()  # the other worker took it and is starting it
    assert drain_if_waiting(redis_conn, settings, unless_draining=True) is False
    assert _drain_jobs(redis_conn) == []


def test_of_two_drains_the_one_that_finds_the_other_alive_at_its_time_limit_queues_no_successor(
    settings, deliver, redis_conn, registry, effects
):
    """A helper a full batch called stays only as long as the drain it helped: at the first time
    limit one of the two ends without a successor, and the other reads on alone."""
    jobs.configure(settings.replace(job_timeout=1))
    _busy_inbox(registry, deliver, also=lambda: stream.hold_doorbell(redis_conn, "the-other-drain"))
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    jobs.drain_inbox()
    assert redis_conn.xlen(stream.INBOX) > 0
    assert _drain_jobs(redis_conn) == []
    assert redis_conn.get(stream.DOORBELL) == stream.DRAINING + b":the-other-drain"


def test_a_failing_event_does_not_hold_back_the_rest_of_its_batch(settings, deliver, engine, effects, registry, work):
    """The batch runs again without the failing event; that one is retried alone until its retries run out."""

    def ledger(event, session):
        if event.idempotency_key == "delivery:d-1":
            raise RuntimeError("chart of accounts missing")
        fx.record(event, session, "ledger")

    registry.handler("kobana", "bank_billet.paid")(ledger)
    jobs.configure(settings.replace(job_retry_max=1, job_retry_intervals=(0,)))
    _deliver_many(deliver, 3)
    work()
    assert _statuses(engine) == {
        "delivery:d-0": ("processed", 1),
        "delivery:d-1": ("failed", 2),
        "delivery:d-2": ("processed", 1),
    }
    assert sorted(event_id for event_id, _handler, _code in effects()) == sorted(
        event_id for event_id, key in _ids(engine).items() if key != "delivery:d-1"
    )


def _ids(engine: sa.Engine) -> dict[int, str]:
    with db.session_factory(engine)() as session:
        return {row.id: row.idempotency_key for row in session.scalars(sa.select(EventRecord))}


def test_entries_a_dead_drain_took_are_claimed_by_the_next_one(
    deliver, runtime, engine, registry, redis_conn, monkeypatch
):
    """A drain that read entries and died leaves them pending; once idle long enough, another drain takes them."""
    _record_all(registry)
    _deliver_many(deliver, 2)
    stream.take(redis_conn, "worker-that-died", count=10, reclaim_after_ms=60_000)
    assert jobs.drain_inbox()["taken"] == 0  # still young: perhaps a live drain holds them
    monkeypatch.setattr(jobs, "reclaim_after_ms", lambda settings: 0)
    assert jobs.drain_inbox()["processed"] == 2
    assert set(_statuses(engine).values()) == {("processed", 1)}


def test_a_batch_drained_twice_has_its_effects_once(
    deliver, runtime, engine, effects, registry, redis_conn, monkeypatch
):
    """A drain that committed but died before its ack is re-run by the next: the inbox key makes it a no-op."""
    _record_all(registry)
    _deliver_many(deliver, 3)
    monkeypatch.setattr(stream, "ack", lambda connection, ids: None)  # dies between commit and ack
    jobs.drain_inbox()
    monkeypatch.undo()
    monkeypatch.setattr(jobs, "reclaim_after_ms", lambda settings: 0)
    assert jobs.drain_inbox()["taken"] == 3
    assert len(effects()) == 3 and redis_conn.xlen(stream.INBOX) == 0


def test_waiting_events_get_a_drain_even_when_the_ring_was_lost(deliver, settings, redis_conn):
    """The worker's maintenance queues a drain whenever events wait and no job is queued, though
    the append's ring left the doorbell rung."""
    _deliver_many(deliver, 1)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()  # the ring's job is gone
    assert redis_conn.exists(stream.DOORBELL)
    assert drain_if_waiting(redis_conn, settings, unless_draining=True) is True
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]
    assert drain_if_waiting(redis_conn, settings, unless_draining=True) is False  # one is enough


def test_the_maintenance_leaves_waiting_events_to_the_drain_that_holds_the_doorbell(deliver, settings, redis_conn):
    """A live drain reads them; a second drain beside it would only split them into smaller batches."""
    _deliver_many(deliver, 1)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    stream.hold_doorbell(redis_conn, "a-live-drain")  # what a running drain renews every batch
    assert drain_if_waiting(redis_conn, settings, unless_draining=True) is False
    assert _drain_jobs(redis_conn) == []
    assert drain_if_waiting(redis_conn, settings) is True  # a drain with a full batch still calls for help


def test_the_maintenance_drains_once_a_dead_drains_hold_lapsed(deliver, settings, redis_conn):
    """A drain that died holds the doorbell no longer than ``HOLD_SECONDS``; then the safety net drains."""
    _deliver_many(deliver, 1)
    Queue(EVENTS_QUEUE, connection=redis_conn, serializer="json").empty()
    stream.hold_doorbell(redis_conn, "a-dead-drain")
    redis_conn.pexpire(stream.DOORBELL, 1)  # the drain died: nothing renews its hold
    time.sleep(0.01)
    assert drain_if_waiting(redis_conn, settings, unless_draining=True) is True
    assert _drain_jobs(redis_conn) == [DRAIN_JOB]


def test_a_failed_append_leaves_no_fence_so_the_provider_retry_is_accepted(deliver, redis_conn):
    """If Redis refuses the entry (here: the stream key holds a wrong type) the answer is one the
    provider retries (Kobana: 500) and no fence is left behind, so the provider's retry is not
    mistaken for a duplicate."""
    redis_conn.set(stream.INBOX, "not a stream")
    response = deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "d-x"})
    assert response.status_code == 500
    assert response.json["error"] == "queue_unavailable"
    assert redis_conn.keys(stream.FENCE + "*") == []
    redis_conn.delete(stream.INBOX)
    assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "d-x"}).json["status"] == "accepted"


def test_a_ring_that_fails_after_the_append_still_acknowledges(deliver, redis_conn, monkeypatch):
    """The event is in Redis once appended; a failed drain enqueue only delays it to the next drain."""
    from workers import queue

    def refuse(*args, **kwargs):
        import redis

        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(queue, "enqueue_drain", refuse)
    assert deliver.kobana(RAW, headers={"X-Kobana-Delivery-Id": "d-y"}).status_code == 200
    assert redis_conn.xlen(stream.INBOX) == 1
    assert not redis_conn.exists(stream.DOORBELL)  # forgotten, so the next event rings again


def _batch_recorder(registry, calls: list[int], fail_key: str | None = None):
    def ledger(event, session):
        if event.idempotency_key == fail_key:
            raise RuntimeError("chart of accounts missing")
        fx.record(event, session, "ledger")

    def ledger_many(events, session):
        calls.append(len(events))
        for event in events:
            ledger(event, session)

    ledger.many = ledger_many
    registry.handler("kobana", "bank_billet.paid")(ledger)


@pytest.mark.parametrize("count", [4, 1], ids=["four", "a-lone-event"])
def test_a_handler_with_a_batch_form_is_called_once_for_the_whole_batch(
    count, deliver, runtime, engine, effects, registry
):
    """The ledger's batch form gets all the batch's events in one call, in order; each still counts as
    handled once. A lone event too (a quiet hour, or a rate the drain meets one at a time): through the
    ledger's per-event form it cost ~10 ms of worker CPU on PostgreSQL, through its batch form ~7
    (bench/results.md)."""
    calls: list[int] = []
    _batch_recorder(registry, calls)
    _deliver_many(deliver, count)
    jobs.drain_inbox()
    assert calls == [count]
    assert set(_statuses(engine).values()) == {("processed", 1)} and len(effects()) == count


def test_a_failing_batch_form_is_rerun_per_event_to_isolate_the_failing_event(
    settings, deliver, engine, effects, registry, work
):
    """A batch form that raises names no event: the batch runs again one call per event, and only the culprit fails."""
    calls: list[int] = []
    _batch_recorder(registry, calls, fail_key="delivery:d-2")
    jobs.configure(settings.replace(job_retry_max=0))
    _deliver_many(deliver, 4)
    work()
    assert calls == [4, 3]  # the whole batch, then the batch without the culprit
    statuses = _statuses(engine)
    assert statuses.pop("delivery:d-2") == ("failed", 1)
    assert set(statuses.values()) == {("processed", 1)} and len(effects()) == 3


def test_batches_shrink_so_slow_handlers_finish_well_inside_the_job_timeout(settings):
    """At 200 ms per event and a 30 s timeout a drain takes 50 events (10 s), not 200 (40 s, killed)."""
    pace = jobs.Pace()
    slow = settings.replace(job_timeout=30, drain_batch=200)
    pace.observe(0.2)
    assert pace.batch(slow) == 50
    pace.observe(0.0005)
    assert 50 < pace.batch(slow) <= 200  # recovers as handlers get fast again, never past DRAIN_BATCH


def test_a_process_that_has_measured_nothing_takes_a_small_first_batch(settings):
    """A worker started during an outage meets the whole backlog when the database returns: it
    learns its handlers' pace on a small batch before it takes DRAIN_BATCH at once."""
    pace = jobs.Pace()
    assert pace.batch(settings.replace(drain_batch=200)) == jobs.Pace.FIRST_BATCH < 200
    assert pace.batch(settings.replace(drain_batch=5)) == 5
    pace.observe(0.0005)
    assert pace.batch(settings.replace(job_timeout=30, drain_batch=200)) == 200


def test_a_drain_reads_small_batches_every_30_ms_while_storing_them_is_quick():
    """300 deliveries/s: a batch of 9 stored in 11 ms; the drain reads again 30 ms after the last read began."""
    assert jobs.gather_seconds(0.011) == jobs.GATHER_SECONDS == 0.03


def test_a_drain_whose_batches_take_long_to_store_waits_longer_so_they_grow():
    """700 deliveries/s: storing a batch took 20 ms, so the next read comes 40 ms after, not 30;
    never more than 60 ms, however slow the store."""
    assert jobs.gather_seconds(0.020) == pytest.approx(0.04)
    assert jobs.gather_seconds(1.0) == jobs.GATHER_MAX_SECONDS == 0.06


def test_a_timeout_that_lands_in_a_handler_mid_drain_is_nobodys_attempt(
    settings, deliver, registry, redis_conn, engine
):
    """RQ's timeout fires in whatever runs at that moment; in a drain that is often an ordinary
    handler on an ordinary event. The drain was too long, not the event: no attempt is counted,
    every event gets its own job with its full retries, and the next batch is a third as big."""
    from rq.timeouts import JobTimeoutException

    def ledger(event, session):
        if event.idempotency_key == "delivery:d-1":
            raise JobTimeoutException("Task exceeded maximum timeout value (2 seconds)")
        fx.record(event, session, "ledger")

    registry.handler("kobana", "bank_billet.paid")(ledger)
    rt = jobs.configure(settings.replace(job_timeout=2))
    _deliver_many(deliver, 3)
    assert jobs.drain_inbox() == {"taken": 3, "processed": 0, "handed_over": 3}
    assert set(_statuses(engine).values()) == {("received", 0)}
    assert sorted(_drain_jobs(redis_conn)) == [DRAIN_JOB] + ["workers.jobs.process_event"] * 3
    assert redis_conn.xlen(stream.INBOX) == 0
    assert rt.pace.batch(rt.settings) == 1  # 3 events outlived the timeout: one at a time now


def test_a_drain_that_times_out_hands_its_events_to_their_own_jobs(deliver, runtime, registry, redis_conn, monkeypatch):
    """RQ's job timeout interrupting a batch is a batch failure: each event gets its own job, nothing stays behind."""
    from rq.timeouts import JobTimeoutException

    from workers import inbox

    def too_slow(*args, **kwargs):
        raise JobTimeoutException("Task exceeded maximum timeout value (30 seconds)")

    _record_all(registry)
    _deliver_many(deliver, 3)
    monkeypatch.setattr(inbox, "process_batch", too_slow)
    assert jobs.drain_inbox() == {"taken": 3, "processed": 0, "handed_over": 3}
    assert redis_conn.xlen(stream.INBOX) == 0
    assert sorted(_drain_jobs(redis_conn)) == [DRAIN_JOB] + ["workers.jobs.process_event"] * 3


def test_the_event_log_keeps_the_raw_body_and_no_second_parsed_copy(deliver, runtime, registry, engine):
    """The raw bytes are the record; ``events show`` derives the payload from them with the provider's code."""
    from web.cli.events import payload_of

    _record_all(registry)
    _deliver_many(deliver, 1)
    jobs.drain_inbox()
    with db.session_factory(engine)() as session:
        row = session.scalars(sa.select(EventRecord)).one()
        assert (row.raw, row.payload) == (RAW, None)
        assert payload_of(row)["object"]["paid_amount"] == "349.9"  # exact, from the raw body
