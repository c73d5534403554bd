"""Keep the ledger tables current, and read them back as ``ObjectState`` s.

``record`` is what the handler calls for each event: it adds the event's facts and refolds
every touched object from *all* its stored facts, so it is idempotent (a fact is unique per
object and event) and order-independent (the fold sorts by provider time). The object row is
locked first (``SELECT ... FOR UPDATE`` on PostgreSQL) so two workers folding the same object
serialise instead of each writing a state that misses the other's event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.facts import Fact
from ledger.fold import ObjectState, fold
from ledger.models import LedgerFact, LedgerObject
from ledger.money import to_cents


def record(session: Session, facts: Iterable[Fact]) -> list[LedgerObject]:
    touched = []
    for fact in facts:
        row = _locked_row(session, fact)
        exists = session.scalar(
            select(LedgerFact.id).where(LedgerFact.object_pk == row.id, LedgerFact.event_id == fact.event_id)
        )
        if exists is None:
            session.add(LedgerFact(object_pk=row.id, event_id=fact.event_id, at=_utc(fact.at), code=fact.code,
                                   fact=fact.to_dict()))  # fmt: skip
            session.flush()
        refold(session, row)
        touched.append(row)
    return touched


def refold(session: Session, row: LedgerObject) -> ObjectState:
    stored = session.scalars(select(LedgerFact.fact).where(LedgerFact.object_pk == row.id)).all()
    state = fold(Fact.from_dict(f) for f in stored)
    row.status = state.status[:40] if state.status else None
    row.expected_cents = to_cents(state.expected)
    row.settled_cents = to_cents(state.settled)
    row.opened_at = _utc(state.opened_at)
    row.last_event_at = _utc(state.last_at)
    row.external_id = state.refs.get("external_id")
    row.txid = state.refs.get("txid")
    row.end_to_end_id = state.refs.get("end_to_end_id")
    row.state = state.to_dict()
    session.flush()
    return state


def _utc(moment: datetime | None) -> datetime | None:
    """Columns hold UTC: SQLite drops offsets, and mixed offsets would sort wrongly."""
    return moment.astimezone(UTC) if moment else None


def _locked_row(session: Session, fact: Fact) -> LedgerObject:
    """The object's row, created if missing (race-free), locked for the rest of the transaction."""
    values = {"object_id": fact.object_id, "kind": fact.kind, "provider": fact.provider, "expected_cents": 0,
              "settled_cents": 0, "state": {}}  # fmt: skip
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(LedgerObject).values(**values).on_conflict_do_nothing())
    elif session.scalar(_by_key(fact)) is None:
        session.add(LedgerObject(**values))
        session.flush()
    row = session.scalar(_by_key(fact).with_for_update())
    assert row is not None  # noqa: S101 - just inserted or already there
    return row


def _by_key(fact: Fact):  # type: ignore[no-untyped-def]
    return select(LedgerObject).where(LedgerObject.object_id == fact.object_id, LedgerObject.kind == fact.kind)


def states(session: Session, provider: str | None = None) -> list[ObjectState]:
    query = select(LedgerObject.state).order_by(LedgerObject.id)
    if provider:
        query = query.where(LedgerObject.provider == provider)
    return [ObjectState.from_dict(s) for s in session.scalars(query) if s]


def find(session: Session, object_id: str) -> list[LedgerObject]:
    return list(session.scalars(select(LedgerObject).where(LedgerObject.object_id == object_id)))
