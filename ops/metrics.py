"""Prometheus metrics for web and worker, correct under several gunicorn workers.

Counters and histograms live in prometheus-client's multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn.conf.py or serve.py prepare a fresh directory
before any process imports this module), so every gunicorn worker and a worker on the same
machine add up on one scrape. Queue depth, the oldest job's age, scheduled retries and dead
letters are read from Redis at scrape time (``QueueCollector``): a gauge kept in a process
would be stale or per-process.

Labels are bounded and safe: provider names from ``PROVIDERS``, outcome codes we set
ourselves, event codes masked and truncated. No secret, body or CPF/CNPJ is ever a label.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.utils import utcparse

from ops.logconfig import mask_text
from workers import stream
from workers.queue import queues

#: Acks take milliseconds; providers give up at 5 s, so the buckets stop there.
_ACK_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "webhook_requests",
    "Webhook requests by provider and outcome (accepted, duplicate, quarantined, ping, probe, "
    "unauthenticated, body_too_large, queue_unavailable, not_found, ...: web.outcome.Outcome).",
    ["provider", "outcome"],
)
ACK_SECONDS = Histogram(
    "webhook_ack_seconds", "Time from request start to the answer, per provider.", ["provider"], buckets=_ACK_BUCKETS
)
EVENTS = Counter(
    "webhook_events",
    "Events finished by a worker: processed, ignored (no handler), duplicate, ping, quarantined, failed (final).",
    ["provider", "event_code", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "webhook_event_handling_seconds",
    "Time a worker spent storing and handling one event (its transaction), per provider.",
    ["provider"],
    buckets=_HANDLER_BUCKETS,
)
RETRIES = Counter("webhook_event_retries", "Failed attempts that RQ will retry later.", ["provider", "event_code"])
DEAD_LETTERS = Counter(
    "webhook_event_dead_letters",
    "Events whose last attempt failed: parked in RQ's failed registry, status failed in the log.",
    ["provider", "event_code"],
)


def code_label(code: str | None) -> str:
    """An event code fit for a label: masked (an entity from a URL could be digits) and bounded."""
    return mask_text(code or "unknown")[:64]


# --- worker side (a few calls from workers/jobs.py) -------------------------------------------


def event_finished(provider: str, event_code: str, outcome: str, seconds: float) -> None:
    EVENTS.labels(provider, code_label(event_code), outcome).inc()
    HANDLER_SECONDS.labels(provider).observe(seconds)


def event_failed(provider: str, event_code: str, *, final_attempt: bool, seconds: float) -> None:
    HANDLER_SECONDS.labels(provider).observe(seconds)
    code = code_label(event_code)
    if final_attempt:
        DEAD_LETTERS.labels(provider, code).inc()
        EVENTS.labels(provider, code, "failed").inc()
    else:
        RETRIES.labels(provider, code).inc()


# --- scraping ---------------------------------------------------------------------------------


class QueueCollector:
    """Queue gauges read from Redis on each scrape, so every process reports the same truth."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("webhook_queue_up", "1 when Redis answered this scrape.")
        depth = GaugeMetricFamily(
            "webhook_queue_depth", "Events not yet stored (queue=inbox), or jobs in an RQ queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "webhook_queue_oldest_job_age_seconds",
            "Age of the job at the head of the queue (0 if empty).",
            labels=["queue"],
        )
        scheduled = GaugeMetricFamily(
            "webhook_queue_scheduled_jobs", "Jobs waiting for a retry interval to pass.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "webhook_queue_failed_jobs", "Jobs in RQ's failed registry (dead letters).", labels=["queue"]
        )
        try:
            now = time.time()
            depth.add_metric(["inbox"], stream.depth(self.connection))
            age.add_metric(["inbox"], stream.oldest_age(self.connection, now))
            for queue in queues(self.connection):
                depth.add_metric([queue.name], queue.count)
                age.add_metric([queue.name], _oldest_age(self.connection, queue.key, now))
                scheduled.add_metric([queue.name], ScheduledJobRegistry(queue=queue).count)
                failed.add_metric([queue.name], FailedJobRegistry(queue=queue).count)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, depth, age, scheduled, failed)


def _oldest_age(connection: redis.Redis, queue_key: str, now: float) -> float:
    # Any: redis-py types replies for every decode mode; this client returns bytes.
    job_id: Any = connection.lindex(queue_key, 0)
    if job_id is None:
        return 0.0
    enqueued: Any = connection.hget(Job.key_for(job_id.decode()), "enqueued_at")
    if not enqueued:
        return 0.0
    return max(0.0, now - utcparse(enqueued.decode()).timestamp())


class _ThisProcess:
    """The process's own registry, for single-process mode (tests, a worker on its own dyno)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_registry(connection: redis.Redis) -> CollectorRegistry:
    """A fresh registry per scrape: every process's files (multiprocess) plus the queue gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueCollector(connection))
    return registry


def serve_on_port(port: int, connection: redis.Redis, addr: str = "0.0.0.0") -> Any:  # noqa: S104
    """Serve metrics on their own port (gunicorn's master, or the RQ worker process)."""
    from prometheus_client import start_http_server

    class _PerScrape:
        def collect(self) -> Iterator[Metric]:
            yield from scrape_registry(connection).collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PerScrape())
    return start_http_server(port, addr=addr, registry=registry)
