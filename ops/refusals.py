"""Refused deliveries, counted per provider and reason in one-minute Redis buckets.

The door records each refusal here (``record``) and the worker's alert check reads the last
ten minutes back (``counts``). A rotated secret makes every delivery a 401/498 while
``/healthz`` stays green: these counters are what notices. Recording is one pipelined round
trip and never raises, because a refusal must be answered the same whether Redis counted it
or not. No Flask here: the web records, the worker reads.
"""

from __future__ import annotations

from collections import Counter

import redis
import structlog

log = structlog.get_logger(__name__)

#: ``alerts:refused:<provider>:<unix minute>`` is a hash ``{reason: count}``.
PREFIX = "alerts:refused:"
#: ``alerts:refused-last:<provider>`` holds the time (unix seconds) of the latest refusal.
LAST = "alerts:refused-last:"
BUCKET_SECONDS = 60
#: Buckets outlive the longest window read back (10 min) with margin, then Redis drops them.
TTL_SECONDS = 30 * 60
#: The refusals alert looks this far back (issue 14: "within 10 minutes").
WINDOW_SECONDS = 10 * 60


def record(connection: redis.Redis, provider: str, reason: str, now: float) -> bool:
    """Count one refusal; False (and a log line) when Redis did not take it. Never raises."""
    key = f"{PREFIX}{provider}:{int(now) // BUCKET_SECONDS}"
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.hincrby(key, reason, 1)
        pipe.expire(key, TTL_SECONDS)
        pipe.set(LAST + provider, repr(now), ex=TTL_SECONDS * 48)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("refusal.not_counted", provider=provider, error=type(exc).__name__)
        return False
    return True


def counts(connection: redis.Redis, provider: str, now: float, window: int = WINDOW_SECONDS) -> Counter[str]:
    """Refusals of ``provider`` per reason in the buckets covering the last ``window`` seconds."""
    last = int(now) // BUCKET_SECONDS
    first = (int(now) - window) // BUCKET_SECONDS + 1
    pipe = connection.pipeline(transaction=False)
    for minute in range(first, last + 1):
        pipe.hgetall(f"{PREFIX}{provider}:{minute}")
    total: Counter[str] = Counter()
    for bucket in pipe.execute():
        for reason, count in bucket.items():
            total[reason.decode()] += int(count)
    return total


def last_refused(connection: redis.Redis, provider: str) -> float | None:
    """When ``provider``'s latest refusal happened (unix seconds), if one is remembered."""
    value = connection.get(LAST + provider)
    return float(value) if value is not None else None
