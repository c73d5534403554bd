"""Business hours in São Paulo: when silence from a provider means something.

Providers send little at night and on weekends, so silence is measured in business time only
(Mon-Fri 08:00-20:00, America/Sao_Paulo): a provider quiet since Friday 19:00 has been silent
for 1 h 00 min at Monday 08:00, not 61 hours. Holidays are not known here and count as workdays.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from ops.i18n import TIMEZONE

OPENS, CLOSES = time(8, 0), time(20, 0)
WORKDAYS = range(0, 5)  # Monday..Friday


def is_open(moment: datetime) -> bool:
    local = moment.astimezone(TIMEZONE)
    return local.weekday() in WORKDAYS and OPENS <= local.time() < CLOSES


def business_time(start: datetime, end: datetime) -> timedelta:
    """How much of ``[start, end)`` falls inside business hours."""
    total = timedelta()
    if end <= start:
        return total
    local_start, local_end = start.astimezone(TIMEZONE), end.astimezone(TIMEZONE)
    day = local_start.date()
    while day <= local_end.date():
        if day.weekday() in WORKDAYS:
            opens = datetime.combine(day, OPENS, TIMEZONE)
            closes = datetime.combine(day, CLOSES, TIMEZONE)
            lo, hi = max(opens, local_start), min(closes, local_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total
