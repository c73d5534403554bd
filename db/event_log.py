"""The statements the inbox runs on the event log, each once per batch: insert what is new, lock
what dispatch needs, mark what ran. Core executemany, not the ORM, which would flush one
statement per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db import utc
from db.lookup import KeyedLookup
from db.models import EventRecord
from schemas.envelope import Envelope

_EVENTS = EventRecord.__table__
_LOCKED_COLUMNS = ("id", "provider", "idempotency_key", "event_code", "original_code", "status", "attempts",
                   "occurred_at", "received_at")  # fmt: skip
_LOCK_EVENTS = KeyedLookup(
    _EVENTS,
    keys=[_EVENTS.c.provider, _EVENTS.c.idempotency_key],
    columns=[getattr(_EVENTS.c, name) for name in _LOCKED_COLUMNS],
    lock=True,
)
_MARK_DONE = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("status"),
        handlers=bindparam("handlers", type_=_EVENTS.c.handlers.type),
        attempts=bindparam("attempts"),
        last_error=bindparam("last_error"),
        processed_at=bindparam("processed_at", type_=_EVENTS.c.processed_at.type),
    )
)


def insert_new(session: Session, envelopes: list[Envelope]) -> None:
    """Insert the events whose (provider, idempotency key) is new; a duplicate changes nothing.
    One executemany: the statement is compiled once and cached."""
    now = datetime.now(UTC)
    rows = [_values(envelope, now) for envelope in envelopes]
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(EventRecord).on_conflict_do_nothing(index_elements=["provider", "idempotency_key"])
    session.connection().execute(statement, rows)


def _values(envelope: Envelope, now: datetime) -> dict[str, Any]:
    # No ``payload``: the raw body is the record, and the payload is derived from it by the same
    # provider code whenever it is needed (``events show``), so each row holds one copy.
    return {
        "provider": envelope.provider,
        "event_code": envelope.event_code,
        "original_code": envelope.original_code,
        "idempotency_key": envelope.idempotency_key,
        "status": envelope.status,
        "occurred_at": utc(envelope.occurred_at),
        "received_at": utc(envelope.received_at),
        "stored_at": now,
        "raw": envelope.raw,
        "content_type": envelope.content_type or "",
        "entity": envelope.entity,
        "delivery": envelope.delivery or None,
        "request_id": envelope.request_id,
        "payload": None,
        "validation_errors": envelope.errors,
        "attempts": 0,
        "source": envelope.source,
        "trust": envelope.trust,
    }


def lock_many(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """What dispatch needs of the rows of ``keys`` (not their bodies, which the batch already
    holds), locked in key order until the transaction ends (FOR UPDATE), one index lookup each."""
    rows = _LOCK_EVENTS.execute(session.connection(), session.get_bind().dialect.name, sorted(keys))
    return {(row.provider, row.idempotency_key): row for row in rows}


def mark_done(session: Session, done: Iterable[tuple[Any, str, tuple[str, ...]]]) -> None:
    """Mark each locked ``(row, status, handler names)`` dispatched: status, handlers, one more
    attempt, no error, ``processed_at`` now."""
    now = datetime.now(UTC)
    marks = [{"b_id": row.id, "status": status, "handlers": list(names), "attempts": row.attempts + 1,
              "last_error": None, "processed_at": now} for row, status, names in done]  # fmt: skip
    if marks:
        session.connection().execute(_MARK_DONE, marks)
