"""Each provider's sync state (``provider_sync``): its resumable cursor and its last result.

One row per provider, written by ``workers.sync`` after every run (automatic or ``flask providers
resync``). ``synced_until`` only moves forward, and only after a complete run without errors: the
next automatic window starts there (minus an overlap), so nothing between two runs is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, DateTime, Engine, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from db import Base, utc

_JSON = JSON().with_variant(JSONB(), "postgresql")


class ProviderSync(Base):
    __tablename__ = "provider_sync"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Provider-specific resume point, e.g. ``{"page": 3, "since": "...", "until": "..."}`` for Kobana.
    cursor: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_complete: Mapped[bool | None] = mapped_column(Boolean)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_counts: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synced_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recovered: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class LastSync:
    """A provider's last sync as alerts and ``flask providers status`` read it."""

    provider: str
    ran_at: datetime | None
    since: datetime | None
    until: datetime | None
    ok: bool | None
    complete: bool | None
    error: str | None
    counts: dict[str, Any]
    last_ok_at: datetime | None
    recovered: int

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {
            "provider": self.provider,
            "ran_at": iso(self.ran_at),
            "window": {"since": iso(self.since), "until": iso(self.until)},
            "ok": self.ok,
            "complete": self.complete,
            "error": self.error,
            "counts": self.counts,
            "last_ok_at": iso(self.last_ok_at),
            "recovered": self.recovered,
        }


def row(session: Session, provider: str) -> ProviderSync:
    """The provider's row, created on first use (locked where the database can)."""
    found = session.get(ProviderSync, provider, with_for_update=True)
    if found is None:
        found = ProviderSync(provider=provider, recovered=0)
        session.add(found)
        session.flush()
    return found


def last_results(bind: Engine | Connection | Session) -> dict[str, LastSync]:
    """Every provider's last sync result, by provider name (providers never synced are absent).

    Flask-free, one query: what the "provider sync failing" alert reads (``ok`` False, or
    ``last_ok_at`` too old) and what ``flask providers status`` prints. Given a session, it reads
    in that session's transaction (on SQLite a second connection would wait for its lock).
    """
    if isinstance(bind, Session):
        return _read(bind)
    with Session(bind) as session:
        return _read(session)


def _read(session: Session) -> dict[str, LastSync]:
    rows = session.query(ProviderSync).order_by(ProviderSync.provider).all()
    return {
        r.provider: LastSync(
            provider=r.provider,
            ran_at=utc(r.last_run_at),
            since=utc(r.last_since),
            until=utc(r.last_until),
            ok=r.last_ok,
            complete=r.last_complete,
            error=r.last_error,
            counts=dict(r.last_counts or {}),
            last_ok_at=utc(r.last_ok_at),
            recovered=r.recovered or 0,
        )
        for r in rows
    }
