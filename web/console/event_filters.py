"""Which events a filter matches: shared by the events list, the bulk replay and ``flask events list``.

``q`` finds an event by what people have in hand: an object id (``kobana:84512377``), a txid,
an end-to-end id, an external id (through the ledger's indexed references), or the provider's
idempotency key. Pages are keyset-paginated on the primary key (newest first): each page is an
index range scan, however deep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from db.models import EventRecord
from ledger.models import LedgerFact, LedgerObject
from web.console.queries import brt_midnight


def code_clause(code: str) -> Any:
    """``prefix.*`` matches a family; otherwise the canonical or the provider's original code."""
    if code.endswith(".*"):
        prefix = code[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return or_(
            *(column.like(prefix, escape="\\") for column in (EventRecord.event_code, EventRecord.original_code))
        )
    return or_(EventRecord.event_code == code, EventRecord.original_code == code)


@dataclass(frozen=True)
class EventFilter:
    provider: str | None = None
    status: str | None = None
    code: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    #: The ids ``q`` finds (``resolve``): a short list, looked up by index before the page is read,
    #: so the page query never walks the log testing each row against ``q``.
    found: tuple[int, ...] = ()

    def resolve(self, session: Session) -> EventFilter:
        """This filter with ``found`` filled in for its ``q``."""
        if not self.q:
            return self
        objects = select(LedgerObject.id).where(
            or_(
                LedgerObject.object_id == self.q,
                LedgerObject.txid == self.q,
                LedgerObject.end_to_end_id == self.q,
                LedgerObject.external_id == self.q,
            )
        )
        by_object = select(LedgerFact.event_id).where(LedgerFact.object_pk.in_(objects))
        by_key = select(EventRecord.id).where(EventRecord.idempotency_key == self.q)
        ids = set(session.scalars(by_object)) | set(session.scalars(by_key))
        return replace(self, found=tuple(sorted(ids)[-10_000:]))

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.provider:
            query = query.where(EventRecord.provider == self.provider)
        if self.status:
            query = query.where(EventRecord.status == self.status)
        if self.code and self.code != "*":
            query = query.where(code_clause(self.code))
        if self.date_from:
            query = query.where(EventRecord.received_at >= brt_midnight(self.date_from))
        if self.date_to:
            query = query.where(EventRecord.received_at < brt_midnight(self.date_to + timedelta(days=1)))
        if self.q:
            query = query.where(EventRecord.id.in_(self.found or [-1]))
        return query

    def page(self, before: int | None, size: int) -> Select[Any]:
        """One page, newest first, of events with an id below ``before``."""
        # With days given, "id + 0" keeps PostgreSQL from walking the whole id index backwards in
        # search of those days (1.1 s at a million events): it reads them through the received_at
        # index and sorts what it found (a few days are tens of thousands of rows at most).
        newest = (EventRecord.id + 0 if self.date_from or self.date_to else EventRecord.id).desc()
        query = self.apply(select(EventRecord).order_by(newest).limit(size))
        return query.where(EventRecord.id < before) if before else query

    def ids(self) -> Select[Any]:
        return self.apply(select(EventRecord.id).order_by(EventRecord.id))
