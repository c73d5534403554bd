"""The alert tables (``migrations/versions/0007_alerts.py`` creates them; it says why each exists)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db import Base

_ID = BigInteger().with_variant(Integer(), "sqlite")
_JSON = JSON().with_variant(JSONB(), "postgresql")
_WHEN = DateTime(timezone=True)

#: Alert statuses: ``open`` while its condition lasts, ``resolved`` once it cleared, ``notice`` for a
#: one-off message (new failed events) that has no "resolved".
OPEN, RESOLVED, NOTICE = "open", "resolved", "notice"


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    #: ``condition`` or ``condition:subject`` (``refusals:kobana``): one open episode per key.
    key: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(_WHEN)
    last_sent_at: Mapped[datetime] = mapped_column(_WHEN)
    resolved_at: Mapped[datetime | None] = mapped_column(_WHEN)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    #: The latest text sent for this alert.
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    #: ``key`` while open, NULL after: unique, so an episode is opened once whatever the race.
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class Delivery(Base):
    """One message for one channel, waiting in the outbox until the channel took it."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(_ID, ForeignKey("alerts.id", ondelete="CASCADE"))
    digest_day: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    #: ``fired``, ``repeat``, ``resolved``, ``notice`` or ``digest``.
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(120))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN)
    next_attempt_at: Mapped[datetime] = mapped_column(_WHEN)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(_WHEN)
    last_error: Mapped[str | None] = mapped_column(Text)


class Digest(Base):
    __tablename__ = "alert_digests"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(_WHEN)
    summary: Mapped[str] = mapped_column(Text)


class Mark(Base):
    __tablename__ = "alert_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(_JSON)
    updated_at: Mapped[datetime | None] = mapped_column(_WHEN)
