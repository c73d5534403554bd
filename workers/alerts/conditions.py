"""What is worth telling someone about: one registered function per condition.

A condition looks at the world (the database, Redis) and returns what is wrong *now*: a list of
``Finding``s, one per subject (a provider, or ``""`` for the whole service). The lifecycle
(workers/alerts/lifecycle.py) turns that into messages: fire when a finding appears, repeat
while it stays, "resolved" when it is gone. Returning ``None`` means "no verdict this time"
(silence outside business hours): the alert stays as it is. A new condition is one function::

    @condition("sync_failing")
    def sync_failing(ctx: Context) -> list[Finding] | None: ...

New discrepancies are deliberately not a condition: they go into the daily digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import providers
from config import Settings
from db import sync_state, utc
from db.models import FAILED, QUARANTINED, EventRecord
from ops import refusals
from workers import stream
from workers.alerts import hours
from workers.alerts.messages import counted, duration, render, when
from workers.alerts.models import Alert


@dataclass(frozen=True)
class Finding:
    """Something wrong now. ``notice``: a one-off message (no repeat, no "resolved")."""

    subject: str
    title: str
    body: str
    details: dict[str, Any] = field(default_factory=dict)
    notice: bool = False


@dataclass
class Context:
    settings: Settings
    session: Session
    redis: redis.Redis
    now: datetime
    #: Open alerts by key (``refusals:kobana``), so a condition can tell "still" from "new".
    open_alerts: dict[str, Alert]
    #: Small values a condition keeps between checks (persisted in ``alert_marks``).
    marks: dict[str, Any]

    @property
    def locale(self) -> str:
        return self.settings.locale


Check = Callable[[Context], "list[Finding] | None"]

#: Registered conditions in registration order, ``{name: check}``.
CONDITIONS: dict[str, Check] = {}


def condition(name: str) -> Callable[[Check], Check]:
    """Register ``check`` under ``name``; a name registered twice is a programming error."""

    def register(check: Check) -> Check:
        if name in CONDITIONS:
            raise ValueError(f"condition {name!r} is already registered")
        CONDITIONS[name] = check
        return check

    return register


def last_accepted(session: Session, provider: str) -> datetime | None:
    """When the door accepted ``provider``'s latest stored event (any status: it authenticated).

    Read from the event log rather than a Redis timestamp kept by the door: no extra write on the
    hot path, it survives a Redis flush, and "has sent before" comes for free. An event still in
    the inbox is not counted yet; the backlog alert covers a worker that stopped storing.
    """
    query = select(func.max(EventRecord.received_at)).where(EventRecord.provider == provider)
    return utc(session.scalar(query))


#: Environment variable holding each provider's credentials, named in the refusals message.
CREDENTIAL_VARIABLES = {
    "kobana": "KOBANA_WEBHOOK_SECRET",
    "transfeera": "TRANSFEERA_WEBHOOK_SECRET",
    "celcoin": "CELCOIN_WEBHOOK_USERNAME/CELCOIN_WEBHOOK_PASSWORD",
}


@condition("refusals")
def refused_deliveries(ctx: Context) -> list[Finding]:
    """At least ALERT_AUTH_FAILURES refusals from one provider in 10 min. The alert stays open
    until the refusals drop below the threshold *and* an event was accepted after the last
    refusal: a provider that gave up after its retries is still a problem, not a resolution."""
    found = []
    for name in providers.PROVIDERS:
        reasons = refusals.counts(ctx.redis, name, ctx.now.timestamp())
        count = sum(reasons.values())
        if count < ctx.settings.alert_auth_failures:
            alert = ctx.open_alerts.get(f"refusals:{name}")
            if alert is None:
                continue
            # The latest refusal is remembered a day; after that, the alert's opening stands in.
            since = refusals.last_refused(ctx.redis, name) or utc(alert.opened_at).timestamp()  # type: ignore[union-attr]
            accepted = last_accepted(ctx.session, name)
            if accepted is not None and accepted.timestamp() > since:
                continue
        fields = {"provider": name, "count": count, "reasons": counted(ctx.locale, reasons) or "-"}
        found.append(
            Finding(
                name,
                render(ctx.locale, "refusals.title", **fields),
                render(ctx.locale, "refusals.body", variable=CREDENTIAL_VARIABLES.get(name, "?"), **fields),
                {"reasons": dict(reasons)},
            )
        )
    return found


@condition("silence")
def silence(ctx: Context) -> list[Finding] | None:
    """No accepted event for ALERT_SILENCE_MINUTES of business time, from a provider that has
    sent before. Outside business hours there is no verdict: nothing fires, repeats or resolves."""
    if not hours.is_open(ctx.now):
        return None
    limit = timedelta(minutes=ctx.settings.alert_silence_minutes)
    found = []
    for name in providers.PROVIDERS:
        last = last_accepted(ctx.session, name)
        if last is None:
            continue
        quiet = hours.business_time(last, ctx.now)
        if quiet >= limit:
            fields = {"provider": name, "duration": duration(quiet), "last": when(ctx.locale, last)}
            found.append(
                Finding(
                    name,
                    render(ctx.locale, "silence.title", **fields),
                    render(ctx.locale, "silence.body", **fields),
                    {"last_accepted": last.isoformat()},
                )
            )
    return found


#: Failed/quarantined events named one by one in a message; the rest are counted.
LISTED_EVENTS = 20
#: Failed or quarantined events remembered between checks (the newest ones).
REMEMBERED_EVENTS = 5000


@condition("failed_events")
def failed_events(ctx: Context) -> list[Finding]:
    """Events that became failed or quarantined since the last check, in one notice.

    The mark holds the ids failed or quarantined at the last check; an event that fails later
    (after its retries) is new then, whatever its id. A replayed event leaves the set.
    """
    query = (
        select(EventRecord.id, EventRecord.provider, EventRecord.event_code, EventRecord.status)
        .where(EventRecord.status.in_((FAILED, QUARANTINED)))
        .order_by(EventRecord.id.desc())
        .limit(REMEMBERED_EVENTS)
    )
    rows = list(ctx.session.execute(query))
    seen = set(ctx.marks.get("failed_events") or ())
    ctx.marks["failed_events"] = sorted(row.id for row in rows)
    new = sorted((row for row in rows if row.id not in seen), key=lambda row: row.id)
    if not new:
        return []
    lines = [
        render(
            ctx.locale,
            "failed_events.line",
            id=row.id,
            provider=row.provider,
            code=row.event_code,
            status=render(ctx.locale, f"status.{row.status}"),
        )
        for row in new[:LISTED_EVENTS]
    ]
    if len(new) > LISTED_EVENTS:
        lines.append(render(ctx.locale, "failed_events.more", count=len(new) - LISTED_EVENTS))
    lines.append(render(ctx.locale, "failed_events.hint"))
    body = render(ctx.locale, "failed_events.body", lines="\n".join(lines))
    title = render(ctx.locale, "failed_events.title", count=len(new))
    return [Finding("", title, body, {"event_ids": [row.id for row in new]}, notice=True)]


@condition("backlog")
def backlog(ctx: Context) -> list[Finding]:
    """The oldest event waiting in the inbox stream is older than ALERT_BACKLOG_SECONDS."""
    age = stream.oldest_age(ctx.redis, ctx.now.timestamp())
    limit = ctx.settings.alert_backlog_seconds
    if age <= limit:
        return []
    fields = {
        "age": duration(timedelta(seconds=age)),
        "limit": duration(timedelta(seconds=limit)),
        "depth": stream.depth(ctx.redis),
    }
    title = render(ctx.locale, "backlog.title", **fields)
    return [Finding("", title, render(ctx.locale, "backlog.body", **fields), {"age_seconds": round(age)})]


@dataclass(frozen=True)
class SyncResult:
    """What provider sync reports about its last run (see ``last_sync_results``)."""

    provider: str
    ok: bool
    failing_since: datetime | None = None
    error: str = ""


def last_sync_results(session: Session) -> list[SyncResult]:
    """The last sync result per provider (``db.sync_state``); a provider never synced is absent.

    A run stopped by a rate limit is ``ok`` (it resumes next time); only an error fails. Failing
    since: the last successful run, or the failed run itself when none ever succeeded.
    """
    return [
        SyncResult(last.provider, last.ok is not False, last.last_ok_at or last.ran_at, last.error or "")
        for last in sync_state.last_results(session).values()
    ]


@condition("sync_failing")
def sync_failing(ctx: Context) -> list[Finding]:
    """Provider sync's last run failed (see ``last_sync_results``)."""
    found = []
    for result in last_sync_results(ctx.session):
        if result.ok:
            continue
        since = when(ctx.locale, result.failing_since or ctx.now)
        fields = {"provider": result.provider, "since": since, "error": result.error or "-"}
        found.append(
            Finding(
                result.provider,
                render(ctx.locale, "sync_failing.title", **fields),
                render(ctx.locale, "sync_failing.body", **fields),
            )
        )
    return found
