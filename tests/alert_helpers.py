"""Helpers for the alert tests: settings wired to loopback receivers, ticks at chosen times, rows."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import db
from config import Settings
from db.models import EventRecord
from ops.i18n import TIMEZONE
from workers.alerts import runner
from workers.alerts.models import Alert, Delivery


def sao_paulo(*args: int) -> datetime:
    """``sao_paulo(2026, 11, 23, 9, 0)``: a São Paulo wall-clock moment."""
    return datetime(*args, tzinfo=TIMEZONE)  # type: ignore[misc]


def alert_settings(settings: Settings, *, webhook: str | None = None, smtp: str | None = None, **more: Any) -> Settings:
    """Channels pointed at loopback receivers; the digest at 23:59 unless a test asks for it."""
    email = {"smtp_url": smtp, "alert_email_to": ("ops@example.com",), "alert_email_from": "alerts@example.com"}
    more.setdefault("digest_at", time(23, 59))
    return settings.replace(alert_webhook_url=webhook, **(email if smtp else {}), **more)


class Ticker:
    """Runs the worker's alert tick against the test database and Redis at the moments given."""

    def __init__(self, settings: Settings, engine: sa.Engine, connection: redis.Redis) -> None:
        self.settings, self.connection = settings, connection
        self.sessions: sessionmaker[Session] = db.session_factory(engine)

    def __call__(self, now: datetime) -> runner.Tick:
        return runner.tick(self.sessions, self.settings, self.connection, now)


def alerts(engine: sa.Engine) -> list[Alert]:
    with db.session_factory(engine)() as session:
        return list(session.scalars(sa.select(Alert).order_by(Alert.id)))


def deliveries(engine: sa.Engine) -> list[Delivery]:
    with db.session_factory(engine)() as session:
        return list(session.scalars(sa.select(Delivery).order_by(Delivery.id)))


def store_event(
    engine: sa.Engine, provider: str, received_at: datetime, *, status: str = "processed", code: str = "ping"
) -> int:
    """An event-log row as the worker stores it, received by the door at ``received_at``."""
    received_at = received_at.astimezone(UTC)  # stored as UTC, as the door does
    with db.session_factory(engine).begin() as session:
        row = EventRecord(
            provider=provider,
            event_code=code,
            original_code=code,
            idempotency_key=f"{provider}-{received_at.timestamp()}-{status}-{code}",
            status=status,
            received_at=received_at,
            stored_at=received_at,
            raw=b"{}",
            content_type="application/json",
            attempts=1,
        )
        session.add(row)
        session.flush()
        return row.id
