"""Ledger tables: one row per money object, and one row per (object, event) holding the event's fact.

Amounts are integer centavos (``BigInteger``): exact on SQLite and PostgreSQL alike, and no
driver ever hands back a float. The folded state is also kept whole as JSON (amounts as
strings) so ``ledger show`` and the report read one row, not every event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

import db.models  # noqa: F401 - the events table our facts point at
from db import Base

_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only
_JSON = JSON().with_variant(JSONB(), "postgresql")


class LedgerObject(Base):
    __tablename__ = "ledger_objects"
    __table_args__ = (
        UniqueConstraint("object_id", "kind", name="uq_ledger_objects_object_kind"),
        Index("ix_ledger_objects_provider_opened", "provider", "opened_at"),
        Index("ix_ledger_objects_credit_days", "last_credit_on", "first_credit_on"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(240), index=True)  # "provider:provider's own id"
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(40))
    expected_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: References users match on, indexed for lookups from an ERP (e.g. by ``external_id``).
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    txid: Mapped[str | None] = mapped_column(String(200), index=True)
    end_to_end_id: Mapped[str | None] = mapped_column(String(200), index=True)
    #: The object's other id (``Fact.aka``): a Kobana boleto's ``kobana:<uid>``, so an event that
    #: names the boleto only by uid finds it (``ledger.store.resolve``).
    aka: Mapped[str | None] = mapped_column(String(240), index=True)
    #: The first and last days money of this charge is credited (``state.credits``): the report's
    #: credits per day count the charges credited in its period, whenever they were created.
    first_credit_on: Mapped[date | None] = mapped_column(Date)
    last_credit_on: Mapped[date | None] = mapped_column(Date)
    state: Mapped[dict[str, Any]] = mapped_column(_JSON, default=dict)

    facts: Mapped[list[LedgerFact]] = relationship(back_populates="object", order_by="LedgerFact.at")


class LedgerFact(Base):
    __tablename__ = "ledger_facts"
    __table_args__ = (UniqueConstraint("object_pk", "event_id", name="uq_ledger_facts_object_event"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(_ID, ForeignKey("ledger_objects.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(_ID, ForeignKey("events.id"), index=True)  # the event log's id
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # provider time
    code: Mapped[str] = mapped_column(String(120))
    fact: Mapped[dict[str, Any]] = mapped_column(_JSON)

    object: Mapped[LedgerObject] = relationship(back_populates="facts")
