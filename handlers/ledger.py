"""The built-in reconciliation ledger, kept by ordinary handlers (docs/reconciliation.md).

Each event's facts are stored once per (object, event) and the object is refolded from all its
facts, so these handlers are idempotent and order-independent. ``LEDGER_ENABLED=false`` makes
them return without touching anything; your own handlers beside them still run.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from config import Settings
from handlers.registry import handler
from ledger import discrepancies, store
from ledger.facts import Fact, Source, facts_from
from ledger.fold import ObjectState
from ledger.sources.celcoin import KINDS as CELCOIN_ENTITIES
from workers.event import Event

#: What the ledger reads from each provider; every other event passes by untouched.
PATTERNS = {
    "kobana": ("bank_billet.*", "bank_billet_payment.created", "bank_billet_payment.updated", "pix.*"),
    "transfeera": ("Transfer", "TransferRefund", "CashIn", "CashInRefund"),
    "celcoin": tuple(CELCOIN_ENTITIES),
}


def keep_ledger(event: Event, session: Session) -> None:
    """Record what ``event`` says about its money objects and refold them."""
    if not enabled(session):
        return
    facts = list(facts_from(_source(event)))
    store.record(session, facts)
    _track(session, facts)


def keep_ledger_many(events: list[Event], session: Session) -> None:
    """``keep_ledger`` for each event of a batch, through one ``store.record_many`` call.

    The worker calls ``fn.many(events, session)`` once per drained batch for a handler that has
    one: a constant number of statements per batch instead of about seven per event.
    """
    if not events or not enabled(session):
        return
    facts = [fact for event in events for fact in facts_from(_source(event))]
    written = store.record_many(session, facts)
    _track(session, facts, written)


def _track(session: Session, facts: list[Fact], written: dict[tuple[str, str], ObjectState] | None = None) -> None:
    """Open new discrepancies and reopen changed resolved ones (ledger/discrepancies.py), in this
    transaction; ``written``: the states the ledger just wrote, so they are not read back."""
    settings: Settings | None = session.info.get("settings")
    hours = settings.ledger_pending_after_hours if settings is not None else Settings.ledger_pending_after_hours
    discrepancies.track(session, {(f.object_id, f.kind) for f in facts}, timedelta(hours=hours), written=written)


keep_ledger.many = keep_ledger_many  # type: ignore[attr-defined]


def _source(event: Event) -> Source:
    return Source(
        provider=event.provider,
        event_code=event.event_code,
        payload=event.payload,
        event_id=event.id,
        idempotency_key=event.idempotency_key,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
    )


def enabled(session: Session) -> bool:
    """``Settings.ledger_enabled`` of the running worker; on unless configured off.

    The settings travel with the session (``db.session_info``): the worker's inbox and the
    replay command put them there. A session without them (a script, a test) keeps the default.
    """
    settings: Settings | None = session.info.get("settings")
    return settings.ledger_enabled if settings is not None else Settings.ledger_enabled


for _provider, _patterns in PATTERNS.items():
    handler(_provider, *_patterns)(keep_ledger)
