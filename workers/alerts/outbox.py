"""The outbox: every message waits in ``alert_deliveries`` until its channel took it.

A message is queued in the same transaction that decided to send it (``queue``), then sent by
``deliver_due`` after that transaction committed. Per channel, messages go in order and a
failure stops that channel for this round: a down SMTP server costs one timeout, then waits
out a growing back-off (30 s, 1, 2, 4 ... 15 min) while the webhook keeps delivering. Nothing
is ever dropped: ``flask alerts list`` shows what waits and why.

A delivery is claimed before sending (its ``next_attempt_at`` pushed a lease ahead, under a
row lock), so two workers never send the same row; a worker that dies mid-send leaves a row
that is sent again once the lease expires (at least once: a channel cannot be transactional).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db import utc
from workers.alerts import channels
from workers.alerts.channels import ChannelError, Message
from workers.alerts.models import Delivery

log = structlog.get_logger(__name__)

#: How long a claimed delivery is left alone by other workers: more than a round can take.
LEASE = timedelta(minutes=5)
#: Messages one channel sends per round at most (a round stays short; the next one continues).
BATCH = 10
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=15)


def queue(
    session: Session,
    settings: Settings,
    kind: str,
    message: Message,
    now: datetime,
    *,
    alert_id: int | None = None,
    digest_day: date | None = None,
) -> int:
    """Add ``message`` for every configured channel; returns how many deliveries were queued."""
    names = channels.configured(settings)
    for name in names:
        carried = message.attachment if channels.CHANNELS[name].attachments else None
        attachment_name, attachment = carried or (None, None)
        session.add(
            Delivery(
                alert_id=alert_id,
                digest_day=digest_day,
                channel=name,
                kind=kind,
                subject=message.subject,
                body=message.body,
                attachment_name=attachment_name,
                attachment=attachment,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
    return len(names)


@dataclass
class Round:
    sent: int = 0
    failed: int = 0


def deliver_due(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> Round:
    """Send what is due on every configured channel, in order, stopping a channel at its first failure."""
    now = now.astimezone(UTC)  # stored as UTC (SQLite keeps no offset)
    result = Round()
    for name in channels.configured(settings):
        for delivery in _claim(sessions, name, now):
            message = Message(
                delivery.subject,
                delivery.body,
                (delivery.attachment_name, delivery.attachment)
                if delivery.attachment_name and delivery.attachment is not None
                else None,
            )
            try:
                channels.send(settings, name, message)
            except ChannelError as exc:
                _finish(sessions, delivery.id, now, error=str(exc), attempts=delivery.attempts)
                log.warning("alert.delivery_failed", channel=name, delivery=delivery.id, error=str(exc))
                result.failed += 1
                _release_rest(sessions, name, delivery.id, now)
                break
            _finish(sessions, delivery.id, now, error=None, attempts=delivery.attempts)
            log.info("alert.delivered", channel=name, delivery=delivery.id, kind=delivery.kind)
            result.sent += 1
    return result


def _claim(sessions: sessionmaker[Session], name: str, now: datetime) -> list[Delivery]:
    """The channel's oldest pending deliveries if the oldest is due, each leased for this worker."""
    with sessions.begin() as session:
        head = session.scalars(
            select(Delivery)
            .where(Delivery.channel == name, Delivery.sent_at.is_(None))
            .order_by(Delivery.id)
            .limit(BATCH)
            .with_for_update()
        ).all()
        if not head or _aware(head[0].next_attempt_at) > now:
            return []
        due = [d for d in head if _aware(d.next_attempt_at) <= now]
        for delivery in due:
            delivery.next_attempt_at = now + LEASE
            delivery.attempts += 1
        return due


def _finish(
    sessions: sessionmaker[Session], delivery_id: int, now: datetime, *, error: str | None, attempts: int
) -> None:
    with sessions.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return
        if error is None:
            delivery.sent_at = now
            delivery.last_error = None
        else:
            delivery.last_error = error
            delivery.next_attempt_at = now + min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)


def _release_rest(sessions: sessionmaker[Session], name: str, failed_id: int, now: datetime) -> None:
    """Give back what this round claimed after the failed one: it waits behind it, in order."""
    with sessions.begin() as session:
        for delivery in session.scalars(
            select(Delivery).where(Delivery.channel == name, Delivery.sent_at.is_(None), Delivery.id > failed_id)
        ):
            if _aware(delivery.next_attempt_at) > now:
                delivery.next_attempt_at = now
                delivery.attempts = max(0, delivery.attempts - 1)


def _aware(moment: datetime) -> datetime:
    value = utc(moment)
    assert value is not None  # noqa: S101 - the column is NOT NULL
    return value
