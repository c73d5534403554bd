"""The transactional inbox: store each event once, run its handlers in the same transaction.

Exactly-once effects come from the database, not from RQ: the row is keyed by
``(provider, idempotency_key)`` and taken with ``SELECT ... FOR UPDATE`` (PostgreSQL) or under
SQLite's ``BEGIN IMMEDIATE`` write lock, so when two workers get the same event at the same
instant the second waits, then sees ``processed`` and runs nothing. Handlers write through the
same session, so their effects commit with the ``processed`` mark or not at all.

``store`` and ``dispatch`` work inside a session the caller owns, so a caller can process a
batch (one insert transaction, then one dispatch transaction with a savepoint per event)
without changing this module; ``process`` is the one-event composition the RQ job uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from db.models import FAILED, IGNORED, PING, PROCESSED, QUARANTINED, RECEIVED, EventRecord
from handlers.registry import Handler, handler_name, handlers_for
from logconfig import mask_text
from schemas.envelope import Envelope
from workers.event import Event

log = structlog.get_logger(__name__)

#: Outcomes of one delivery, as returned by ``process`` (and the RQ job's result).
DUPLICATE = "duplicate"
#: Statuses from which an event may still be dispatched (first try, retry, replay of a failure).
DISPATCHABLE = (RECEIVED, FAILED)
_MAX_ERROR = 2000

HandlerLookup = Callable[[str, str, str | None], list[Handler]]


class HandlerFailed(Exception):
    """A handler raised; the transaction was rolled back. The cause is chained."""

    def __init__(self, handler: str, event_id: int, cause: BaseException) -> None:
        super().__init__(f"handler {handler} failed on event {event_id}: {type(cause).__name__}: {cause}")
        self.handler = handler
        self.event_id = event_id


@dataclass(frozen=True)
class Outcome:
    event_id: int
    status: str  # processed, ignored, ping, quarantined, duplicate, or received/failed with error
    handlers: tuple[str, ...] = ()
    #: The handler failure that rolled this event's effects back (already recorded on the row).
    error: HandlerFailed | None = None


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes; we only ever store UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def process(
    sessions: sessionmaker[Session],
    envelope: Envelope,
    payload: dict[str, Any] | None,
    *,
    final_attempt: bool,
    lookup: HandlerLookup = handlers_for,
) -> Outcome:
    """Store, then dispatch in a second transaction; a handler failure is recorded, then re-raised.

    The row is committed before any handler runs so that ``event.id`` is durable: a handler that
    called an outside system with it gets the same id on every retry, even after a crash.
    """
    with sessions.begin() as session:
        store(session, envelope, payload)
    with sessions.begin() as session:
        outcome = dispatch(session, envelope, payload, final_attempt=final_attempt, lookup=lookup)
    if outcome.error is not None:
        raise outcome.error
    return outcome


def store(session: Session, envelope: Envelope, payload: dict[str, Any] | None) -> None:
    """Insert the event unless its (provider, idempotency key) exists; a duplicate changes nothing."""
    _insert_if_absent(session, envelope, payload, status=envelope.status)


def dispatch(
    session: Session,
    envelope: Envelope,
    payload: dict[str, Any] | None,
    *,
    final_attempt: bool,
    lookup: HandlerLookup = handlers_for,
) -> Outcome:
    """Lock the stored row and run its handlers in a savepoint, unless it was already dispatched.

    Works inside the caller's transaction, so a batch can dispatch many events in one commit.
    """
    row = lock(session, envelope.provider, envelope.idempotency_key)
    if envelope.status != RECEIVED:
        # ping and quarantined envelopes are only recorded: nothing to dispatch (yet).
        return Outcome(row.id, row.status if row.status in (PING, QUARANTINED) else DUPLICATE)
    if row.status not in DISPATCHABLE or payload is None:
        return Outcome(row.id, DUPLICATE)
    try:
        with session.begin_nested():
            return run_handlers(session, row, payload, lookup=lookup)
    except HandlerFailed as exc:
        row.attempts += 1
        row.last_error = error_text(exc)
        row.status = FAILED if final_attempt else RECEIVED
        log.error(
            "event.attempt_failed",
            provider=row.provider,
            event_code=row.event_code,
            idempotency_key=row.idempotency_key,
            event_id=row.id,
            handler=exc.handler,
            attempts=row.attempts,
            final_attempt=final_attempt,
            error=error_text(exc.__cause__ or exc),
            exc_info=exc,
        )
        return Outcome(row.id, row.status, error=exc)


def lock(session: Session, provider: str, idempotency_key: str) -> EventRecord:
    """The event's row, locked until the transaction ends (FOR UPDATE; a no-op on SQLite)."""
    query = (
        select(EventRecord)
        .where(EventRecord.provider == provider, EventRecord.idempotency_key == idempotency_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one()


def run_handlers(
    session: Session, row: EventRecord, payload: dict[str, Any], *, lookup: HandlerLookup = handlers_for
) -> Outcome:
    """Run every matching handler in ``session`` and mark the row; a raise leaves nothing behind."""
    event = to_event(row, payload)
    found = lookup(row.provider, row.event_code, row.original_code)
    names = tuple(handler_name(fn) for fn in found)
    for fn, name in zip(found, names, strict=True):
        try:
            fn(event, session)
        except Exception as exc:
            raise HandlerFailed(name, row.id, exc) from exc
    row.status = PROCESSED if found else IGNORED
    row.handlers = list(names)
    row.attempts += 1
    row.last_error = None
    row.processed_at = datetime.now(UTC)
    session.flush()
    return Outcome(row.id, row.status, names)


def to_event(row: EventRecord, payload: dict[str, Any]) -> Event:
    return Event(
        id=row.id,
        provider=row.provider,
        event_code=row.event_code,
        original_code=row.original_code,
        idempotency_key=row.idempotency_key,
        occurred_at=utc(row.occurred_at),
        received_at=utc(row.received_at) or datetime.now(UTC),
        payload=payload,
        raw=row.raw,
    )


def error_text(exc: BaseException) -> str:
    """What goes in ``last_error``: type and message, CPF/CNPJ masked, bounded."""
    return mask_text(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]


def _insert_if_absent(session: Session, envelope: Envelope, payload: dict[str, Any] | None, *, status: str) -> None:
    now = datetime.now(UTC)
    values = {
        "provider": envelope.provider,
        "event_code": envelope.event_code,
        "original_code": envelope.original_code,
        "idempotency_key": envelope.idempotency_key,
        "status": status,
        "occurred_at": utc(envelope.occurred_at),
        "received_at": utc(envelope.received_at),
        "stored_at": now,
        "raw": envelope.raw,
        "content_type": envelope.content_type or "",
        "entity": envelope.entity,
        "delivery": envelope.delivery or None,
        "request_id": envelope.request_id,
        "payload": payload,
        "validation_errors": envelope.errors,
        "attempts": 0,
    }
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(EventRecord).values(values)
    session.execute(statement.on_conflict_do_nothing(index_elements=["provider", "idempotency_key"]))
