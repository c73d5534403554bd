"""The discrepancy workflow: flagged differences become rows people acknowledge, resolve and reopen.

The reconciliation (``ledger.reconcile``) says what is wrong *now*; this module remembers what
people did about it. One row per (object, kind, type), with a status:

- ``open``: flagged, nobody has looked; ``acknowledged``: someone is on it;
- ``resolved``: closed with a reason from ``REASONS`` and a note. A resolved discrepancy leaves
  the open list and the report's open section, and stays in the history.

It is kept current from two places, both Flask-free:

- ``track`` runs in the worker, inside the ledger handler's transaction, for the objects a batch
  touched: new discrepancies are opened, and a *resolved* one whose object a later event changes
  (another type, or other amounts) **reopens by itself**, with a system note naming the event.
- ``refresh`` runs with every report (CLI and console) over all objects, as of now: it also
  opens the time-based ones (``payout_pending``) and closes, with a system note, open ones the
  ledger no longer shows (the payer paid the rest).

The console and ``flask reconcile ...`` share ``act`` / ``listing`` / ``to_dict``, so both
answer the same way and use the same JSON keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,  # fmt: skip
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship

from db import Base
from db.lookup import KeyedLookup, probes
from ledger.fold import FAILED, SETTLED, ObjectState
from ledger.models import LedgerObject
from ledger.money import ZERO, fmt, from_cents, to_cents
from ledger.reconcile import (
    DEFAULT_PENDING_AFTER,
    Discrepancy,
    Report,
    _Links,
    build_report,
    discrepancies_of,
    opened_in,
)
from ledger.vocab import CHARGES, DIRECTION, KINDS, PAYOUTS, RECEIVED, RETURNS
from providers.timeparse import BRT

_ID = BigInteger().with_variant(Integer(), "sqlite")

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
#: Why a discrepancy was closed: a fixed list, so month-end reports can count them.
REASONS = (
    "refunded_to_payer",
    "charged_difference",
    "written_off",
    "matched_manually",
    "duplicate_refunded",
    "provider_error",
    "other",
)
#: Who the automatic changes are attributed to in notes and ``resolved_by``.
SYSTEM = "system"


class DiscrepancyRow(Base):
    __tablename__ = "discrepancies"
    __table_args__ = (UniqueConstraint("object_id", "kind", "type", name="uq_discrepancies_object_kind_type"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(240), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    expected_cents: Mapped[int] = mapped_column(BigInteger)
    settled_cents: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[int | None] = mapped_column(_ID)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    object_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(254))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)

    notes: Mapped[list[DiscrepancyNote]] = relationship(order_by="DiscrepancyNote.id", cascade="all, delete-orphan")

    @property
    def expected(self) -> Any:
        return from_cents(self.expected_cents)

    @property
    def settled(self) -> Any:
        return from_cents(self.settled_cents)

    @property
    def difference(self) -> Any:
        return self.settled - self.expected


class DiscrepancyNote(Base):
    """One line of a discrepancy's history: an action by a person, or an automatic change."""

    __tablename__ = "discrepancy_notes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    discrepancy_id: Mapped[int] = mapped_column(_ID, ForeignKey("discrepancies.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(_ID)
    note: Mapped[str | None] = mapped_column(Text)
    #: The discrepancy as it stood after this line: its history reads as a table of figures,
    #: worded by whoever shows it (the console, in the reader's language).
    type: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(32))
    expected_cents: Mapped[int | None] = mapped_column(BigInteger)
    settled_cents: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def expected(self) -> Any:
        return from_cents(self.expected_cents) if self.expected_cents is not None else None

    @property
    def settled(self) -> Any:
        return from_cents(self.settled_cents) if self.settled_cents is not None else None


class WorkflowError(ValueError):
    """An action that does not apply (unknown id, wrong status, reason not in the list)."""


def to_dict(row: DiscrepancyRow) -> dict[str, Any]:
    """The stable JSON shape (``flask reconcile discrepancies --format json``); keys never change."""
    return {
        "id": row.id,
        "object_id": row.object_id,
        "provider": row.provider,
        "kind": row.kind,
        "type": row.type,
        "status": row.status,
        "expected": fmt(row.expected),
        "settled": fmt(row.settled),
        "difference": fmt(row.difference),
        "opened_at": _iso(row.opened_at),
        "resolved_at": _iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "reason": row.reason,
        "note": row.note,
    }


# --- the people's actions ----------------------------------------------------------------------


def acknowledge(session: Session, discrepancy_id: int, actor: str, now: datetime | None = None) -> DiscrepancyRow:
    row = _get(session, discrepancy_id)
    if row.status != OPEN:
        raise WorkflowError(f"discrepancy {discrepancy_id} is {row.status}; only an open one can be acknowledged")
    now = now or _now()
    row.status, row.acknowledged_at, row.acknowledged_by = ACKNOWLEDGED, now, actor
    _note(row, now, actor, "acknowledged")
    return row


def resolve(
    session: Session, discrepancy_id: int, actor: str, reason: str, note: str = "", now: datetime | None = None
) -> DiscrepancyRow:
    if reason not in REASONS:
        raise WorkflowError(f"reason must be one of {', '.join(REASONS)}; got {reason!r}")
    row = _get(session, discrepancy_id)
    if row.status == RESOLVED:
        raise WorkflowError(f"discrepancy {discrepancy_id} is already resolved")
    now = now or _now()
    row.status, row.resolved_at, row.resolved_by = RESOLVED, now, actor
    row.reason, row.note = reason, (note or "").strip() or None
    _note(row, now, actor, "resolved", note=row.note)
    return row


def reopen(session: Session, discrepancy_id: int, actor: str, now: datetime | None = None) -> DiscrepancyRow:
    row = _get(session, discrepancy_id)
    if row.status != RESOLVED:
        raise WorkflowError(f"discrepancy {discrepancy_id} is {row.status}; only a resolved one can be reopened")
    now = now or _now()
    _reopen(row, now, actor, "reopened", None, None)
    return row


def listing(
    session: Session,
    *,
    status: str | None = OPEN,
    type: str | None = None,
    provider: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[DiscrepancyRow]:
    """Rows by id, filtered; ``date_from``/``date_to`` are Brasília days the object opened on."""
    query = select(DiscrepancyRow).order_by(DiscrepancyRow.id)
    if status:
        query = query.where(DiscrepancyRow.status == status)
    if type:
        query = query.where(DiscrepancyRow.type == type)
    if provider:
        query = query.where(DiscrepancyRow.provider == provider)
    if date_from:
        query = query.where(DiscrepancyRow.object_opened_at >= _brt_midnight(date_from))
    if date_to:
        query = query.where(DiscrepancyRow.object_opened_at < _brt_midnight(date_to + timedelta(days=1)))
    if after_id:
        query = query.where(DiscrepancyRow.id > after_id)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def of_object(session: Session, object_id: str) -> list[DiscrepancyRow]:
    return list(session.scalars(select(DiscrepancyRow).where(DiscrepancyRow.object_id == object_id)
                                .order_by(DiscrepancyRow.id)))  # fmt: skip


# --- keeping the rows current ------------------------------------------------------------------


def track(
    session: Session,
    touched: Iterable[tuple[str, str]],
    pending_after: timedelta = DEFAULT_PENDING_AFTER,
    *,
    written: dict[tuple[str, str], ObjectState] | None = None,
) -> None:
    """After the ledger recorded a batch: open new discrepancies of the ``(object_id, kind)`` s it
    touched, reopen resolved ones whose object changed, and close those the object alone says are
    gone (``_closable_alone``). Runs in the handler's transaction.

    A payout's discrepancy depends on its returns, whichever arrives first: a touched return brings
    its payout, a touched payout its returns, found through indexed references
    (``ref_column``, migration 0005), so the payout is judged with every return it has.
    ``written``: states this transaction just wrote (``store.record_many``), not read again.
    """
    keys = sorted(set(touched))
    if not keys:
        return
    written = written or {}
    states = [written[key] for key in keys if key in written]
    states += _states_of(session, [key for key in keys if key not in written])
    states.sort(key=lambda state: (state.object_id, state.kind))
    known = {(s.object_id, s.kind) for s in states}

    def add(lookups: list[Lookup]) -> None:
        for state in _states_matching(session, lookups):
            if (state.object_id, state.kind) not in known:
                known.add((state.object_id, state.kind))
                states.append(state)

    add(_payouts_of([s for s in states if s.kind in RETURNS], session))
    add(_returns_of([s for s in states if s.kind in PAYOUTS], session))
    judged_keys = set(keys) | {(s.object_id, s.kind) for s in states if s.kind in PAYOUTS}
    links = _Links(states)
    judged = [s for s in states if (s.object_id, s.kind) in judged_keys]
    found = [d for s in judged for d in discrepancies_of(s, links, _now(), pending_after)]
    _sync(session, found, {(s.object_id, s.kind): s for s in judged}, close_missing=_closable_alone)


#: References a return names its payout by (``ledger.reconcile._Links._payout_for``), and the
#: payout's own ``client_code``: expression indexes on the folded state (migration 0005).
REF_INDEXED = ("client_code", "original_end_to_end_id", "original_client_code", "original_id", "transfer_id")


def ref_column(session: Session, name: str) -> Any:
    """``state.refs[name]`` as the expression its index was built on (the same text, or no index)."""
    assert name in REF_INDEXED  # noqa: S101 - a fixed vocabulary, never user input
    if session.get_bind().dialect.name == "postgresql":
        return literal_column(f"(ledger_objects.state #>> '{{refs,{name}}}')")
    return literal_column(f"json_extract(ledger_objects.state, '$.refs.{name}')")


#: ``(expression, values, also)``: the objects whose ``expression`` is one of ``values`` and for
#: which ``also`` holds (None: no more).
Lookup = tuple[Any, set[str], Any]


def _payouts_of(returns: list[ObjectState], session: Session) -> list[Lookup]:
    """Lookups finding the payouts ``returns`` point at, by id, end-to-end id or client code."""
    ids, e2e, codes = set(), set(), set()
    for r in returns:
        if "transfer_id" in r.refs:
            ids.add(f"transfeera:{r.refs['transfer_id']}")
        if "original_id" in r.refs:
            ids.add(f"{r.provider}:{r.refs['original_id']}")
        if "original_end_to_end_id" in r.refs:
            e2e.add(r.refs["original_end_to_end_id"])
        if "original_client_code" in r.refs:
            codes.add(r.refs["original_client_code"])
    o = LedgerObject
    payout = o.kind.in_(sorted(PAYOUTS))
    return [
        (o.object_id, ids, None),
        (o.end_to_end_id, e2e, payout),
        (ref_column(session, "client_code"), codes, payout),
    ]


def _returns_of(payouts: list[ObjectState], session: Session) -> list[Lookup]:
    """Lookups finding the returns that point at ``payouts`` (the inverse of ``_payouts_of``)."""
    wanted: dict[str, set[str]] = {name: set() for name in REF_INDEXED}
    for p in payouts:
        own_id = p.object_id.split(":", 1)[1]
        wanted["original_id"].add(own_id)
        if p.provider == "transfeera":
            wanted["transfer_id"].add(own_id)
        if "end_to_end_id" in p.refs:
            wanted["original_end_to_end_id"].add(p.refs["end_to_end_id"])
        if "client_code" in p.refs:
            wanted["original_client_code"].add(p.refs["client_code"])
    a_return = LedgerObject.kind.in_(sorted(RETURNS))
    return [(ref_column(session, name), values, a_return) for name, values in wanted.items() if name != "client_code"]


def _states_matching(session: Session, lookups: list[Lookup]) -> list[ObjectState]:
    """The states the lookups find, each once. On PostgreSQL one index probe per value, whatever
    the statistics (db/lookup.py: as ``IN`` lists ORed, a batch of 100 transfers and their 100
    refunds was a scan of the table on an unanalysed ledger); elsewhere the ``IN``s ORed."""
    wanted = [lookup for lookup in lookups if lookup[1]]
    if not wanted:
        return []
    if session.get_bind().dialect.name != "postgresql":
        return _states_where(session, or_(*_in_clauses(wanted)))
    statement = probes([_OBJECTS.c.id, _OBJECTS.c.state], [(expression, also) for expression, _v, also in wanted])
    params = {f"v{i}": sorted(values) for i, (_e, values, _a) in enumerate(wanted)}
    found = {pk: state for pk, state in session.execute(statement, params)}
    return [ObjectState.from_dict(found[pk]) for pk in sorted(found) if found[pk]]


def _in_clauses(lookups: Iterable[Lookup]) -> list[Any]:
    """Each ``(column, values, also)`` as ``column IN (values) AND also`` (``also`` may be None),
    in clauses of at most 500 values: a period's references would pass SQLite's and PostgreSQL's
    limits on bind parameters. Empty ``values`` give no clause."""
    return [and_(column.in_(chunk), *(() if also is None else (also,)))
            for column, values, also in lookups if values
            for chunk in _chunks(sorted(values), 500)]  # fmt: skip


def sweep_pending(session: Session, pending_after: timedelta = DEFAULT_PENDING_AFTER) -> None:
    """Open ``payout_pending`` for payouts that time, not an event, made late: the ones still not
    settled nor failed ``pending_after`` after they opened (a short, indexed list)."""
    o = LedgerObject
    late = (
        select(o.object_id, o.kind)
        .where(o.kind.in_(sorted(PAYOUTS)), o.opened_at < _now() - pending_after)
        .where(or_(o.status.is_(None), o.status.not_in(sorted(SETTLED | FAILED))))
    )
    already = select(DiscrepancyRow.object_id).where(DiscrepancyRow.type == "payout_pending")
    keys = [(oid, kind) for oid, kind in session.execute(late.where(o.object_id.not_in(already)))]
    track(session, keys, pending_after)


def summary(
    session: Session, date_from: date, date_to: date, *, provider: str | None = None,
    pending_after: timedelta = DEFAULT_PENDING_AFTER,
) -> Report:  # fmt: skip
    """The report's figures for the console's page, from SQL aggregates and the discrepancy rows,
    in time independent of the ledger's size: totals and net as ``build_report`` computes them
    (the same objects, the same matched-Pix rule), and the open and acknowledged discrepancies of
    the period's objects, as the worker and the last ``refresh`` left them (``sweep_pending``
    first adds payouts that became late). A test holds it equal to ``report``."""
    from ledger.reconcile import Total

    sweep_pending(session, pending_after)
    o = LedgerObject
    period = [o.opened_at >= _brt_midnight(date_from), o.opened_at < _brt_midnight(date_to + timedelta(days=1))]
    if provider:
        period.append(o.provider == provider)
    order = {k: i for i, k in enumerate(KINDS)}
    grouped = select(o.provider, o.kind, func.count(), func.sum(o.expected_cents), func.sum(o.settled_cents))
    totals = sorted(
        (Total(p, k, int(c), from_cents(int(e or 0)), from_cents(int(t or 0)))
         for p, k, c, e, t in session.execute(grouped.where(*period).group_by(o.provider, o.kind))),
        key=lambda t: (t.provider, order[t.kind]),
    )  # fmt: skip
    charge = aliased(LedgerObject)
    charges = charge.kind.in_(sorted(CHARGES))
    matched = or_(  # two EXISTS, each an index lookup (txid, end_to_end_id); one with OR was a scan
        select(charge.id).where(charges, charge.txid == o.txid).exists(),
        select(charge.id).where(charges, charge.end_to_end_id == o.end_to_end_id).exists(),
    )
    sums = select(o.provider, o.kind, func.sum(o.settled_cents)).where(*period).group_by(o.provider, o.kind)
    received = o.kind.in_(sorted(RECEIVED))
    net: dict[str, Any] = {}
    # Received money counts unless a charge already counted it: the EXISTS only for received rows.
    for query in (sums.where(~received), sums.where(received, ~matched)):
        for name, kind, cents in session.execute(query):
            sign = 1 if DIRECTION[kind] == "in" else -1
            net[name] = net.get(name, ZERO) + sign * from_cents(int(cents or 0))
    net = {name: net[name] for name in sorted(net)}
    net["all"] = sum(net.values(), ZERO)
    d = DiscrepancyRow
    columns = (d.provider, d.kind, d.object_id, d.type, d.expected_cents, d.settled_cents, d.last_event_id, d.status)
    rows = session.execute(  # plain tuples: a month can hold thousands, ORM objects cost 5x
        select(*columns)
        .where(d.status.in_((OPEN, ACKNOWLEDGED)))
        .where(d.object_opened_at >= _brt_midnight(date_from))
        .where(d.object_opened_at < _brt_midnight(date_to + timedelta(days=1)))
        .where(d.provider == provider if provider else true())
    )
    found = sorted(
        (Discrepancy(p, k, o, t, from_cents(e), from_cents(s), (ev,) if ev else (), status=st)
         for p, k, o, t, e, s, ev, st in rows),
        key=lambda x: (x.provider, order[x.kind], x.object_id, x.type),
    )  # fmt: skip
    return Report(date_from, date_to, totals, found, net)


def refresh(
    session: Session,
    states: Sequence[ObjectState],
    as_of: datetime | None = None,
    pending_after: timedelta = DEFAULT_PENDING_AFTER,
    *,
    among: Sequence[ObjectState] | None = None,
) -> None:
    """Bring the rows of ``states`` in line with the ledger as of ``as_of`` (now): open, reopen,
    close. ``among``: the objects their links may lead to (``states`` themselves by default)."""
    links = _Links(list(states if among is None else among))
    moment = as_of or _now()
    found = [d for s in states for d in discrepancies_of(s, links, moment, pending_after)]
    _sync(session, found, {(s.object_id, s.kind): s for s in states}, close_missing=lambda _state, _type: True)


def report(
    session: Session,
    date_from: date,
    date_to: date,
    *,
    provider: str | None = None,
    as_of: datetime | None = None,
    pending_after: timedelta = DEFAULT_PENDING_AFTER,
) -> Report:
    """``flask reconcile report`` and the console's reconciliation: the ledger's report for the
    period, after ``refresh`` of the period's objects, with each discrepancy's workflow status and
    resolved ones left out.

    It reads what the report can depend on (``period_states``), not the whole ledger: the same
    report, in time that grows with the period instead of with every object ever kept. The caller
    commits (the refresh writes the rows it opened or closed).
    """
    states = period_states(session, date_from, date_to)
    opened = [s for s in states if opened_in(s, date_from, date_to)]
    refresh(session, opened, pending_after=pending_after, among=states)
    built = build_report(states, date_from, date_to, provider=provider, as_of=as_of, pending_after=pending_after)
    statuses = _statuses(session, built.discrepancies)
    kept = [
        replace(d, status=statuses.get((d.object_id, d.kind, d.type), OPEN))
        for d in built.discrepancies
        if statuses.get((d.object_id, d.kind, d.type)) != RESOLVED
    ]
    return replace(built, discrepancies=kept)


def period_states(session: Session, date_from: date, date_to: date) -> list[ObjectState]:
    """Every object the report of ``date_from``..``date_to`` (BRT days) can depend on, in the
    order the whole ledger is read (row id), so that ``build_report`` over them gives what it
    gives over every object:

    - the objects opened in the period (their totals and discrepancies);
    - the charges with credits in the period (credits per day count whenever the charge was
      created: ``first_credit_on`` and ``last_credit_on``, migration 0009);
    - what those link to (``ledger.reconcile._Links``): the payouts their returns point at, the
      returns pointing at their payouts, the charges their received Pix match, and the payouts
      of those returns (a return names its payout by several references, and which one wins
      depends on which payouts exist).

    Each lookup is by an indexed column or expression, in chunks of 500 values.
    """
    o = LedgerObject
    loaded: dict[int, ObjectState] = {}

    def load(clauses: Iterable[Any]) -> list[ObjectState]:
        new = []
        for clause in clauses:
            for pk, state in session.execute(select(o.id, o.state).where(clause)):
                if state and pk not in loaded:
                    loaded[pk] = ObjectState.from_dict(state)
                    new.append(loaded[pk])
        return new

    start, end = _brt_midnight(date_from), _brt_midnight(date_to + timedelta(days=1))
    credited = and_(o.last_credit_on >= date_from, o.first_credit_on <= date_to)
    first = load([and_(o.opened_at >= start, o.opened_at < end), credited])
    returns = [s for s in first if s.kind in RETURNS]
    returns += load(_in_clauses(_returns_of([s for s in first if s.kind in PAYOUTS], session)))
    load(_in_clauses(_payouts_of(returns, session)))
    received = [s for s in first if s.kind in RECEIVED]
    load(_in_clauses((getattr(o, name), {s.refs[name] for s in received if name in s.refs}, None)
                     for name in ("txid", "end_to_end_id")))  # fmt: skip
    return [loaded[pk] for pk in sorted(loaded)]


def _sync(
    session: Session,
    found: list[Discrepancy],
    states: dict[tuple[str, str], ObjectState],
    *,
    close_missing: Callable[[ObjectState, str], bool],
) -> None:
    if not states:
        return
    now = _now()
    stored: dict[tuple[str, str], list[DiscrepancyRow]] = defaultdict(list)
    object_ids = sorted({o for o, _k in states})
    dialect = session.get_bind().dialect.name
    for chunk in _chunks(object_ids, 500):
        statement, params = _ROWS_OF.statement(dialect, [(object_id,) for object_id in chunk])
        for kept in session.scalars(select(DiscrepancyRow).from_statement(statement), params):
            if (kept.object_id, kept.kind) in states:
                stored[(kept.object_id, kept.kind)].append(kept)
    current: dict[tuple[str, str], list[Discrepancy]] = defaultdict(list)
    opened: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in found:
        current[(d.object_id, d.kind)].append(d)
    for key, state in states.items():
        rows = {r.type: r for r in stored.get(key, [])}
        flagged = current.get(key, [])
        event = _last_event(state)
        for d in flagged:
            row: DiscrepancyRow | None = rows.get(d.type)
            if row is None:
                row = _changed_type(rows, {f.type for f in flagged})
            if row is None:  # most new rows come in batches (a first sync, a provider's backlog): one insert
                opened[(d.object_id, d.kind, d.type)] = {
                    "object_id": d.object_id, "provider": d.provider, "kind": d.kind, "type": d.type, "status": OPEN,
                    "expected_cents": to_cents(d.expected), "settled_cents": to_cents(d.actual),
                    "last_event_id": event, "opened_at": now, "object_opened_at": _utc(state.opened_at),
                }  # fmt: skip
                continue
            old_type = row.type
            changed = row.type != d.type or (row.expected_cents, row.settled_cents) != (
                to_cents(d.expected),
                to_cents(d.actual),
            )
            row.type, row.expected_cents, row.settled_cents = d.type, to_cents(d.expected), to_cents(d.actual)
            if changed and row.status == RESOLVED:  # the note keeps the new figures; the one before, the old
                _reopen(row, now, SYSTEM, "auto_reopened", event, None)
            row.object_opened_at = _utc(state.opened_at)
            if event is not None:
                row.last_event_id = event
            rows.pop(old_type, None)
            rows[d.type] = row
        still = {d.type for d in flagged}
        for row in stored.get(key, []):
            if row.type not in still and row.status != RESOLVED and close_missing(state, row.type):
                row.status, row.resolved_at, row.resolved_by = RESOLVED, now, SYSTEM
                row.reason, row.note = None, None
                _note(row, now, SYSTEM, "cleared", event)
    session.flush()
    _insert_opened(session, list(opened.values()), now)


def _insert_opened(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """New discrepancies and their "opened" lines in two statements (ORM objects with a notes
    relationship cost a unit-of-work flush per row: half the worker's time on a batch of
    unregistered boletos, bench/results.md). The lines are what ``_note`` writes."""
    if not rows:
        return
    connection = session.connection()  # Core, not the ORM's bulk path: nothing here is an ORM object
    inserted = connection.execute(insert(_ROWS).returning(_ROWS.c.id, sort_by_parameter_order=True), rows)
    notes = [
        {"discrepancy_id": discrepancy_id, "at": now, "actor": SYSTEM, "action": "opened",
         "event_id": row["last_event_id"], "note": None, "type": row["type"], "reason": None,
         "expected_cents": row["expected_cents"], "settled_cents": row["settled_cents"]}
        for discrepancy_id, row in zip(inserted.scalars(), rows, strict=True)
    ]  # fmt: skip
    connection.execute(insert(_NOTES), notes)


_ROWS, _NOTES = DiscrepancyRow.__table__, DiscrepancyNote.__table__


def _closable_alone(state: ObjectState, type_: str) -> bool:
    """Whether a discrepancy the object no longer shows may be closed seeing the object alone: a
    charge's are its own; a payout's may hang on other objects (its returns), except a
    ``payout_pending`` of a payout now settled or failed."""
    return state.kind not in PAYOUTS or (type_ == "payout_pending" and state.terminal)


def _changed_type(rows: dict[str, DiscrepancyRow], flagged_types: set[str]) -> DiscrepancyRow | None:
    """A resolved row of the object whose type is no longer flagged: the same difference, changed."""
    for row in rows.values():
        if row.status == RESOLVED and row.resolved_by != SYSTEM and row.type not in flagged_types:
            return row
    return None


def _reopen(row: DiscrepancyRow, now: datetime, actor: str, action: str, event: int | None, note: str | None) -> None:
    row.status, row.resolved_at, row.resolved_by, row.reason = OPEN, None, None, None
    row.acknowledged_at = row.acknowledged_by = None
    _note(row, now, actor, action, event, note)


def _note(
    row: DiscrepancyRow, now: datetime, actor: str, action: str, event: int | None = None, note: str | None = None
) -> None:
    row.notes.append(DiscrepancyNote(at=now, actor=actor, action=action, event_id=event, note=note, type=row.type,
                                     reason=row.reason if action == "resolved" else None,
                                     expected_cents=row.expected_cents, settled_cents=row.settled_cents))  # fmt: skip


def _statuses(session: Session, found: list[Discrepancy]) -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    ids = sorted({d.object_id for d in found})
    dialect = session.get_bind().dialect.name
    for chunk in _chunks(ids, 500):
        for row in _ROWS_OF.execute(session, dialect, [(object_id,) for object_id in chunk]):
            out[(row.object_id, row.kind, row.type)] = row.status
    return out


def _states_where(session: Session, clause: Any) -> list[ObjectState]:
    return [ObjectState.from_dict(s) for s in session.scalars(select(LedgerObject.state).where(clause)) if s]


def _states_of(session: Session, keys: list[tuple[str, str]]) -> list[ObjectState]:
    """The objects ``keys`` name, looked up by their ids, kept only for the kinds asked."""
    wanted = set(keys)
    by_id: Lookup = (LedgerObject.object_id, {object_id for object_id, _kind in keys}, None)
    return [state for state in _states_matching(session, [by_id]) if (state.object_id, state.kind) in wanted]


_DISCREPANCIES, _OBJECTS = DiscrepancyRow.__table__, LedgerObject.__table__
#: The discrepancy rows of a batch's objects, one index lookup per object id whatever the
#: statistics (db/lookup.py says why).
_ROWS_OF = KeyedLookup(_DISCREPANCIES, keys=[_DISCREPANCIES.c.object_id], columns=list(_DISCREPANCIES.c), lock=False)


def _last_event(state: ObjectState) -> int | None:
    numbers = [e for e in state.event_ids if isinstance(e, int)]
    return max(numbers) if numbers else None


def _get(session: Session, discrepancy_id: int) -> DiscrepancyRow:
    row = session.get(DiscrepancyRow, discrepancy_id, with_for_update=True)
    if row is None:
        raise WorkflowError(f"no discrepancy {discrepancy_id}")
    return row


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _brt_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BRT).astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
