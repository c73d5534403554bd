"""Jobs the workers run. ``process_event`` receives exactly what ``enqueue_event`` queued.

The process keeps one engine (one connection pool) for all its jobs: ``configure(settings)`` at
worker start, or lazily from the environment on the first job. Nothing here swallows an
exception: a failure propagates to RQ, which retries it and finally parks it in the failed
registry (the dead letter), while the event log records ``attempts``, ``last_error``, ``failed``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import structlog
from marshmallow import ValidationError
from rq import get_current_job
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import db
import handlers
from config import Settings
from providers import load_payload
from providers.errors import Invalid
from schemas.envelope import QUARANTINED, Envelope
from workers import inbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


_runtime: Runtime | None = None


def configure(settings: Settings) -> Runtime:
    """Build this process's engine and load every handler module; replaces any previous one."""
    global _runtime
    if _runtime is not None:
        _runtime.engine.dispose()
    handlers.load_all()
    engine = db.engine_from(settings)
    _runtime = Runtime(settings, engine, db.session_factory(engine))
    return _runtime


def runtime() -> Runtime:
    return _runtime or configure(Settings.from_env(os.environ))


def _after_fork_in_child() -> None:
    # A forked work horse must not share the parent's pooled sockets: drop them, keep the engine.
    if _runtime is not None:
        _runtime.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def process_event(data: dict[str, Any]) -> str:
    """Store the event once and dispatch it to its handlers; returns the outcome's status."""
    envelope = Envelope.from_dict(data)
    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    structlog.contextvars.bind_contextvars(
        job_id=job.id if job else None,
        provider=envelope.provider,
        event_code=envelope.event_code,
        idempotency_key=envelope.idempotency_key,
    )
    try:
        envelope, payload = validated(envelope)
        outcome = inbox.process(runtime().sessions, envelope, payload, final_attempt=final_attempt)
        log.info("event.done", event_id=outcome.event_id, outcome=outcome.status, handlers=len(outcome.handlers))
        return outcome.status
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "provider", "event_code", "idempotency_key")


def validated(envelope: Envelope) -> tuple[Envelope, dict[str, Any] | None]:
    """Re-parse the exact queued bytes (Decimal amounts); a body that no longer validates is
    quarantined rather than retried forever (a deploy may have tightened a schema)."""
    if envelope.status == QUARANTINED:
        return envelope, None
    try:
        return envelope, load_payload(envelope)
    except (Invalid, ValidationError) as exc:
        errors = exc.errors if isinstance(exc, Invalid) else exc.messages
        log.warning("event.quarantined_by_worker", errors=errors)
        return dataclasses.replace(envelope, status=QUARANTINED, errors=errors), None

