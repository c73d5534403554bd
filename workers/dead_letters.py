"""Dead letters the event log's ``failed`` rows do not show, for ``flask events list|replay --status failed``.

An event can end up failed without a ``failed`` row when the row could not be written:

- **RQ's failed registry** of the events queue: a one-event job (``process_event``) whose last try
  raised before the event log recorded it (a job timeout, a body a deployed change cannot read,
  the event log refusing the row). A failed *drain* job is not a dead letter: its entries stay
  pending in the inbox stream and the next drain takes them.
- **the inbox's undecodable list** (``stream.UNDECODABLE``): entries a drain could not decode,
  kept there rather than dropped.

Replaying one puts the event back in the inbox stream (the drain stores and dispatches it, once:
the event log's unique key) and removes the dead letter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from schemas.envelope import Envelope
from workers import stream
from workers.queue import JOB, events_queue

RQ, INBOX = "rq", "inbox"


@dataclass(frozen=True)
class DeadLetter:
    source: str  # "rq" (failed registry) or "inbox" (undecodable list)
    ref: str  # the RQ job id, or the raw list item
    envelope: Envelope | None  # None: not decodable (yet)
    error: str | None

    @property
    def id(self) -> str:
        return f"{self.source}:{self.ref if self.source == RQ else 'undecodable'}"

    def summary(self) -> dict[str, Any]:
        """The ``events list`` fields (docs/cli.md), plus ``kept_in`` (``rq`` or ``inbox``): no
        event-log id, it is not in the log."""
        env = self.envelope
        received: datetime | None = env.received_at if env else None
        return {
            "id": self.id,
            "provider": env.provider if env else None,
            "event_code": env.event_code if env else None,
            "original_code": env.original_code if env else None,
            "idempotency_key": env.idempotency_key if env else None,
            "status": "failed",
            "attempts": None,
            "occurred_at": None,
            "received_at": received.isoformat().replace("+00:00", "Z") if received else None,
            "processed_at": None,
            "last_error": self.error,
            "source": env.source if env else None,
            "kept_in": self.source,
        }


def outside_event_log(connection: redis.Redis, logged: set[tuple[str, str]]) -> list[DeadLetter]:
    """Every dead letter in Redis whose (provider, idempotency key) is not in ``logged`` (the
    event log's ``failed`` rows, already listed)."""
    found = []
    registry = FailedJobRegistry(queue=events_queue(connection))
    ids = registry.get_job_ids()
    for job in Job.fetch_many(ids, connection=connection, serializer="json") if ids else ():
        if job is None or job.func_name != JOB or not job.args:
            continue
        try:
            envelope = Envelope.from_dict(job.args[0])
        except (KeyError, TypeError, ValueError):
            envelope = None
        if envelope is not None and (envelope.provider, envelope.idempotency_key) in logged:
            continue
        found.append(DeadLetter(RQ, job.id, envelope, _last_line(job.latest_result())))
    items: list[bytes] = connection.lrange(stream.UNDECODABLE, 0, -1)  # type: ignore[assignment]
    for item in items:
        found.append(DeadLetter(INBOX, item.decode("utf-8", "replace"), _decoded(item), "undecodable inbox entry"))
    return found


def replay(connection: redis.Redis, letter: DeadLetter) -> str:
    """Back to the inbox (``requeued``), or ``undecodable`` when there is still nothing to queue."""
    if letter.envelope is None:
        return "undecodable"
    stream.put_back(connection, letter.envelope)
    if letter.source == RQ:
        FailedJobRegistry(queue=events_queue(connection)).remove(letter.ref, delete_job=True)
    else:
        connection.lrem(stream.UNDECODABLE, 1, letter.ref)
    return "requeued"


def _decoded(item: bytes) -> Envelope | None:
    try:
        fields = json.loads(item)
        return stream.decode({b"e": fields["e"].encode(), b"raw": fields["raw"].encode()})
    except (KeyError, TypeError, ValueError):
        return None


def _last_line(result: Any) -> str | None:
    text = getattr(result, "exc_string", None) if result is not None else None
    lines = (text or "").strip().splitlines()
    return lines[-1][:500] if lines else None
