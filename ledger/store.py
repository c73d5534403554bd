"""Keep the ledger tables current, and read them back as ``ObjectState`` s.

``record`` is what the handler calls for each event: it adds the event's facts and refolds
every touched object from *all* its stored facts, so it is idempotent (a fact is unique per
object and event) and order-independent (the fold sorts by provider time). The object row is
locked first (``SELECT ... FOR UPDATE`` on PostgreSQL) so two workers folding the same object
serialise instead of each writing a state that misses the other's event.

``record_many`` has the same effects for a whole batch of facts in a constant number of
statements (create missing objects, lock them all in key order, insert facts, read them back,
one bulk update), for the workers' batch drains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from db.lookup import KeyedLookup
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


def record_many(session: Session, facts: Sequence[Fact]) -> None:
    """``record(session, facts)``'s effects, in five statements whatever the number of facts.

    1. create the missing objects (``INSERT ... ON CONFLICT DO NOTHING``, sorted by key, so two
       workers creating the same objects queue on them in the same order);
    2. lock every touched object (``SELECT ... FOR UPDATE``, one index lookup per key, in key order);
    3. insert the facts (``ON CONFLICT (object_pk, event_id) DO NOTHING``: the first fact of an
       (object, event) wins, in the list as against the table, exactly as ``record`` does);
    4. read back every fact of those objects and refold each one;
    5. write the objects back (one executemany ``UPDATE`` by primary key).

    Every statement is a fixed one run with a list of parameters (compiled once, then cached).
    SQLite and PostgreSQL only; other databases fall back to ``record``.
    """
    if not facts:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        record(session, facts)
        return
    create, add_fact = _batch_inserts(dialect)
    first: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        first.setdefault((fact.object_id, fact.kind), fact)
    session.execute(create, [{"object_id": f.object_id, "kind": f.kind, "provider": f.provider, "expected_cents": 0,
                              "settled_cents": 0, "state": {}} for _key, f in sorted(first.items())])  # fmt: skip
    locked = _LOCK.execute(session, dialect, sorted(first))
    pks = {(object_id, kind): pk for pk, object_id, kind in locked}
    session.execute(add_fact, [{"object_pk": pks[(f.object_id, f.kind)], "event_id": f.event_id, "at": _utc(f.at),
                                "code": f.code, "fact": f.to_dict()} for f in facts])  # fmt: skip
    stored: dict[int, list[Fact]] = {}
    for _id, pk, data in _FACTS.execute(session, dialect, [(pk,) for pk in sorted(pks.values())]):
        stored.setdefault(pk, []).append(Fact.from_dict(data))
    session.execute(_WRITE, [{"pk": pk, **{f"new_{k}": v for k, v in _columns(fold(group)).items()}}
                             for pk, group in sorted(stored.items())])  # fmt: skip
    for pk in stored:  # rows this session already loaded (e.g. by ``record``) must not go stale
        loaded = session.identity_map.get(identity_key(LedgerObject, pk))
        if loaded is not None:
            session.expire(loaded)


def refold(session: Session, row: LedgerObject) -> ObjectState:
    stored = session.scalars(select(LedgerFact.fact).where(LedgerFact.object_pk == row.id)).all()
    state = fold(Fact.from_dict(f) for f in stored)
    for name, value in _columns(state).items():
        setattr(row, name, value)
    session.flush()
    return state


def _columns(state: ObjectState) -> dict[str, Any]:
    """The object row's columns for a folded state (money as integer centavos, times in UTC)."""
    return {
        "status": state.status[:40] if state.status else None,
        "expected_cents": to_cents(state.expected),
        "settled_cents": to_cents(state.settled),
        "opened_at": _utc(state.opened_at),
        "last_event_at": _utc(state.last_at),
        "external_id": state.refs.get("external_id"),
        "txid": state.refs.get("txid"),
        "end_to_end_id": state.refs.get("end_to_end_id"),
        "state": state.to_dict(),
    }


_OBJECTS, _FACT_ROWS = LedgerObject.__table__, LedgerFact.__table__
#: Step 2: the touched rows' ids, locked in key order, one index lookup each (db/lookup.py says why; SQLite
#: has no FOR UPDATE: BEGIN IMMEDIATE locks it all).
_LOCK = KeyedLookup(
    _OBJECTS,
    keys=[_OBJECTS.c.object_id, _OBJECTS.c.kind],
    columns=[_OBJECTS.c.id, _OBJECTS.c.object_id, _OBJECTS.c.kind],
    lock=True,
)
#: Step 4: every stored fact of the touched objects, in insertion (id) order, the order ``refold``
#: reads; one index lookup per object on PostgreSQL, for the reason db/lookup.py gives (an
#: ``object_pk IN (200 ids)`` was a scan per batch on an unanalysed table: 30 ms at 24,000 facts).
_FACTS = KeyedLookup(
    _FACT_ROWS,
    keys=[_FACT_ROWS.c.object_pk],
    columns=[_FACT_ROWS.c.id, _FACT_ROWS.c.object_pk, _FACT_ROWS.c.fact],
    lock=False,
)
#: Step 5: one UPDATE by primary key, run with one parameter set per object.
_WRITE = (
    update(_OBJECTS)
    .where(_OBJECTS.c.id == bindparam("pk"))
    .values({name: bindparam(f"new_{name}") for name in ("status", "expected_cents", "settled_cents", "opened_at",
                                                "last_event_at", "external_id", "txid", "end_to_end_id", "state")})
)  # fmt: skip
_INSERTS: dict[str, tuple[Any, Any]] = {}


def _batch_inserts(dialect: str) -> tuple[Any, Any]:
    """Steps 1 and 3 for ``dialect``: insert-if-absent of objects and of facts, built once."""
    if dialect not in _INSERTS:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        _INSERTS[dialect] = (
            insert(_OBJECTS).on_conflict_do_nothing(index_elements=["object_id", "kind"]),
            insert(_FACT_ROWS).on_conflict_do_nothing(index_elements=["object_pk", "event_id"]),
        )
    return _INSERTS[dialect]


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


def _by_key(fact: Fact) -> Select[LedgerObject]:
    return select(LedgerObject).where(LedgerObject.object_id == fact.object_id, LedgerObject.kind == fact.kind)


def states(session: Session, provider: str | None = None) -> list[ObjectState]:
    query = select(LedgerObject.state).order_by(LedgerObject.id)
    if provider:
        query = query.where(LedgerObject.provider == provider)
    return [ObjectState.from_dict(s) for s in session.scalars(query) if s]


def find(session: Session, object_id: str) -> list[LedgerObject]:
    return list(session.scalars(select(LedgerObject).where(LedgerObject.object_id == object_id)))
