"""The transactional inbox: store each event once, run its handlers in the same transaction.

Exactly-once effects come from the database, not from RQ: the row is keyed by
``(provider, idempotency_key)`` and taken with ``SELECT ... FOR UPDATE`` (PostgreSQL) or under
SQLite's ``BEGIN IMMEDIATE`` write lock, so when two workers get the same event at the same
instant the second waits, then sees ``processed`` and runs nothing. Handlers write through the
same session, so their effects commit with the ``processed`` mark or not at all.

There is one path: ``process_batch`` stores a batch with one insert, then locks its rows,
decides which to dispatch and runs ``dispatch`` in a second transaction. ``process`` (the
one-event RQ job: a failed batch's events) is a batch of one, as rq's ``enqueue_many`` reuses
``create_job``; replay locks its row with ``lock`` and runs the same ``dispatch``.
The row is committed before any handler runs; failures are recorded after the rollback in a
short transaction of their own, so the success path pays no savepoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from structlog.contextvars import bind_contextvars, unbind_contextvars

from config import Settings
from db import event_log, session_info
from db.models import EventRecord
from handlers.registry import Handler, handler_name, handlers_for
from ops.logconfig import mask_text
from schemas.envelope import Envelope
from schemas.status import FAILED, IGNORED, PING, PROCESSED, QUARANTINED, RECEIVED
from workers.event import Event

log = structlog.get_logger(__name__)

#: Outcomes of one delivery, as returned by ``process`` (and the RQ job's result).
DUPLICATE = "duplicate"
#: Statuses from which an event may still be dispatched (first try, retry, replay of a failure).
DISPATCHABLE = (RECEIVED, FAILED)
_MAX_ERROR = 2000

HandlerLookup = Callable[[str, str, str | None], list[Handler]]


class HandlerFailed(Exception):
    """A handler raised on the event log row ``log_id``; the transaction was rolled back.
    The handler's exception is chained as ``__cause__``."""

    def __init__(self, handler: str, log_id: int, cause: BaseException) -> None:
        super().__init__(f"handler {handler} failed on event {log_id}: {type(cause).__name__}: {cause}")
        self.handler = handler
        self.log_id = log_id
        self.__cause__ = cause


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
    #: The event log row's id (``events.id``), what handlers receive as ``event.id``.
    log_id: int
    status: str  # processed, ignored, ping, quarantined or duplicate
    handlers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """An event this transaction dispatches: its row is locked and still dispatchable."""

    index: int  # position in the batch, reported by ``BatchItemFailed``
    row: Any  # the locked row: an ``EventRecord`` or a ``lock_many`` result row
    event: Event
    handlers: list[Handler]
    log_context: dict[str, Any]


def process(
    engine: Engine,
    envelope: Envelope,
    payload: dict[str, Any] | None,
    *,
    final_attempt: bool,
    settings: Settings | None = None,
    lookup: HandlerLookup = handlers_for,
) -> Outcome:
    """One event: a batch of one. A handler failure is recorded, then re-raised as ``HandlerFailed``.

    The row is committed before any handler runs so that ``event.id`` is durable: a handler that
    called an outside system with it gets the same id on every retry, even after a crash. Handlers
    run in their one-event form: a batch form's failure names no event, and this one must be
    charged its attempt.
    """
    try:
        [outcome] = process_batch(engine, [(envelope, payload)], settings=settings, lookup=lookup, use_many=False)
    except BatchItemFailed as exc:
        with Session(engine) as session:  # connects lazily, inside fail_attempt's best-effort guard
            fail_attempt(session, envelope, exc.failure, final_attempt=final_attempt)
        raise exc.failure from exc.failure.__cause__
    return outcome


def process_batch(
    engine: Engine,
    items: list[tuple[Envelope, dict[str, Any] | None]],
    *,
    settings: Settings | None = None,
    lookup: HandlerLookup = handlers_for,
    use_many: bool = True,
) -> list[Outcome]:
    """Store the events with one insert, then dispatch them in one transaction.

    All or nothing, and optimistic: any exception (a handler's, a deadlock, the database going
    away) rolls the dispatch back and propagates; the caller isolates a failing event
    (``BatchItemFailed`` names it) or gives each event its own job. Rows are locked in key order,
    so two drains never wait on each other in a cycle. One pooled connection serves the batch;
    the session carries ``settings`` for the handlers (``db.session_info``).
    """
    if not items:
        return []
    info = session_info(settings)
    with engine.connect() as connection, Session(connection, expire_on_commit=False, info=info) as session:
        with session.begin():
            event_log.insert_new(session, [envelope for envelope, _payload in items])
        with session.begin():
            rows = event_log.lock_many(session, {(e.provider, e.idempotency_key) for e, _ in items})
            outcomes: list[Outcome | None] = [None] * len(items)
            claims: list[Claim] = []
            claimed: set[int] = set()
            for index, (envelope, payload) in enumerate(items):
                row = rows[(envelope.provider, envelope.idempotency_key)]
                if envelope.status != RECEIVED:
                    # ping and quarantined envelopes are only recorded: nothing to dispatch (yet).
                    outcomes[index] = Outcome(row.id, row.status if row.status in (PING, QUARANTINED) else DUPLICATE)
                elif row.status not in DISPATCHABLE or payload is None or row.id in claimed:
                    outcomes[index] = Outcome(row.id, DUPLICATE)  # done before, or twice in this batch
                else:
                    claimed.add(row.id)
                    event = Event.from_row(row, payload, raw=envelope.raw)
                    found = lookup(row.provider, row.event_code, row.original_code)
                    claims.append(Claim(index, row, event, found, log_context(envelope)))
            for claim, outcome in zip(claims, dispatch(session, claims, use_many=use_many), strict=True):
                outcomes[claim.index] = outcome
            return [outcome for outcome in outcomes if outcome is not None]


def dispatch(session: Session, claims: list[Claim], *, use_many: bool = True) -> list[Outcome]:
    """Run the claimed events' handlers in ``session``, then mark their rows; one outcome per claim.

    A handler with a batch form (``fn.many(events, session)``, e.g. the ledger) is called once
    with all of the claims' events it matches, in order; others once per event. Each handler
    runs over every event before the next handler starts: they share one transaction, so only
    the order *within* a handler is visible, and it is the events' order. A raise leaves the
    transaction for the caller to roll back: ``BatchItemFailed`` names the event, while a batch
    form's failure names none (``BatchFormFailed``): the caller runs again with
    ``use_many=False`` to find it.
    """
    by_handler: dict[Handler, list[Claim]] = {}
    for claim in claims:
        for fn in claim.handlers:
            by_handler.setdefault(fn, []).append(claim)
    for fn, members in by_handler.items():
        name = handler_name(fn)
        many = getattr(fn, "many", None) if use_many else None
        if many is not None:
            try:
                many([claim.event for claim in members], session)
            except Exception as exc:
                raise BatchFormFailed(name, exc) from exc
            continue
        for claim in members:
            bind_contextvars(**claim.log_context, log_id=claim.event.id)
            try:
                fn(claim.event, session)
            except Exception as exc:
                raise BatchItemFailed(claim.index, HandlerFailed(name, claim.event.id, exc)) from exc
            finally:
                unbind_contextvars(*claim.log_context, "log_id")
    outcomes = []
    for claim in claims:
        status = PROCESSED if claim.handlers else IGNORED
        outcomes.append(Outcome(claim.row.id, status, tuple(handler_name(fn) for fn in claim.handlers)))
    event_log.mark_done(session, [(claim.row, o.status, o.handlers) for claim, o in zip(claims, outcomes, strict=True)])
    return outcomes


def log_context(envelope: Envelope) -> dict[str, Any]:
    """What every worker line about an event carries: the same ids the web logged when it acknowledged it."""
    return {
        "event_id": envelope.job_id,
        "request_id": envelope.request_id,
        "provider": envelope.provider,
        "event_code": envelope.event_code,
        "idempotency_key": envelope.idempotency_key,
    }


def lock(session: Session, log_id: int) -> EventRecord | None:
    """The whole row ``log_id``, locked until the transaction ends (FOR UPDATE; a no-op on SQLite)."""
    return session.get(EventRecord, log_id, with_for_update=True, populate_existing=True)


def fail_attempt(session: Session, envelope: Envelope, exc: HandlerFailed, *, final_attempt: bool) -> None:
    """Log a failed attempt and record it in a short transaction of its own, after the rollback:
    the attempt is counted, the error kept, and the event is ``failed`` after the last try.

    Best effort: the database may be what failed, and the retry (RQ's) happens regardless.
    """
    log.error(
        "event.attempt_failed",
        provider=envelope.provider,
        event_code=envelope.event_code,
        idempotency_key=envelope.idempotency_key,
        log_id=exc.log_id,
        handler=exc.handler,
        final_attempt=final_attempt,
        error=error_text(exc.__cause__ or exc),
        exc_info=exc,
    )
    counted = (
        update(EventRecord)
        .where(
            EventRecord.provider == envelope.provider,
            EventRecord.idempotency_key == envelope.idempotency_key,
            EventRecord.status.in_(DISPATCHABLE),
        )
        .values(
            attempts=EventRecord.attempts + 1, last_error=error_text(exc), status=FAILED if final_attempt else RECEIVED
        )
    )
    try:
        with session.begin():
            session.execute(counted)
    except Exception as db_exc:
        log.warning("event.failure_not_recorded", error=error_text(db_exc))


def error_text(exc: BaseException) -> str:
    """What goes in ``last_error``: type and message, CPF/CNPJ masked, bounded."""
    return mask_text(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]
