"""The inbox stream: where the web puts each event, and where drain jobs take them in batches.

Why a Redis stream and not one RQ job per event: an RQ job costs the web ~0.5 ms to build and
the worker ~3 ms of bookkeeping (registries, heartbeat, result), and one job per event means one
database transaction per event. ``append`` is one Lua call (fence, ``XADD``, doorbell); a drain
job (``workers.jobs.drain_inbox``, an ordinary RQ job) reads up to a batch of entries through a
consumer group and stores them in one transaction. The stream keeps what RQ gave us:

- **durable before the 2xx**: ``append`` returns only after Redis ran the script (with
  ``appendfsync always`` the entry is on disk);
- **crash safe**: an entry read by a drain stays in the group's pending list until it is acked
  after its commit; entries of a drain that died are taken over (``XAUTOCLAIM``) once idle
  longer than any live drain may run, and the inbox's unique key makes a second run a no-op;
- **duplicates collapse at the door**: a fence key per event id answers a quick redelivery
  ``duplicate`` without a second entry (the database's unique key remains the real dedup).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from schemas.envelope import Envelope

INBOX = "webhooks:inbox"
GROUP = "drain"
DOORBELL = "webhooks:doorbell"
FENCE = "webhooks:fence:"
#: Entries that could not even be decoded (never expected: we write them): kept, not dropped.
UNDECODABLE = "webhooks:inbox:undecodable"
#: A fence lives as long as RQ kept a finished unique job before (``workers.queue.RESULT_TTL``).
FENCE_TTL = 300
#: A rung doorbell with no drain behind it (a failed ring) is forgotten after this; the worker's
#: maintenance drains whatever is waiting regardless.
DOORBELL_TTL = 30

# Order matters. The fence is set *after* the XADD: a script that fails half way (out of memory)
# must never leave a fence without its entry, or the provider's retry would be answered
# "duplicate" for an event Redis does not have. Returns -1 duplicate, 1 rang the doorbell, 0 not.
_APPEND = """
-- KEYS[1] = fence (webhooks:fence:<event id>), KEYS[2] = inbox stream, KEYS[3] = doorbell
-- ARGV[1] = envelope metadata (JSON), ARGV[2] = raw body, ARGV[3] = fence TTL, ARGV[4] = doorbell TTL
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[1], 'raw', ARGV[2])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return 1 end
return 0
"""


@dataclass(frozen=True)
class Entry:
    id: bytes
    envelope: Envelope


def append(client: redis.Redis, envelope: Envelope) -> int:
    """Append the event; -1 if its fence says it is already queued, 1 if the doorbell was rung.

    A client that keeps one connection (``single_connection_client``: the door's, one per serving
    thread, ``web.queue``) has the script sent on that connection itself, under the connection's
    own retry policy, as the client would send it. The client's command path around that (its
    retry wrapper, its observability hooks, the event dispatch) cost about as much CPU as the send
    and the read themselves: 96 against 58 µs per append (bench/results.md, the ninth session).
    Any other client runs it as a command of its own.
    """
    args = (3, FENCE + envelope.job_id, INBOX, DOORBELL, _META.encode(envelope.to_meta()), envelope.raw,
            FENCE_TTL, DOORBELL_TTL)  # fmt: skip
    kept = client.connection
    if kept is None:
        return int(_run_append(client.execute_command, args))

    def send(*command: Any) -> Any:
        kept.send_command(*command)
        return kept.read_response()

    # A failed send or read has already dropped the connection; the retry connects it again.
    return int(kept.retry.call_with_retry(lambda: _run_append(send, args), lambda _error: kept.disconnect()))


#: The envelope's metadata as compact JSON; one encoder, where ``json.dumps`` with options builds one per call.
_META = json.JSONEncoder(separators=(",", ":"))
_APPEND_SHA = hashlib.sha1(_APPEND.encode(), usedforsecurity=False).hexdigest()  # what EVALSHA names it by


def _run_append(send: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The script by its digest; by its text when this Redis does not know it yet (a new or restarted
    server, ``SCRIPT FLUSH``), which also caches it there for the next append, as redis-py's
    ``Script`` does."""
    try:
        return send("EVALSHA", _APPEND_SHA, *args)
    except redis.exceptions.NoScriptError:
        return send("EVAL", _APPEND, *args)


def put_back(connection: redis.Redis, envelope: Envelope) -> None:
    """Append an event the workers already took back to the inbox, without the door's fence (an
    event a worker could not store because the database was down; ``workers.jobs``)."""
    connection.xadd(INBOX, {"e": _META.encode(envelope.to_meta()), "raw": envelope.raw})


def ensure_group(connection: redis.Redis) -> None:
    """Create the consumer group (from the stream's start, so nothing appended before is skipped)."""
    try:
        connection.xgroup_create(INBOX, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def consumer_name() -> str:
    """One consumer per process: what a dead process left pending is claimed by name-free XAUTOCLAIM."""
    return f"{socket.gethostname()}-{os.getpid()}"


def take(
    connection: redis.Redis, consumer: str, count: int, reclaim_after_ms: int | None, block_ms: int = 0
) -> list[tuple[bytes, Any]]:
    """Up to ``count`` raw entries: first those a dead or failed drain left idle longer than
    ``reclaim_after_ms`` (``None``: skip that look), then new ones, waiting up to ``block_ms``
    for one when there are none (0: not at all). Whoever rings the doorbell is the caller's business
    (``hold_doorbell``/``release_doorbell``)."""
    try:
        return _take(connection, consumer, count, reclaim_after_ms, block_ms)
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group(connection)
        return _take(connection, consumer, count, reclaim_after_ms, block_ms)


def _take(
    connection: redis.Redis, consumer: str, count: int, reclaim_after_ms: int | None, block_ms: int
) -> list[tuple[bytes, Any]]:
    entries: list[tuple[bytes, Any]] = []
    if reclaim_after_ms is not None:
        claimed = connection.xautoclaim(
            INBOX, GROUP, consumer, min_idle_time=reclaim_after_ms, start_id="0-0", count=count
        )
        entries = [(entry_id, fields) for entry_id, fields in (claimed[1] if claimed else ()) if fields]
    if len(entries) < count:
        # Any: redis-py types each reply for RESP2 and RESP3 alike; this client speaks RESP2, in bytes.
        read: Any = connection.xreadgroup(
            GROUP,
            consumer,
            {INBOX: ">"},
            count=count - len(entries),
            block=block_ms if not entries and block_ms else None,
        )
        for _stream, items in read or ():
            entries.extend(items)
    return entries


#: How long a running drain's hold on the doorbell outlives its last renewal: should the drain
#: die, appends ring for a new one after this (the worker's maintenance drains regardless).
HOLD_SECONDS = 5


#: The doorbell's value while a running drain holds it, followed by ``:`` and the drain's own name
#: (an append's ring sets ``1``).
DRAINING = b"drain"


def _held_by(holder: str) -> bytes:
    return DRAINING + b":" + holder.encode()


def hold_doorbell(connection: redis.Redis, holder: str) -> None:
    """A running drain keeps the doorbell rung, under its own name: appends then queue no further
    drain job, since this drain will read them (the append script rings only when the doorbell is
    silent), and a second drain can tell that another one is alive (``held_by_another``)."""
    connection.set(DOORBELL, _held_by(holder), ex=HOLD_SECONDS)


def _hold(connection: redis.Redis) -> bytes | None:
    """The doorbell's value if a drain holds it (not an append's ring, not silent)."""
    value: Any = connection.get(DOORBELL)  # bytes: this client speaks RESP2, undecoded
    return value if value and value.startswith(DRAINING) else None


def draining(connection: redis.Redis) -> bool:
    """Whether a live drain holds the doorbell: it renews the hold every batch, so a dead one's
    lapses within ``HOLD_SECONDS``."""
    return _hold(connection) is not None


def held_by_another(connection: redis.Redis, holder: str) -> bool:
    """Whether another live drain renewed the doorbell since ``holder`` last did. Of two drains
    that ask at once, at most one hears yes: both read the name of whichever renewed last."""
    hold = _hold(connection)
    return hold is not None and hold != _held_by(holder)


def release_doorbell(connection: redis.Redis) -> None:
    """Silence the doorbell before a drain's last look: an event appended before this is seen by
    that look, one appended after rings for a new drain. No entry can arrive unseen."""
    connection.delete(DOORBELL)


def decode(fields: dict[bytes, bytes]) -> Envelope:
    return Envelope.from_meta(json.loads(fields[b"e"]), fields[b"raw"])


def ack(connection: redis.Redis, entry_ids: list[bytes]) -> None:
    """Acknowledge and delete: the stream only ever holds what is not yet stored."""
    if not entry_ids:
        return
    pipe = connection.pipeline(transaction=True)
    pipe.xack(INBOX, GROUP, *entry_ids)
    pipe.xdel(INBOX, *entry_ids)
    pipe.execute()


def set_aside(connection: redis.Redis, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
    """Keep an entry that cannot be decoded where an operator finds it, then ack it."""
    pipe = connection.pipeline(transaction=True)
    pipe.rpush(UNDECODABLE, json.dumps({k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}))
    pipe.xack(INBOX, GROUP, entry_id)
    pipe.xdel(INBOX, entry_id)
    pipe.execute()


def depth(connection: redis.Redis) -> int:
    """Events in the inbox not yet stored (waiting or being drained)."""
    return int(connection.xlen(INBOX))


def oldest_age(connection: redis.Redis, now: float) -> float:
    """Seconds since the oldest entry still in the inbox was appended (0 if empty)."""
    first: Any = connection.xrange(INBOX, count=1)  # [(b"<millis>-<seq>", fields)] (RESP2, bytes)
    if not first:
        return 0.0
    millis = int(first[0][0].split(b"-")[0])
    return max(0.0, now - millis / 1000)


def forget_idle_consumers(connection: redis.Redis, idle_ms: int = 3_600_000) -> int:
    """Drop consumers with nothing pending that have been idle an hour (dead worker processes)."""
    dropped = 0
    try:
        consumers = connection.xinfo_consumers(INBOX, GROUP)
    except redis.ResponseError:
        return 0
    for info in consumers:
        if int(info.get("pending", 0)) == 0 and int(info.get("idle", 0)) > idle_ms:
            connection.xgroup_delconsumer(INBOX, GROUP, info["name"])
            dropped += 1
    return dropped
