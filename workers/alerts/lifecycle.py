"""From findings to alerts: fire once, repeat at most every ALERT_REPEAT_MINUTES, then "resolved".

One check at a time across every worker: ``check`` first locks the ``alert_marks`` row named
``check`` (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers) and
skips if another worker checked less than ALERT_CHECK_INTERVAL ago. Everything it decides (alert
rows, the outbox, the digest row, the marks) commits in that one transaction, so two workers
can never send the same alert twice; the unique ``open_key`` and the digest's primary key would
refuse a second one even without the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from db import utc
from workers.alerts import digest, outbox
from workers.alerts.channels import Message
from workers.alerts.conditions import CONDITIONS, Context, Finding
from workers.alerts.messages import duration, render, subject, when
from workers.alerts.models import NOTICE, OPEN, RESOLVED, Alert, Digest, Mark

log = structlog.get_logger(__name__)

CHECK_MARK = "check"


@dataclass
class Outcome:
    """What one check did, for logs and tests: alert keys per transition."""

    skipped: bool = False
    fired: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    digest_day: str | None = None
    errors: list[str] = field(default_factory=list)


def check(sessions: sessionmaker[Session], settings: Settings, connection: redis.Redis, now: datetime) -> Outcome:
    """Run every condition and the digest once, unless another worker just did."""
    outcome = Outcome()
    now = now.astimezone(UTC)  # stored as UTC (SQLite keeps no offset)
    with sessions.begin() as session:
        lock = _lock(session)
        last = (lock.value or {}).get("last_check")
        since = now - datetime.fromisoformat(last) if last else None
        # Another worker checked within this interval (a clock that went back does not count).
        if since is not None and timedelta() <= since < timedelta(seconds=settings.alert_check_interval) * 0.9:
            outcome.skipped = True
            return outcome
        marks = {m.name: m.value for m in session.scalars(select(Mark).where(Mark.name != CHECK_MARK))}
        before = dict(marks)
        open_alerts = {a.key: a for a in session.scalars(select(Alert).where(Alert.status == OPEN))}
        ctx = Context(settings, session, connection, now, open_alerts, marks)
        for name, condition in CONDITIONS.items():
            try:
                with session.begin_nested():
                    findings = condition(ctx)
            except Exception as exc:  # one broken condition (Redis down) must not stop the others
                log.warning("alert.condition_failed", condition=name, error=f"{type(exc).__name__}: {exc}")
                outcome.errors.append(name)
                continue
            if findings is not None:
                _apply(session, settings, name, findings, open_alerts, now, outcome)
        _save_marks(session, marks, before, now)
        try:
            with session.begin_nested():
                _queue_digest(session, settings, now, outcome)
        except Exception as exc:  # a digest that cannot be built must not stop the alerts; retried next check
            log.warning("alert.digest_failed", error=f"{type(exc).__name__}: {exc}")
            outcome.errors.append("digest")
        lock.value = {"last_check": now.isoformat()}
        lock.updated_at = now
    return outcome


def _lock(session: Session) -> Mark:
    """The ``check`` row, locked until commit; created by whichever worker gets there first."""
    query = select(Mark).where(Mark.name == CHECK_MARK).with_for_update()
    row = session.scalar(query)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Mark(name=CHECK_MARK, value={}, updated_at=None))
        except IntegrityError:
            pass  # another worker created it: lock theirs
        row = session.scalar(query.execution_options(populate_existing=True))
    assert row is not None  # noqa: S101
    return row


def _apply(
    session: Session,
    settings: Settings,
    name: str,
    findings: list[Finding],
    open_alerts: dict[str, Alert],
    now: datetime,
    outcome: Outcome,
) -> None:
    locale = settings.locale
    repeat_every = timedelta(minutes=settings.alert_repeat_minutes)
    active = set()
    for finding in findings:
        key = f"{name}:{finding.subject}" if finding.subject else name
        if finding.notice:
            notice = _new_alert(session, name, key, finding, now, status=NOTICE)
            _send(session, settings, "notice", finding.title, finding.body, now, notice)
            outcome.notices.append(key)
            continue
        active.add(key)
        alert = open_alerts.get(key)
        if alert is None:
            alert = _new_alert(session, name, key, finding, now, status=OPEN)
            open_alerts[key] = alert
            _send(session, settings, "fired", finding.title, finding.body, now, alert)
            outcome.fired.append(key)
            continue
        alert.details = finding.details
        opened, last_sent = _utc(alert.opened_at), _utc(alert.last_sent_at)
        if now - last_sent >= repeat_every:
            note = render(locale, "repeat.note", opened=when(locale, opened), duration=duration(now - opened))
            alert.last_sent_at, alert.sends, alert.message = now, alert.sends + 1, finding.body
            _send(session, settings, "repeat", finding.title, f"{finding.body}\n{note}", now, alert)
            outcome.repeated.append(key)
    for key, alert in list(open_alerts.items()):
        if alert.condition != name or key in active:
            continue
        opened = _utc(alert.opened_at)
        fields = {"provider": alert.subject, "opened": when(locale, opened), "duration": duration(now - opened)}
        body = render(locale, f"{name}.resolved", **fields)
        title = render(locale, f"{name}.resolved_title", **fields)
        alert.status, alert.open_key, alert.resolved_at, alert.message = RESOLVED, None, now, body
        del open_alerts[key]
        _send(session, settings, "resolved", title, body, now, alert)
        outcome.resolved.append(key)


def _utc(moment: datetime) -> datetime:
    value = utc(moment)
    assert value is not None  # noqa: S101 - NOT NULL columns
    return value


def _new_alert(session: Session, name: str, key: str, finding: Finding, now: datetime, *, status: str) -> Alert:
    alert = Alert(
        key=key,
        condition=name,
        subject=finding.subject,
        status=status,
        opened_at=now,
        last_sent_at=now,
        resolved_at=now if status == NOTICE else None,
        sends=1,
        message=finding.body,
        details=finding.details,
        open_key=key if status == OPEN else None,
    )
    session.add(alert)
    session.flush()  # the unique open_key refuses a second open episode right here
    return alert


def _send(session: Session, settings: Settings, kind: str, title: str, body: str, now: datetime, alert: Alert) -> None:
    message = Message(subject(settings.locale, kind, title), body)
    outbox.queue(session, settings, kind, message, now, alert_id=alert.id)
    log.info("alert." + kind, alert=alert.key, alert_id=alert.id)


def _save_marks(session: Session, marks: dict[str, Any], before: dict[str, Any], now: datetime) -> None:
    for name, value in marks.items():
        if name in before and before[name] == value:
            continue
        row = session.get(Mark, name)
        if row is None:
            session.add(Mark(name=name, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now


def _queue_digest(session: Session, settings: Settings, now: datetime, outcome: Outcome) -> None:
    day = digest.due_day(now, settings)
    if day is None or session.get(Digest, day) is not None:
        return
    built = digest.build(session, settings, day, now)
    session.add(Digest(day=day, created_at=now, summary=built.summary))
    session.flush()  # the day's primary key: a second digest for it fails here, before any delivery
    outbox.queue(session, settings, "digest", built.message, now, digest_day=day)
    outcome.digest_day = day.isoformat()
    log.info("alert.digest", day=day.isoformat())
