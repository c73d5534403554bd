"""The daily digest: yesterday for the finance team, once a day at DIGEST_AT (São Paulo).

It carries the day's reconciliation report as CSV: the very bytes of
``flask reconcile report --from D --to D --format csv --as-of <digest time>``, because both
call ``ledger.reconcile.build_report`` and ``ledger.render.to_csv`` with the same arguments
(``report_for``). The ``alert_digests`` row for the day (its primary key) is written in the
same transaction as the deliveries, so the digest goes out once across workers and restarts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import Settings
from db.models import FAILED, QUARANTINED, EventRecord
from ledger import render, store
from ledger.fold import ObjectState
from ledger.reconcile import Report, build_report
from ops import i18n
from workers.alerts.channels import Message
from workers.alerts.messages import render as text
from workers.alerts.messages import subject

#: The CLI's default CSV style (``--csv-style br``): what the attachment matches.
CSV_STYLE = "br"


def due_day(now: datetime, settings: Settings) -> date | None:
    """The day a digest is due for at ``now``: yesterday (São Paulo), once DIGEST_AT has passed."""
    local = i18n.local_time(now)
    if local.time() < settings.digest_at:
        return None
    return local.date() - timedelta(days=1)


def report_for(states: list[ObjectState], day: date, as_of: datetime, settings: Settings) -> Report:
    """``flask reconcile report --from day --to day --as-of as_of`` (web/cli/ledger.py)."""
    pending_after = timedelta(hours=settings.ledger_pending_after_hours)
    return build_report(states, day, day, as_of=as_of, pending_after=pending_after)


def csv_bytes(report: Report) -> bytes:
    """What the CLI writes to stdout (UTF-8, BOM and CRLF included) for ``--format csv``."""
    return render.to_csv(report, CSV_STYLE).encode("utf-8")


def discrepancy_counts(
    states: list[ObjectState], day: date, as_of: datetime, settings: Settings
) -> tuple[Counter[str], Counter[str]]:
    """(new on ``day``, still open from earlier days), counted by type.

    TODO(lead, issue 14 x discrepancy workflow): today a discrepancy is whatever the ledger
    flags as of ``as_of``, "new" when its object opened on ``day``. Once discrepancies carry a
    status and ``opened_at``, count status open/acknowledged by ``opened_at`` here instead.
    """
    new = Counter(d.type for d in report_for(states, day, as_of, settings).discrepancies)
    earlier = build_report(
        states,
        date.min,
        day - timedelta(days=1),
        as_of=as_of,
        pending_after=timedelta(hours=settings.ledger_pending_after_hours),
    )
    return new, Counter(d.type for d in earlier.discrepancies)


@dataclass(frozen=True)
class Digest:
    day: date
    message: Message
    summary: str


def build(session: Session, settings: Settings, day: date, as_of: datetime) -> Digest:
    locale = settings.locale
    states = store.states(session)
    report = report_for(states, day, as_of, settings)
    new, still_open = discrepancy_counts(states, day, as_of, settings)
    shown = i18n.day(day, locale)
    lines = [text(locale, "digest.totals", day=shown)]
    lines += [
        text(
            locale,
            "digest.total_line",
            provider=t.provider,
            kind=t.kind,
            count=t.count,
            expected=i18n.money(t.expected, locale),
            settled=i18n.money(t.settled, locale),
        )
        for t in report.totals
    ] or [text(locale, "digest.no_totals")]
    lines += ["", text(locale, "digest.discrepancies", day=shown, new=sum(new.values()), open=sum(still_open.values()))]
    lines += [
        text(locale, "digest.by_type", type=name, new=new[name], open=still_open[name])
        for name in sorted(new | still_open)
    ]
    failed, quarantined = _event_counts(session, day)
    lines += ["", text(locale, "digest.events", day=shown, failed=failed, quarantined=quarantined)]
    lines += ["", text(locale, "digest.attachment", date=day.isoformat())]
    if settings.console_url:
        url = f"{settings.console_url.rstrip('/')}/console/reconciliation?from={day}&to={day}"
        lines.append(text(locale, "digest.link", url=url))
    body = "\n".join(lines)
    title = text(locale, "digest.title", day=shown)
    attachment = (f"reconciliation-{day}.csv", csv_bytes(report))
    summary = f"{sum(t.count for t in report.totals)} objects, {sum(new.values())} new discrepancies"
    return Digest(day, Message(subject(locale, "digest", title), body, attachment), summary)


def _event_counts(session: Session, day: date) -> tuple[int, int]:
    """Events received on ``day`` (São Paulo) now failed, and quarantined."""
    start = datetime.combine(day, datetime.min.time(), i18n.TIMEZONE)
    end = start + timedelta(days=1)
    query = (
        select(EventRecord.status, func.count())
        .where(EventRecord.received_at >= start, EventRecord.received_at < end)
        .where(EventRecord.status.in_((FAILED, QUARANTINED)))
        .group_by(EventRecord.status)
    )
    counts = {status: count for status, count in session.execute(query)}
    return counts.get(FAILED, 0), counts.get(QUARANTINED, 0)
