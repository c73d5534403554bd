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

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, update
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
    for fact in resolve(session, list(facts)):
        row = _locked_row(session, fact.object_id, fact.kind, fact.provider, fact.aka)
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


def record_many(session: Session, facts: Sequence[Fact]) -> dict[tuple[str, str], ObjectState]:
    """``record(session, facts)``'s effects, in five statements whatever the number of facts (six when
    the batch holds a boleto: ``resolve``'s one lookup of uid akas).

    1. create the missing objects (``INSERT ... ON CONFLICT DO NOTHING``, sorted by key, so two
       workers creating the same objects queue on them in the same order);
    2. lock every touched object (``SELECT ... FOR UPDATE``, one index lookup per key, in key order);
    3. insert the facts (``ON CONFLICT (object_pk, event_id) DO NOTHING``: the first fact of an
       (object, event) wins, in the list as against the table, exactly as ``record`` does);
    4. read back every fact of those objects and refold each one;
    5. write the objects back (one executemany ``UPDATE`` by primary key).

    Every statement is a fixed one run with a list of parameters (compiled once, then cached).
    SQLite and PostgreSQL only; other databases fall back to ``record``.

    Returns the states written, by ``(object_id, kind)``, as a read of the rows would give them
    (``from_dict`` of the stored JSON), so the discrepancy tracker need not read them back.
    """
    if not facts:
        return {}
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        record(session, facts)
        return {}
    facts = resolve(session, facts)
    create, add_fact = _batch_inserts(dialect)
    first: dict[tuple[str, str], Fact] = {}
    akas: dict[tuple[str, str], str] = {}
    for fact in facts:
        first.setdefault((fact.object_id, fact.kind), fact)
        if fact.aka:
            akas[(fact.object_id, fact.kind)] = fact.aka
    session.execute(create, [{"object_id": f.object_id, "kind": f.kind, "provider": f.provider, "expected_cents": 0,
                              "settled_cents": 0, "state": {}, "aka": akas.get(key)}
                             for key, f in sorted(first.items())])  # fmt: skip
    locked = _LOCK.execute(session, dialect, sorted(first))
    pks = {(object_id, kind): pk for pk, object_id, kind in locked}
    session.execute(add_fact, [{"object_pk": pks[(f.object_id, f.kind)], "event_id": f.event_id, "at": _utc(f.at),
                                "code": f.code, "fact": f.to_dict()} for f in facts])  # fmt: skip
    stored: dict[int, list[Fact]] = {}
    for _id, pk, data in _FACTS.execute(session, dialect, [(pk,) for pk in sorted(pks.values())]):
        stored.setdefault(pk, []).append(Fact.from_dict(data))
    names = {pk: object_id for (object_id, _kind), pk in pks.items()}
    written = {pk: _columns(fold(group), names[pk]) for pk, group in sorted(stored.items())}
    session.execute(_WRITE, [{"pk": pk, **{f"new_{k}": v for k, v in columns.items()}}
                             for pk, columns in written.items()])  # fmt: skip
    for pk in stored:  # rows this session already loaded (e.g. by ``record``) must not go stale
        loaded = session.identity_map.get(identity_key(LedgerObject, pk))
        if loaded is not None:
            session.expire(loaded)
    states = (ObjectState.from_dict(columns["state"]) for columns in written.values())
    return {(state.object_id, state.kind): state for state in states}


def resolve(session: Session, facts: Sequence[Fact]) -> list[Fact]:
    """Facts named by an object's ``aka`` redirected to the object itself, and the akas recorded.

    A Kobana boleto is ``kobana:<id>``; an event that names it only by uid gives ``kobana:<uid>``.
    Events naming both carry ``aka=kobana:<uid>``. So, in whatever order they arrive:

    - a fact whose object id is a known aka (recorded on a row, or carried by a fact of this
      batch) goes to that object;
    - a fact carrying an aka records it on its object, and an object already created under that
      aka (its uid-only events came first) is merged into it: its facts move, its row goes.

    One more statement per batch when it holds a boleto, two when one of its boletos is named by
    one id alone (its object may be known by that id as another's aka); none otherwise.
    """
    named = [f for f in facts if f.aka]
    if not named and not any(f.kind in ALIASED_KINDS for f in facts):
        return list(facts)
    owner = {(f.aka, f.kind): f.object_id for f in named if f.aka}
    wanted = {(f.object_id, f.kind): f.aka for f in named if f.aka}
    candidates = {f.object_id for f in facts if not f.aka and f.kind in ALIASED_KINDS} - {o for o, _k in owner}
    names = sorted({o for o, _k in wanted} | set(wanted.values()))
    # Rows named by these facts' ids and akas, and rows whose aka a fact names: one index lookup
    # per value, as the batch lock (db/lookup.py).
    dialect = session.get_bind().dialect.name
    rows = [
        *(_BY_OBJECT_ID.execute(session, dialect, [(name,) for name in names]) if names else ()),
        *(_BY_AKA.execute(session, dialect, [(aka,) for aka in sorted(candidates)]) if candidates else ()),
    ]
    known: dict[tuple[str, str], str | None] = {}
    for _pk, object_id, kind, aka in rows:
        known[(object_id, kind)] = aka
        if aka in candidates:
            owner.setdefault((aka, kind), object_id)
    resolved = [
        dataclasses.replace(f, object_id=owner[(f.object_id, f.kind)]) if (f.object_id, f.kind) in owner else f
        for f in facts
    ]
    for (object_id, kind), aka in sorted(wanted.items()):
        exists = (object_id, kind) in known  # a new row gets its aka when it is created
        if (exists and known[(object_id, kind)] != aka) or (aka, kind) in known:
            _adopt(session, object_id, kind, aka)
    return resolved


#: Kinds whose objects may be named by an ``aka`` (only Kobana boletos today).
ALIASED_KINDS = frozenset({"boleto"})


def _adopt(session: Session, object_id: str, kind: str, aka: str) -> None:
    """Record ``aka`` on ``object_id``'s row (created if missing) and merge a row named ``aka`` into it."""
    row = _locked_row(session, object_id, kind, aka.split(":", 1)[0], aka)
    if row.aka != aka:
        row.aka = aka
    stray = session.scalar(select(LedgerObject).where(LedgerObject.object_id == aka, LedgerObject.kind == kind)
                           .with_for_update())  # fmt: skip
    if stray is not None and stray.id != row.id:
        session.execute(update(LedgerFact).where(LedgerFact.object_pk == stray.id).values(object_pk=row.id))
        session.expunge(stray)
        session.execute(delete(LedgerObject).where(LedgerObject.id == stray.id))
        refold(session, row)
    session.flush()


def refold(session: Session, row: LedgerObject) -> ObjectState:
    stored = session.scalars(select(LedgerFact.fact).where(LedgerFact.object_pk == row.id)).all()
    state = fold(Fact.from_dict(f) for f in stored)
    for name, value in _columns(state, row.object_id).items():
        setattr(row, name, value)
    session.flush()
    return state


def _columns(state: ObjectState, object_id: str) -> dict[str, Any]:
    """The object row's columns for a folded state (money as integer centavos, times in UTC).

    The state is named after the row: facts that arrived under the object's ``aka`` keep that
    name in their JSON (``resolve`` moves them without rewriting them).
    """
    state.object_id = object_id
    return {
        "status": state.status[:40] if state.status else None,
        "expected_cents": to_cents(state.expected),
        "settled_cents": to_cents(state.settled),
        "opened_at": _utc(state.opened_at),
        "last_event_at": _utc(state.last_at),
        "external_id": state.refs.get("external_id"),
        "txid": state.refs.get("txid"),
        "end_to_end_id": state.refs.get("end_to_end_id"),
        "first_credit_on": min((credit.on for credit in state.credits.values()), default=None),
        "last_credit_on": max((credit.on for credit in state.credits.values()), default=None),
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
#: ``resolve``'s lookups: objects by id, and by the aka a fact names.
_NAMES = [_OBJECTS.c.id, _OBJECTS.c.object_id, _OBJECTS.c.kind, _OBJECTS.c.aka]
_BY_OBJECT_ID = KeyedLookup(_OBJECTS, keys=[_OBJECTS.c.object_id], columns=_NAMES, lock=False)
_BY_AKA = KeyedLookup(_OBJECTS, keys=[_OBJECTS.c.aka], columns=_NAMES, lock=False)
#: Step 4: every stored fact of the touched objects, in insertion (id) order, the order ``refold``
#: reads; one index lookup per object on PostgreSQL, for the reason db/lookup.py gives (an
#: ``object_pk IN (200 ids)`` was a scan per batch on an unanalysed table: 30 ms at 24,000 facts).
_FACTS = KeyedLookup(
    _FACT_ROWS,
    keys=[_FACT_ROWS.c.object_pk],
    columns=[_FACT_ROWS.c.id, _FACT_ROWS.c.object_pk, _FACT_ROWS.c.fact],
    lock=False,
)
#: Step 5: one UPDATE by primary key, run with one parameter set per object. It sets what
#: ``_columns`` derives from the folded state: every column but the row's identity and its aka
#: (``resolve`` keeps that one).
_NOT_FOLDED = frozenset({"id", "object_id", "provider", "kind", "aka"})
_WRITE = (
    update(_OBJECTS)
    .where(_OBJECTS.c.id == bindparam("pk"))
    .values({name: bindparam(f"new_{name}") for name in _OBJECTS.c.keys() if name not in _NOT_FOLDED})
)
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


def _locked_row(session: Session, object_id: str, kind: str, provider: str, aka: str | None = None) -> LedgerObject:
    """The object's row, created if missing (race-free), locked for the rest of the transaction."""
    values = {"object_id": object_id, "kind": kind, "provider": provider, "expected_cents": 0,
              "settled_cents": 0, "state": {}, "aka": aka}  # fmt: skip
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(LedgerObject).values(**values).on_conflict_do_nothing())
    elif session.scalar(_by_key(object_id, kind)) is None:
        session.add(LedgerObject(**values))
        session.flush()
    row = session.scalar(_by_key(object_id, kind).with_for_update())
    assert row is not None  # noqa: S101 - just inserted or already there
    return row


def _by_key(object_id: str, kind: str) -> Select[LedgerObject]:
    return select(LedgerObject).where(LedgerObject.object_id == object_id, LedgerObject.kind == kind)


def states(session: Session, provider: str | None = None) -> list[ObjectState]:
    query = select(LedgerObject.state).order_by(LedgerObject.id)
    if provider:
        query = query.where(LedgerObject.provider == provider)
    return [ObjectState.from_dict(s) for s in session.scalars(query) if s]


def find(session: Session, object_id: str) -> list[LedgerObject]:
    return list(session.scalars(select(LedgerObject).where(LedgerObject.object_id == object_id)))
