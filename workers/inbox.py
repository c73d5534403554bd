"""The transactional inbox: store each event once, run its handlers in the same transaction.

Exactly-once effects come from the database, not from RQ: the row is keyed by
``(provider, idempotency_key)`` and taken with ``SELECT ... FOR UPDATE`` (PostgreSQL) or under
SQLite's ``BEGIN IMMEDIATE`` write lock, so when two workers get the same event at the same
instant the second waits, then sees ``processed`` and runs nothing. Handlers write through the
same session, so their effects commit with the ``processed`` mark or not at all.

``process_batch`` is what a drain runs: one insert statement for the batch, then one dispatch
transaction; ``process`` is the one-event composition of ``store`` and ``dispatch`` that the
one-event RQ job (a failed batch's events, a replay) uses.
The row is committed by ``store`` before any handler runs; failures are recorded after the
rollback in a short transaction of their own, so the success path pays no savepoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from structlog.contextvars import bind_contextvars, unbind_contextvars

from db import utc
from db.lookup import KeyedLookup
from db.models import FAILED, IGNORED, PING, PROCESSED, QUARANTINED, RECEIVED, EventRecord
from handlers.registry import Handler, handler_name, handlers_for
from ops.logconfig import mask_text
from schemas.envelope import Envelope
from workers.event import Event

log = structlog.get_logger(__name__)

#: Outcomes of one delivery, as returned by ``process`` (and the RQ job's result).
DUPLICATE = "duplicate"
#: Statuses from which an event may still be dispatched (first try, retry, replay of a failure).
DISPATCHABLE = (RECEIVED, FAILED)
_MAX_ERROR = 2000
#: Column sizes of ``events.idempotency_key`` and the two code columns.
MAX_KEY = MAX_CODE = 255

HandlerLookup = Callable[[str, str, str | None], list[Handler]]


class HandlerFailed(Exception):
    """A handler raised; the transaction was rolled back. The cause is chained."""

    def __init__(self, handler: str, event_id: int, cause: BaseException) -> None:
        super().__init__(f"handler {handler} failed on event {event_id}: {type(cause).__name__}: {cause}")
        self.handler = handler
        self.event_id = event_id


class BatchItemFailed(Exception):
    """A handler failed on ``items[index]`` of a batch; the whole batch was rolled back."""

    def __init__(self, index: int, failure: HandlerFailed) -> None:
        super().__init__(str(failure))
        self.index = index
        self.failure = failure


class BatchFormFailed(Exception):
    """A handler's batch form raised: which event it choked on is unknown."""

    def __init__(self, handler: str, cause: BaseException) -> None:
        super().__init__(f"batch form of {handler} failed: {type(cause).__name__}: {cause}")


@dataclass(frozen=True)
class Outcome:
    event_id: int
    status: str  # processed, ignored, ping, quarantined or duplicate
    handlers: tuple[str, ...] = ()


def bounded(envelope: Envelope) -> Envelope:
    """The envelope with provider-made strings that fit their columns (deterministically, so a
    redelivery maps to the same row): an overlong key becomes its SHA-256, a code is cut."""
    changes: dict[str, str] = {}
    if len(envelope.idempotency_key) > MAX_KEY:
        changes["idempotency_key"] = bounded_key(envelope.idempotency_key)
    for name in ("event_code", "original_code"):
        if len(getattr(envelope, name)) > MAX_CODE:
            changes[name] = bounded_code(getattr(envelope, name))
    return dataclasses.replace(envelope, **changes) if changes else envelope


def bounded_key(key: str) -> str:
    return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def bounded_code(code: str) -> str:
    return code if len(code) <= MAX_CODE else code[:200] + "#" + hashlib.sha256(code.encode()).hexdigest()[:16]


def process(
    engine: Engine,
    envelope: Envelope,
    payload: dict[str, Any] | None,
    *,
    final_attempt: bool,
    lookup: HandlerLookup = handlers_for,
) -> Outcome:
    """Store, then dispatch in a second transaction; a handler failure is recorded, then re-raised.

    The row is committed before any handler runs so that ``event.id`` is durable: a handler that
    called an outside system with it gets the same id on every retry, even after a crash.
    One pooled connection serves the whole event (one checkout, one pre-ping).
    """
    with engine.connect() as connection, Session(connection, expire_on_commit=False) as session:
        with session.begin():
            store(session, envelope, payload)
        try:
            with session.begin():
                return dispatch(session, envelope, payload, lookup=lookup)
        except HandlerFailed as exc:
            fail_attempt(session, envelope, exc, final_attempt=final_attempt)
            raise


def store(session: Session, envelope: Envelope, payload: dict[str, Any] | None) -> None:
    """Insert the event unless its (provider, idempotency key) exists; a duplicate changes nothing."""
    _insert_many(session, [(envelope, payload)])


def dispatch(
    session: Session, envelope: Envelope, payload: dict[str, Any] | None, *, lookup: HandlerLookup = handlers_for
) -> Outcome:
    """Lock the stored row and run its handlers, unless it was already dispatched.

    Works inside the caller's transaction (a batch can wrap each call in a savepoint). A handler
    exception propagates as ``HandlerFailed``: the caller rolls back, then ``record_failure``.
    """
    row = lock(session, envelope.provider, envelope.idempotency_key)
    return _dispatch_row(session, envelope, payload, row, lookup)


def _dispatch_row(
    session: Session, envelope: Envelope, payload: dict[str, Any] | None, row: EventRecord, lookup: HandlerLookup
) -> Outcome:
    if envelope.status != RECEIVED:
        # ping and quarantined envelopes are only recorded: nothing to dispatch (yet).
        return Outcome(row.id, row.status if row.status in (PING, QUARANTINED) else DUPLICATE)
    if row.status not in DISPATCHABLE or payload is None:
        return Outcome(row.id, DUPLICATE)
    return run_handlers(session, row, payload, lookup=lookup)


def process_batch(
    engine: Engine,
    items: list[tuple[Envelope, dict[str, Any] | None]],
    *,
    lookup: HandlerLookup = handlers_for,
    use_many: bool = True,
) -> list[Outcome]:
    """``process`` for many events: one insert, then one dispatch transaction.

    All or nothing, and optimistic: any exception (a handler's, a deadlock, the database going
    away) rolls the dispatch back and propagates; the caller isolates a failing event
    (``BatchItemFailed`` names it) or gives each event its own job. Rows are locked in key order,
    so two drains never wait on each other in a cycle.

    A handler with a batch form (``fn.many(events, session)``, e.g. the ledger) is called once
    with all of the batch's events it matches, in order; others once per event. Each handler
    runs over the whole batch before the next handler starts: they share one transaction, so
    only the order *within* a handler is visible, and it is the events' order. A failure inside
    a batch form names no event (``BatchFormFailed``): the caller runs the batch again with
    ``use_many=False`` to find it.
    """
    if not items:
        return []
    with engine.connect() as connection, Session(connection, expire_on_commit=False) as session:
        with session.begin():
            _insert_many(session, items)
        with session.begin():
            rows = lock_many(session, {(e.provider, e.idempotency_key) for e, _ in items})
            outcomes: list[Outcome | None] = [None] * len(items)
            todo: list[_Todo] = []
            claimed: set[int] = set()
            for index, (envelope, payload) in enumerate(items):
                row = rows[(envelope.provider, envelope.idempotency_key)]
                if envelope.status != RECEIVED:
                    outcomes[index] = Outcome(row.id, row.status if row.status in (PING, QUARANTINED) else DUPLICATE)
                elif row.status not in DISPATCHABLE or payload is None or row.id in claimed:
                    outcomes[index] = Outcome(row.id, DUPLICATE)  # done before, or twice in this batch
                else:
                    claimed.add(row.id)
                    found = lookup(row.provider, row.event_code, row.original_code)
                    event = to_event(row, payload, raw=envelope.raw)
                    todo.append((index, row, event, found, log_context(envelope)))
            _run_batch_handlers(session, todo, use_many)
            now = datetime.now(UTC)
            marks = []
            for index, row, _, found, _ in todo:
                names = [handler_name(fn) for fn in found]
                status = PROCESSED if found else IGNORED
                marks.append({"b_id": row.id, "status": status, "handlers": names, "attempts": row.attempts + 1,
                              "last_error": None, "processed_at": now})  # fmt: skip
                outcomes[index] = Outcome(row.id, status, tuple(names))
            if marks:
                session.connection().execute(_MARK_PROCESSED, marks)
            return [outcome for outcome in outcomes if outcome is not None]


_EVENTS = EventRecord.__table__
_LOCK_EVENTS = KeyedLookup(
    _EVENTS,
    keys=[_EVENTS.c.provider, _EVENTS.c.idempotency_key],
    columns=[
        getattr(_EVENTS.c, name)
        for name in (
            "id",
            "provider",
            "idempotency_key",
            "event_code",
            "original_code",
            "status",
            "attempts",
            "occurred_at",
            "received_at",
        )
    ],
    lock=True,
)
#: One executemany marks a batch's rows (the ORM would flush them one UPDATE per row).
_MARK_PROCESSED = (
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


def log_context(envelope: Envelope) -> dict[str, Any]:
    """What every worker line about an event carries: the same ids the web logged when it acknowledged it."""
    return {
        "event_id": envelope.job_id,
        "request_id": envelope.request_id,
        "provider": envelope.provider,
        "event_code": envelope.event_code,
        "idempotency_key": envelope.idempotency_key,
    }


_Todo = tuple[int, Any, Event, list[Handler], dict[str, Any]]  # index, locked row, event, handlers, log context


def _run_batch_handlers(session: Session, todo: list[_Todo], use_many: bool) -> None:
    by_handler: dict[Handler, list[tuple[int, Event, dict[str, Any]]]] = {}
    for index, _row, event, found, context in todo:
        for fn in found:
            by_handler.setdefault(fn, []).append((index, event, context))
    for fn, members in by_handler.items():
        name = handler_name(fn)
        many = getattr(fn, "many", None) if use_many else None
        if many is not None and len(members) > 1:
            try:
                many([event for _, event, _ in members], session)
            except Exception as exc:
                raise BatchFormFailed(name, exc) from exc
            continue
        for index, event, context in members:
            bind_contextvars(**context, log_id=event.id)
            try:
                fn(event, session)
            except Exception as exc:
                raise BatchItemFailed(index, HandlerFailed(name, event.id, exc)) from exc
            finally:
                unbind_contextvars(*context, "log_id")


def lock_many(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """What dispatch needs of the rows of ``keys`` (not their bodies, which the batch already
    holds), locked in key order until the transaction ends (FOR UPDATE), one index lookup each."""
    rows = _LOCK_EVENTS.execute(session.connection(), session.get_bind().dialect.name, sorted(keys))
    return {(row.provider, row.idempotency_key): row for row in rows}


def record_failure(session: Session, envelope: Envelope, exc: BaseException, *, final_attempt: bool) -> None:
    """Count the attempt and keep the error; the event is ``failed`` after the last try."""
    session.execute(
        update(EventRecord)
        .where(
            EventRecord.provider == envelope.provider,
            EventRecord.idempotency_key == envelope.idempotency_key,
            EventRecord.status.in_(DISPATCHABLE),
        )
        .values(
            attempts=EventRecord.attempts + 1,
            last_error=error_text(exc),
            status=FAILED if final_attempt else RECEIVED,
        )
    )


def fail_attempt(session: Session, envelope: Envelope, exc: HandlerFailed, *, final_attempt: bool) -> None:
    """Log a failed attempt and record it in a short transaction of its own, after the rollback.

    Best effort: the database may be what failed, and the retry (RQ's) happens regardless.
    """
    _log_failure(envelope, exc, final_attempt)
    try:
        with session.begin():
            record_failure(session, envelope, exc, final_attempt=final_attempt)
    except Exception as db_exc:
        log.warning("event.failure_not_recorded", error=error_text(db_exc))


def _log_failure(envelope: Envelope, exc: HandlerFailed, final_attempt: bool) -> None:
    log.error(
        "event.attempt_failed",
        provider=envelope.provider,
        event_code=envelope.event_code,
        idempotency_key=envelope.idempotency_key,
        log_id=exc.event_id,  # the event log row; event_id (bound) is the id the provider got
        handler=exc.handler,
        final_attempt=final_attempt,
        error=error_text(exc.__cause__ or exc),
        exc_info=exc,
    )


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


def to_event(row: Any, payload: dict[str, Any], *, raw: bytes | None = None) -> Event:
    """The handlers' view of a stored row; ``raw`` when the caller already holds the body (a
    batch locks rows without reading their bodies back)."""
    return Event(
        id=row.id,
        provider=row.provider,
        event_code=row.event_code,
        original_code=row.original_code,
        idempotency_key=row.idempotency_key,
        occurred_at=utc(row.occurred_at),
        received_at=utc(row.received_at) or datetime.now(UTC),
        payload=payload,
        raw=row.raw if raw is None else raw,
    )


def error_text(exc: BaseException) -> str:
    """What goes in ``last_error``: type and message, CPF/CNPJ masked, bounded."""
    return mask_text(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]


def _insert_many(session: Session, items: list[tuple[Envelope, dict[str, Any] | None]]) -> None:
    now = datetime.now(UTC)
    rows = [_values(envelope, envelope.status, now) for envelope, _payload in items]
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(EventRecord).on_conflict_do_nothing(index_elements=["provider", "idempotency_key"])
    # executemany: compiled once and cached; a 200-row VALUES clause was rebuilt for every batch.
    session.connection().execute(statement, rows)


def _values(envelope: Envelope, status: str, now: datetime) -> dict[str, Any]:
    # No ``payload``: the raw body is the record, and the payload is derived from it by the same
    # provider code whenever it is needed (``events show``). A second, parsed copy doubled every
    # row's size and cost ~12 % of the worker's throughput (encoding, JSONB parse, TOAST).
    return {
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
        "payload": None,
        "validation_errors": envelope.errors,
        "attempts": 0,
        "source": envelope.source,
        "trust": envelope.trust,
    }
