"""Helpers for ledger tests: sample bodies tweaked like a provider would, folded without a database."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

import db
import providers
from db.models import RECEIVED, EventRecord
from handlers.ledger import keep_ledger, keep_ledger_many
from ledger.facts import Fact, Source, facts_from
from ledger.fold import ObjectState, fold
from ledger.models import LedgerObject
from tests.helpers import SAMPLES
from workers.event import Event


def body(provider: str, name: str, **changes: Any) -> dict[str, Any]:
    """A documented sample with dotted-path changes applied, e.g. ``**{"object.status": "opened"}``."""
    data = json.loads((SAMPLES / provider / name).read_text(), parse_float=Decimal)
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return data


def raw(data: dict[str, Any]) -> bytes:
    from ledger.traffic.bodies import dumps

    return dumps(data)


def facts(provider: str, data: dict[str, Any], key: str, entity: str | None = None) -> list[Fact]:
    """What the ledger learns from one delivery, parsed by the provider's real code."""
    module = providers.PROVIDERS[provider]
    headers = {"X-Kobana-Delivery-Id": key} if provider == "kobana" else {}
    described = providers.describe(module, headers, raw(data), "application/json", entity)
    source = Source(provider, described.event_code, described.payload, key, described.idempotency_key,
                    described.occurred_at, datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    return facts_from(source)


def fold_all(deliveries: list[tuple[str, dict[str, Any], str]]) -> dict[str, ObjectState]:
    grouped: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for provider, data, key in deliveries:
        for fact in facts(provider, data, key):
            grouped[(fact.object_id, fact.kind)].append(fact)
    return {object_id: fold(group) for (object_id, _), group in grouped.items()}


def store_event(session, provider: str, data: dict, key: str) -> Event:
    """Store an event the way the worker does and return what a handler receives."""
    headers = {"X-Kobana-Delivery-Id": key} if provider == "kobana" else {}
    return _stored(session, provider, raw(data), headers, None, datetime.now(UTC))


def _stored(session, provider: str, body: bytes, headers: dict[str, str], entity: str | None, now: datetime) -> Event:
    """One event row for ``body``, described by the provider's own code, and its ``Event``."""
    described = providers.describe(providers.PROVIDERS[provider], headers, body, "application/json", entity)
    row = EventRecord(provider=provider, event_code=described.event_code, original_code=described.original_code,
                      idempotency_key=described.idempotency_key, status=RECEIVED, occurred_at=described.occurred_at,
                      received_at=now, stored_at=now, raw=body, content_type="application/json", entity=entity,
                      attempts=0)  # fmt: skip
    session.add(row)
    session.flush()
    return Event(row.id, provider, described.event_code, described.original_code, described.idempotency_key,
                 described.occurred_at, now, described.payload, body)  # fmt: skip


def deliver(engine, *items, settings=None):
    """Each (provider, body, key) in its own transaction, as the worker runs handlers."""
    sessions = db.session_factory(engine)
    events = []
    for provider, data, key in items:
        with sessions.begin() as session:
            if settings is not None:
                session.info["settings"] = settings
            event = store_event(session, provider, data, key)
            keep_ledger(event, session)
            events.append(event)
    return events


def deliver_batch(engine, *items, settings=None):
    """All (provider, body, key) stored and handed to the ledger's batch form in one transaction,
    as a worker's drain does."""
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        if settings is not None:
            session.info["settings"] = settings
        events = [store_event(session, provider, data, key) for provider, data, key in items]
        keep_ledger_many(events, session)
    return events


def ledger_objects(engine):
    """Every ledger row by object id, read in a fresh session."""
    with db.session_factory(engine)() as session:
        return {row.object_id: row for row in session.scalars(sa.select(LedgerObject))}


def store_events(engine: sa.Engine, traffic: list[Any]) -> list[Event]:
    """Store each distinct notification once, as the worker does; a retried one is the same event."""
    events: dict[tuple[str, str], Event] = {}
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with db.session_factory(engine).begin() as session:
        for delivery in traffic:
            if (delivery.provider, delivery.key) not in events:
                headers = {"X-Kobana-Delivery-Id": delivery.delivery_id} if delivery.delivery_id else {}
                event = _stored(session, delivery.provider, delivery.body, headers, delivery.entity, now)
                assert event.idempotency_key == delivery.key  # the key the door derives is the generator's
                events[(delivery.provider, delivery.key)] = event
    return [events[(d.provider, d.key)] for d in traffic]
