"""Jobs the workers run. ``process_event`` receives exactly what ``enqueue_event`` queued.

The process keeps one engine (one connection pool) for all its jobs: ``configure(settings)`` at
worker start, or lazily from the environment on the first job. Nothing here swallows an
exception: a failure propagates to RQ, which retries it and finally parks it in the failed
registry (the dead letter), while the event log records ``attempts``, ``last_error``, ``failed``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from marshmallow import ValidationError
from rq import get_current_job
from rq.timeouts import JobTimeoutException
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import db
import handlers
from config import Settings
from db.bounds import bounded
from ops import metrics
from providers import load_payload
from providers.errors import Invalid
from schemas.envelope import Envelope
from schemas.status import QUARANTINED
from workers import inbox, queue, stream

log = structlog.get_logger(__name__)


class Pace:
    """Sizes batches so a drain ends well inside its job timeout, whatever the handlers cost.

    A batch of 200 events whose handlers take 200 ms each would need 40 s; past ``JOB_TIMEOUT``
    RQ interrupts the drain, and the next drain of the same size would die the same way. So each
    process keeps a moving average of seconds per event and takes at most what fits in a third
    of the timeout. Until it has measured one, a process takes ``FIRST_BATCH``: a worker started
    during an outage meets the whole backlog at once when the database returns. A drain that
    times out hands its events to their own jobs (no attempt spent) and cuts the next batch to a
    third: it has learnt that its events take at least ``JOB_TIMEOUT`` / batch each.
    """

    FIRST_BATCH = 20

    def __init__(self) -> None:
        self.seconds_per_event: float | None = None

    def batch(self, settings: Settings) -> int:
        if not self.seconds_per_event:
            return min(settings.drain_batch, self.FIRST_BATCH)
        fits = int(settings.job_timeout / 3 / self.seconds_per_event)
        return max(1, min(settings.drain_batch, fits))

    def observe(self, seconds_per_event: float) -> None:
        previous = self.seconds_per_event
        self.seconds_per_event = seconds_per_event if previous is None else 0.7 * previous + 0.3 * seconds_per_event

    def ran_out(self, events: int, settings: Settings) -> None:
        self.seconds_per_event = max(self.seconds_per_event or 0.0, settings.job_timeout / max(1, events))


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    pace: Pace = field(default_factory=Pace)  # what this process has measured of its handlers


_runtime: Runtime | None = None
#: Set when the worker was asked to stop (SIGTERM: a deploy, a scale-down): a lingering drain ends
#: after its current batch instead of waiting for more (workers/__main__.py).
_winding_down = threading.Event()


def wind_down() -> None:
    _winding_down.set()


def configure(settings: Settings) -> Runtime:
    """Build this process's engine and load every handler module; replaces any previous one."""
    global _runtime
    if _runtime is not None:
        _runtime.engine.dispose()
    _winding_down.clear()
    handlers.load_all()
    engine = db.engine_from(settings)
    _runtime = Runtime(settings, engine, db.session_factory(engine, settings))
    return _runtime


def runtime() -> Runtime:
    return _runtime or configure(Settings.from_env(os.environ))


def _after_fork_in_child() -> None:
    # A forked work horse must not share the parent's pooled sockets: drop them, keep the engine.
    if _runtime is not None:
        _runtime.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def process_event(data: dict[str, Any]) -> str:
    """Store the event once and dispatch it to its handlers; returns the outcome's status."""
    envelope = bounded(Envelope.from_dict(data))
    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    # The same context the web bound when it acknowledged the event (event_id is the id the
    # provider was answered with; log_id the event log's row), so one grep follows an event.
    context = {"job_id": job.id if job else None, **inbox.log_context(envelope)}
    structlog.contextvars.bind_contextvars(**context)
    started = time.perf_counter()
    try:
        envelope, payload = validated(envelope)
        rt = runtime()
        outcome = inbox.process(rt.engine, envelope, payload, final_attempt=final_attempt, settings=rt.settings)
    except Exception as exc:
        if database_unavailable(exc):  # not the event's fault: back to the inbox, no retry spent
            _back_to_inbox(job, envelope, exc)
            return "deferred"
        seconds = time.perf_counter() - started
        metrics.event_failed(envelope.provider, envelope.event_code, final_attempt=final_attempt, seconds=seconds)
        raise
    finally:
        structlog.contextvars.unbind_contextvars(*context)
    metrics.event_finished(envelope.provider, envelope.event_code, outcome.status, time.perf_counter() - started)
    log.info(
        "event.done",
        **context,
        log_id=outcome.log_id,
        outcome=outcome.status,
        handlers=len(outcome.handlers),
    )
    return outcome.status


def drain_inbox() -> dict[str, int]:
    """Drain the inbox stream batch by batch while events keep coming; returns the totals.

    Each batch is stored and dispatched in one go, then acked. If a batch fails anywhere, each of
    its events becomes a one-event job with the configured retries and dead letter
    (``process_event``, a batch of one); the entries are acked only once they are processed or
    handed over. A drain that dies leaves its entries pending, and a later drain claims them once
    idle longer than any drain may run.

    Why a drain lingers: at a steady rate each event used to find the doorbell silent and queue
    a drain job of its own, and an RQ job costs ~3 ms of worker CPU, more than storing the event
    (bench/results.md, 16.2). So a drain holds the doorbell while it works, waits up to
    ``DRAIN_LINGER_MS`` for the next events, and ends only after a quiet spell or a third of
    ``JOB_TIMEOUT`` (``_hand_over``). A full batch still calls for a second drain, so the other
    worker processes help with a backlog.
    """
    rt = runtime()
    job = get_current_job()
    connection = job.connection if job is not None else queue.connect(rt.settings)
    settings = rt.settings
    consumer = stream.consumer_name()
    me = job.id if job is not None else uuid.uuid4().hex  # the name this drain holds the doorbell under
    ends = time.monotonic() + settings.job_timeout / 3
    totals: Counter[str] = Counter(taken=0, processed=0, handed_over=0)
    reclaim: int | None = reclaim_after_ms(settings)  # what dead drains left: looked for once per job
    block = 0
    stream.hold_doorbell(connection, me)
    while True:
        batch_started = time.monotonic()
        counts = _drain_batch(rt, connection, consumer, reclaim, block)
        reclaim = None
        totals.update(counts)
        if "deferred" in counts:  # the database is down: the safety net drains once it is back
            stream.release_doorbell(connection)
            return dict(totals)
        if time.monotonic() >= ends or _winding_down.is_set():
            _hand_over(connection, settings, me)
            return dict(totals)
        if counts["taken"]:
            _gather(counts["taken"], rt.pace, settings, batch_started)
        else:
            # A quiet spell: silence the doorbell, then look once more. What was appended before the
            # release rang nothing and is seen now; what is appended after rings for a new drain.
            stream.release_doorbell(connection)
            counts = _drain_batch(rt, connection, consumer, None, 0)
            totals.update(counts)
            if not counts["taken"] or "deferred" in counts:
                return dict(totals)
        block = settings.drain_linger_ms
        stream.hold_doorbell(connection, me)


def _hand_over(connection: Any, settings: Settings, me: str) -> None:
    """A drain at its time limit (or its worker stopping): a successor, only if one is needed.

    - **Another drain renewed the doorbell** since this one did (a helper a full batch called):
      it reads on, so no successor. Two drains splitting a steady stream make batches half the
      size, each with a batch's fixed cost; without this they stayed two for good, each ending
      with a successor (at 700 deliveries/s the workers then used a third more CPU). Should that
      drain have died meanwhile, its hold lapses within ``HOLD_SECONDS`` and appends ring again.
    - **Events wait**: the successor is queued while this drain still holds the doorbell. Were it
      released first, the worker's maintenance, which runs between two jobs and so right after
      this one, would find events waiting, no job queued (the other worker had just taken the
      successor) and no hold yet, and queue a second drain beside the successor. Should the
      successor not start, the hold lapses within ``HOLD_SECONDS`` and appends ring again.
    - **Nothing waits**: released, then one more look, as after a quiet linger.
    """
    if stream.held_by_another(connection, me):
        return
    if stream.depth(connection):
        stream.hold_doorbell(connection, me)
        queue.enqueue_drain(queue.events_queue(connection), settings)
        return
    stream.release_doorbell(connection)
    if stream.depth(connection):
        queue.ring(connection, settings)


#: A lingering drain reads at most this often when its batches come out small: a trickle of
#: events then makes batches of several (each batch costs a fixed handful of statements and Redis
#: calls), for at most this much added latency.
GATHER_SECONDS = 0.03
#: ... and no more often than every ``GATHER_PER_STORE`` times what storing its last batch took, up to
#: ``GATHER_MAX_SECONDS``: a drain stores for at most half of its time, and at a high rate its
#: batches grow and share a batch's fixed cost among more events. In-process on PostgreSQL a batch
#: of 21 events cost 780-801 us of worker CPU per event, of 35 638-678 us (bench/results.md, the
#: sixth session). At 300 deliveries/s most batches of ~9 are stored in under half of
#: ``GATHER_SECONDS`` and keep its pace; after a slower one the drain waits longer: ack -> processed
#: p99 at 300/s went from 45-52 to 57-62 ms in the bench (72-78 ms at 2.5 times instead of 2).
GATHER_PER_STORE = 2.0
GATHER_MAX_SECONDS = 0.06


def gather_seconds(store_seconds: float) -> float:
    """How long after the start of a small batch's read the drain reads again, given what storing
    that batch took."""
    return min(GATHER_MAX_SECONDS, max(GATHER_SECONDS, GATHER_PER_STORE * store_seconds))


def _gather(taken: int, pace: Pace, settings: Settings, started: float) -> None:
    if taken < pace.batch(settings):
        # Storing's share, from the pace's average: the batch's own time includes its read, which
        # waits up to DRAIN_LINGER_MS for a first event when there is none.
        rest = gather_seconds(taken * (pace.seconds_per_event or 0.0)) - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)


def _drain_batch(rt: Runtime, connection: Any, consumer: str, reclaim: int | None, block_ms: int) -> dict[str, int]:
    """One batch: take, store and dispatch, ack; its counts (``deferred`` when the database is down)."""
    batch = rt.pace.batch(rt.settings)
    taken = stream.take(connection, consumer, batch, reclaim, block_ms)
    if len(taken) >= batch:
        queue.drain_if_waiting(connection, rt.settings)  # help from the other workers, unless one is queued
    entries: list[stream.Entry] = []
    for entry_id, fields in taken:
        try:
            entries.append(stream.Entry(entry_id, bounded(stream.decode(fields))))
        except Exception as exc:  # written by our own web; kept aside for an operator, never dropped
            log.error("drain.undecodable_entry", entry_id=entry_id.decode(), error=type(exc).__name__)
            stream.set_aside(connection, entry_id, fields)
    if not entries:
        return {"taken": len(taken), "processed": 0, "handed_over": 0}
    started = time.perf_counter()
    items = [validated(entry.envelope) for entry in entries]
    try:
        outcomes, handed_over = _store_and_dispatch(rt, connection, items)
    except DatabaseUnavailable as exc:  # the entries stay pending: a later drain claims them
        log.warning("drain.database_unavailable", events=len(entries), error=inbox.error_text(exc.cause))
        return {"taken": len(taken), "processed": 0, "handed_over": 0, "deferred": len(entries)}
    stream.ack(connection, [entry.id for entry in entries])
    seconds = (time.perf_counter() - started) / len(items)
    rt.pace.observe(seconds)
    for envelope, outcome in outcomes:
        metrics.event_finished(envelope.provider, envelope.event_code, outcome.status, seconds)
        log.info(
            "event.done",
            **inbox.log_context(envelope),
            log_id=outcome.log_id,
            outcome=outcome.status,
            handlers=len(outcome.handlers),
        )
    return {"taken": len(taken), "processed": len(outcomes), "handed_over": handed_over}


#: Handler failures one drain isolates by re-running the rest of its batch; past this, the
#: remaining events each get their own job (a batch full of failures must not cost O(n²)).
MAX_ISOLATED_FAILURES = 3


def _store_and_dispatch(
    rt: Runtime, connection: Any, items: list[tuple[Envelope, dict[str, Any] | None]]
) -> tuple[list[tuple[Envelope, inbox.Outcome]], int]:
    """The batch in one transaction; what fails leaves for one-event jobs. Returns the outcomes
    and how many events were handed over.

    A handler failure is that event's attempt: it is recorded, the event continues as a
    one-event job after its first retry interval (the retries it has left, then the dead
    letter), and the rest of the batch runs again without it. Any other failure (a deadlock, a
    bug) counts no attempt: each event of the batch gets its own job at once. The database being
    unreachable is nobody's attempt either, and no job would do better: ``DatabaseUnavailable``.
    """
    pending, handed_over, use_many = list(items), 0, True
    for _ in range(MAX_ISOLATED_FAILURES + 2):
        try:
            outcomes = _process_batch(rt, pending, use_many)
            return list(zip((e for e, _ in pending), outcomes, strict=True)), handed_over
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if ran_out_of_time(exc):
                # Wherever RQ's timeout landed (a statement, or a handler that was merely next),
                # the drain as a whole took too long: nobody's attempt. Smaller batches from now on.
                log.warning("drain.out_of_time", events=len(pending), error=inbox.error_text(exc))
                rt.pace.ran_out(len(items), rt.settings)
                break
            if isinstance(exc, inbox.BatchFormFailed):
                log.info("drain.batch_form_failed", events=len(pending), error=inbox.error_text(exc))
                use_many = False  # again, one call per event, to find the event that fails
                continue
            if isinstance(exc, inbox.BatchItemFailed):
                envelope, _payload = pending.pop(exc.index)
                _retry_later(rt, connection, envelope, exc.failure)
                handed_over += 1
                use_many = True
                continue
            log.warning("drain.batch_failed", events=len(pending), error=inbox.error_text(exc))
            break
    events = queue.events_queue(connection)
    for envelope, _payload in pending:
        queue.enqueue_single(events, envelope, rt.settings)
    return [], handed_over + len(pending)


# -- the database being down is never an event's attempt (issue 15) -----------------------------


class DatabaseUnavailable(Exception):
    """The database could not be reached; the events that needed it wait in the inbox."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: a handler's failure chains its cause, SQLAlchemy the driver's error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is the database being unreachable, a connection lost or
    refused, rather than anything the event did.

    SQLAlchemy raises ``OperationalError`` for those (server down, connection refused or reset,
    SQLite unable to open or locked) and marks a dropped connection ``connection_invalidated``.
    """
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return any(
        isinstance(e, OperationalError | InterfaceError) or (isinstance(e, DBAPIError) and e.connection_invalidated)
        for e in _chain(exc)
    )


def ran_out_of_time(exc: BaseException) -> bool:
    """Whether RQ's job timeout (its SIGALRM "death penalty") is behind ``exc``: raised in whatever
    ran at that moment, a statement or a handler, and wrapped by what caught it."""
    return any(isinstance(e, JobTimeoutException) for e in _chain(exc))


def _process_batch(rt: Runtime, pending: list[tuple[Envelope, dict[str, Any] | None]], use_many: bool) -> list[Any]:
    try:
        return inbox.process_batch(rt.engine, pending, settings=rt.settings, use_many=use_many)
    except Exception as exc:
        if database_unavailable(exc):
            raise DatabaseUnavailable(exc) from exc
        raise


def _back_to_inbox(job: Any, envelope: Envelope, exc: BaseException) -> None:
    """A one-event job that met a database outage puts its event back in the inbox stream and
    ends: no retry is spent, and a drain stores it once the database answers (the inbox's unique
    key makes the extra entry harmless if the event was stored after all)."""
    connection = job.connection if job is not None else queue.connect(runtime().settings)
    stream.put_back(connection, envelope)
    log.warning("event.deferred_database_unavailable", error=inbox.error_text(exc))


def _retry_later(rt: Runtime, connection: Any, envelope: Envelope, failure: inbox.HandlerFailed) -> None:
    settings = rt.settings
    final_attempt = settings.job_retry_max == 0
    metrics.event_failed(envelope.provider, envelope.event_code, final_attempt=final_attempt, seconds=0.0)
    with Session(rt.engine) as session:  # connects lazily, inside fail_attempt's best-effort guard
        inbox.fail_attempt(session, envelope, failure, final_attempt=final_attempt)
    if not final_attempt:
        queue.enqueue_retry(queue.events_queue(connection), envelope, settings)


def reclaim_after_ms(settings: Settings) -> int:
    """Entries pending longer than a drain may live (job timeout + the heartbeat margin) belong
    to a drain that died; younger ones may still be in a live drain's hands."""
    return (settings.job_timeout + min(15, max(1, settings.job_timeout // 2))) * 1000


def validated(envelope: Envelope) -> tuple[Envelope, dict[str, Any] | None]:
    """Re-parse the exact queued bytes (Decimal amounts); a body that no longer validates is
    quarantined rather than retried forever (a deploy may have tightened a schema)."""
    if envelope.status == QUARANTINED:
        return envelope, None
    try:
        return envelope, load_payload(envelope)
    except (Invalid, ValidationError) as exc:
        errors = exc.errors if isinstance(exc, Invalid) else exc.messages
        log.warning("event.quarantined_by_worker", errors=errors)
        return dataclasses.replace(envelope, status=QUARANTINED, errors=errors), None
