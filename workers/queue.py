"""Redis for the web and the workers: ``enqueue_event`` (the durability point) and the RQ jobs.

A 2xx is sent only after ``enqueue_event`` returns, i.e. after Redis has the event in the inbox
stream (``workers/stream.py`` says why a stream). Any Redis error becomes ``QueueUnavailable``
(a status the provider retries, + Retry-After) so the provider delivers again. RQ runs the drain
jobs that empty the stream in batches, and the one-event jobs (with retries and a dead letter)
that a failed batch becomes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
import structlog
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from config import Settings
from ops import embedded_redis
from providers.errors import QueueUnavailable
from schemas.envelope import Envelope
from workers import stream

log = structlog.get_logger(__name__)

EVENTS_QUEUE = "events"
JOB = "workers.jobs.process_event"
DRAIN_JOB = "workers.jobs.drain_inbox"
#: A failed drain job is only a trace (its entries stay pending in the stream): keep it a day.
DRAIN_FAILURE_TTL = 86_400
#: Finished jobs linger this long, so RQ's ``unique`` refuses quick redeliveries before they
#: reach a worker. The database unique key is the real dedup; this only saves work.
RESULT_TTL = 300


def connect(settings: Settings, **overrides: Any) -> redis.Redis:
    """A Redis client with short timeouts: a hung Redis must become a 503, not a 5 s timeout."""
    url = settings.redis_url or embedded_redis.ensure_running(settings.var_dir)
    options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 30}
    if url.startswith("rediss://") and not settings.redis_tls_verify:
        options["ssl_cert_reqs"] = "none"  # managed Redis with a self-signed certificate
    options.update(overrides)
    return redis.Redis.from_url(url, **options)


def events_queue(connection: redis.Redis) -> Queue:
    return Queue(EVENTS_QUEUE, connection=connection, serializer="json")


def queues(connection: redis.Redis) -> tuple[Queue, ...]:
    """Every queue a worker listens to: exactly one, on purpose.

    RQ dequeues crash-safely (``LMOVE`` into an intermediate queue that maintenance sweeps) only
    when a worker listens to a single queue; with two it falls back to ``BLPOP``, and a job popped
    just before Redis or the worker dies is in no registry and never runs (the Redis-crash fault
    test caught one). Quarantined envelopes therefore share the events queue; their status tells
    the worker to store them as ``quarantined``, and the operator's view is the event log.
    """
    return (events_queue(connection),)


def enqueue_event(connection: redis.Redis, queue: Queue, envelope: Envelope, settings: Settings) -> str:
    """Append the event to the inbox stream; returns ``accepted`` or ``duplicate`` (already queued).

    The durability point of the web: it returns only once Redis holds the entry. Ringing the
    doorbell (one drain job when no drain is pending) is best effort after that: the event is
    already safe, and the worker's maintenance drains whatever waits without a ring.
    """
    try:
        result = stream.append(connection, envelope)
    except redis.RedisError as exc:
        raise QueueUnavailable.because(exc) from None
    if result < 0:
        return "duplicate"
    if result > 0:
        try:
            enqueue_drain(queue, settings)
        except redis.RedisError as exc:
            _forget_doorbell(connection)
            log.warning("drain.ring_failed", error=type(exc).__name__)
    return "accepted"


def enqueue_drain(queue: Queue, settings: Settings) -> None:
    """One drain job. It is cheap when it finds nothing, so a spare one is harmless; no retry:
    whatever a failed drain took stays pending in the stream and the next drain claims it."""
    queue.enqueue(
        DRAIN_JOB,
        job_timeout=settings.job_timeout,
        result_ttl=0,
        failure_ttl=DRAIN_FAILURE_TTL,
        description="drain the inbox stream",
    )


def ring(connection: redis.Redis, settings: Settings) -> bool:
    """Ring the doorbell from a worker: a drain job unless one is already rung and pending."""
    if not connection.set(stream.DOORBELL, "1", nx=True, ex=stream.DOORBELL_TTL):
        return False
    try:
        enqueue_drain(events_queue(connection), settings)
    except redis.RedisError:
        _forget_doorbell(connection)
        raise
    return True


def drain_if_waiting(connection: redis.Redis, settings: Settings, *, unless_draining: bool = False) -> bool:
    """The safety net the worker runs at start and every maintenance interval: if events wait in
    the inbox (a ring was lost, a drain died, a failed batch awaits its reclaim) and no job is
    queued, queue a drain, rung doorbell or not. Also how a drain that took a full batch calls a
    second one for the other worker processes (it holds the doorbell, so ringing would not).

    ``unless_draining`` (the maintenance): not while a live drain holds the doorbell. That drain
    reads what waits and rings a successor when it ends; a second drain beside it only split the
    arrivals into smaller batches, each with a batch's fixed cost (measured at 300 events/s: a
    sixth of the workers' CPU, bench/results.md). A drain that dies stops renewing its hold, and
    the next maintenance after it lapses drains.
    """
    queue = events_queue(connection)
    if stream.depth(connection) == 0 or queue.count > 0:
        return False
    if unless_draining and stream.draining(connection):
        return False
    enqueue_drain(queue, settings)
    return True


def _forget_doorbell(connection: redis.Redis) -> None:
    try:
        connection.delete(stream.DOORBELL)
    except redis.RedisError:
        pass  # it expires by itself (stream.DOORBELL_TTL)


def enqueue_single(queue: Queue, envelope: Envelope, settings: Settings) -> str:
    """One RQ job for one event, with the configured retries and RQ's failed registry as the dead
    letter: where a drain hands the events of a batch that failed (``workers.jobs.drain_inbox``)."""
    retry = (
        Retry(max=settings.job_retry_max, interval=list(settings.job_retry_intervals))
        if settings.job_retry_max
        else None
    )
    try:
        queue.enqueue(
            JOB,
            envelope.to_dict(),
            job_id=envelope.job_id,
            unique=True,
            retry=retry,
            result_ttl=RESULT_TTL,
            job_timeout=settings.job_timeout,
            description=f"{envelope.provider} {envelope.event_code}",
        )
    except DuplicateJobError:
        return "duplicate"
    return "accepted"


def enqueue_retry(queue: Queue, envelope: Envelope, settings: Settings) -> None:
    """The one-event job that follows an attempt that failed in a batch: it runs after the first
    retry interval with the retries that remain, exactly as RQ would have retried it."""
    intervals = list(settings.job_retry_intervals)
    remaining = settings.job_retry_max - 1
    retry = Retry(max=remaining, interval=intervals[1:] or intervals) if remaining else None
    options: dict[str, Any] = {
        "job_id": envelope.job_id,
        "retry": retry,
        "result_ttl": RESULT_TTL,
        "job_timeout": settings.job_timeout,
        "description": f"{envelope.provider} {envelope.event_code} (retry)",
    }
    if intervals[0] > 0:
        queue.enqueue_in(timedelta(seconds=intervals[0]), JOB, envelope.to_dict(), **options)
    else:
        queue.enqueue(JOB, envelope.to_dict(), **options)
