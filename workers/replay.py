"""Replay: re-validate a stored event from its exact raw bytes and dispatch it again.

Used by ``flask events replay``. It runs in the operator's process (not through RQ) so the
answer is immediate, under the same row lock as the worker, so a replay racing a worker's
retry still gives one effect. Processed events are refused unless ``force``; even then the
handlers receive the same ``event.id`` and are expected to be idempotent on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.bounds import bounded_code, bounded_key
from db.models import EventRecord
from handlers.registry import handlers_for
from providers import PROVIDERS, describe
from providers.errors import Invalid
from providers.types import Described
from schemas.envelope import Envelope
from schemas.status import FAILED, IGNORED, QUARANTINED, RECEIVED
from workers import inbox
from workers.event import Event
from workers.inbox import HandlerLookup, error_text

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReplayResult:
    log_id: int
    #: processed, ignored, failed, quarantined (still invalid), refused, duplicate, not_found
    result: str
    detail: str = ""
    handlers: tuple[str, ...] = ()
    #: RQ job id of the event's original job: removed from the failed registry when replay succeeds.
    job_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.log_id,
            "result": self.result,
            "detail": self.detail,
            "handlers": list(self.handlers),
        }


def replay(
    sessions: sessionmaker[Session], log_id: int, *, force: bool = False, lookup: HandlerLookup = handlers_for
) -> ReplayResult:
    """Replay the event log row ``log_id`` in its own transaction; never raises for a handler's failure."""
    with sessions.begin() as session:
        row = inbox.lock(session, log_id)
        if row is None:
            return ReplayResult(log_id, "not_found", "no such event")
        job_id = Envelope.job_id_for(row.provider, row.idempotency_key)
        if row.status not in (RECEIVED, FAILED, QUARANTINED) and not force:
            return ReplayResult(log_id, "refused", f"status is {row.status}; use --force to run its handlers again")
        try:
            described = revalidate(row)
        except (Invalid, ValidationError) as exc:
            row.validation_errors = exc.errors if isinstance(exc, Invalid) else exc.messages
            return ReplayResult(log_id, "quarantined" if row.status == QUARANTINED else "invalid", error_text(exc))
        if row.status == QUARANTINED:
            duplicate_of = _fill_from_quarantine(session, row, described)
            if duplicate_of is not None:
                detail = f"same event as {duplicate_of}, which is kept"
                return ReplayResult(log_id, "duplicate", detail, job_id=job_id)
        event = Event.from_row(row, described.payload)
        claim = inbox.Claim(0, row, event, lookup(row.provider, row.event_code, row.original_code), {})
        try:
            with session.begin_nested():  # flushes the row first: the mark below is a Core UPDATE
                [outcome] = inbox.dispatch(session, [claim])
        except inbox.BatchItemFailed as exc:
            row.status, row.attempts, row.last_error = FAILED, row.attempts + 1, error_text(exc.failure)
            log.error("event.replay_failed", log_id=log_id, handler=exc.failure.handler, exc_info=exc.failure)
            return ReplayResult(log_id, FAILED, row.last_error)
        log.info("event.replayed", log_id=log_id, outcome=outcome.status, forced=force)
        return ReplayResult(log_id, outcome.status, handlers=outcome.handlers, job_id=job_id)


def revalidate(row: EventRecord) -> Described:
    """Parse and validate the stored raw body again, with its delivery headers (``events show``, replay),
    so the re-validated idempotency key is the one the door computed."""
    provider = PROVIDERS[row.provider]
    headers = provider.headers_from_delivery(row.delivery or {})
    return describe(provider, headers, row.raw, row.content_type, row.entity)


def _fill_from_quarantine(session: Session, row: EventRecord, described: Described) -> int | None:
    """Give a quarantined row what validation now tells us; returns the id of a row that
    already holds the same event (the provider redelivered after the fix), if any."""
    key = bounded_key(described.idempotency_key)
    if key != row.idempotency_key:
        existing = session.scalar(
            select(EventRecord.id).where(EventRecord.provider == row.provider, EventRecord.idempotency_key == key)
        )
        if existing is not None:
            row.status, row.last_error = IGNORED, f"duplicate of event {existing}"
            return existing
        row.idempotency_key = key
    row.event_code = bounded_code(described.event_code)
    row.original_code = bounded_code(described.original_code)
    row.occurred_at = described.occurred_at
    row.validation_errors = None
    row.status = RECEIVED
    return None
