"""What one sync run reports, and the door's path every fetched event takes (``ingest``).

An event fetched from a provider's API goes through ``providers.receive`` (the provider's own
parse, describe and validation: the same idempotency key as at the door) and onto the inbox
stream with ``workers.queue.enqueue_event``; the worker stores it once. It is marked
``source=resync`` and ``trust=api-tls-credentials``: no signature exists on an API answer; we
trust it because we fetched it over TLS from the provider's host with our own credentials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import Engine, select

import providers
from config import Settings
from db.bounds import bounded_key
from db.models import EventRecord
from schemas.envelope import QUARANTINED, RESYNC, TRUST_API
from workers.queue import enqueue_event, events_queue


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass
class Report:
    """What one run found and did for one provider (``resync --format json`` prints ``to_dict``)."""

    provider: str
    since: datetime
    until: datetime
    dry_run: bool = False
    found: int = 0
    ingested: int = 0
    duplicate: int = 0
    requested_resend: int = 0
    would_ingest: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: False when the run stopped early (rate limit) and the cursor holds where to resume.
    complete: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("found", "ingested", "duplicate", "requested_resend")}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            **self.counts(),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "complete": self.complete,
            "dry_run": self.dry_run,
            "window": {"since": iso(self.since), "until": iso(self.until)},
        }
        if self.dry_run:
            out["would_ingest"] = self.would_ingest
        return out


@dataclass
class Context:
    """What a run needs; ``http_options`` reach the API clients (tests inject ``sleep``)."""

    settings: Settings
    engine: Engine
    connection: redis.Redis
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    http_options: dict[str, Any] = field(default_factory=dict)


def ingest(
    ctx: Context, report: Report, provider_name: str, raw: bytes, *, headers: dict[str, str], content_type: str
) -> None:
    """Count one fetched event and, unless stored already (or a dry run), queue it as the door does."""
    provider = providers.PROVIDERS[provider_name]
    envelope = providers.receive(
        provider, headers, raw, content_type=content_type, entity=None, received_at=ctx.now(), request_id=None
    )
    envelope = dataclasses.replace(envelope, source=RESYNC, trust=TRUST_API)
    report.found += 1
    if stored(ctx.engine, provider_name, envelope.idempotency_key):
        report.duplicate += 1
        return
    if report.dry_run:
        report.would_ingest += 1
        return
    if enqueue_event(ctx.connection, events_queue(ctx.connection), envelope, ctx.settings) == "duplicate":
        report.duplicate += 1
        return
    report.ingested += 1
    if envelope.status == QUARANTINED:
        report.notes.append(f"{envelope.idempotency_key}: does not validate; quarantined for an operator")


def stored(engine: Engine, provider: str, key: str) -> bool:
    """Is the event in the event log already (the inbox's unique key, as the worker bounds it)?"""
    query = select(EventRecord.id).where(
        EventRecord.provider == provider, EventRecord.idempotency_key == bounded_key(key)
    )
    with engine.connect() as connection:
        return connection.execute(query).first() is not None
