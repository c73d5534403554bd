"""The RQ queue: one Redis connection per process, and ``enqueue_event``, the durability point.

A 2xx is sent only after ``enqueue_event`` returns, i.e. after Redis has the job. Any Redis
error becomes ``QueueUnavailable`` (503 + Retry-After) so the provider delivers again.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

import embedded_redis
from config import Settings
from providers.errors import QueueUnavailable
from schemas.envelope import Envelope

EVENTS_QUEUE = "events"
JOB = "workers.jobs.process_event"
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


def init_app(app: Flask, settings: Settings) -> None:
    connection = connect(settings)
    app.extensions["rq"] = {"connection": connection, "events": events_queue(connection)}


def get_connection() -> redis.Redis:
    return current_app.extensions["rq"]["connection"]  # type: ignore[no-any-return]


def enqueue_event(envelope: Envelope, settings: Settings) -> str:
    """Put the event on its queue; returns ``accepted`` or ``duplicate`` (already queued)."""
    ext = current_app.extensions["rq"]
    queue: Queue = ext["events"]
    retry = (
        Retry(max=settings.job_retry_max, interval=list(settings.job_retry_intervals))
        if settings.job_retry_max
        else None
    )
    registered: set[str] = ext.setdefault("registered", set())
    # RQ re-adds the queue to its ``rq:queues`` set on every enqueue, in a MULTI/EXEC round trip
    # of its own (11 % of web CPU in the profile, bench/README.md). Once this process has done it,
    # that SADD goes into a pipeline that is dropped; the job itself is written and pushed by RQ's
    # atomic unique-enqueue script, never through the pipeline. Should RQ ever queue anything else
    # on it, the pipeline is sent, so the 2xx still means the job is in Redis.
    sink = queue.connection.pipeline(transaction=False) if queue.name in registered else None
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
            pipeline=sink,
        )
        if sink is not None and len(sink) != 1:
            sink.execute()
    except DuplicateJobError:
        return "duplicate"
    except redis.RedisError as exc:
        raise QueueUnavailable(f"event queue unavailable ({type(exc).__name__}); retry later") from None
    registered.add(queue.name)
    return "accepted"
