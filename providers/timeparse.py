"""Provider timestamps, read leniently: what the providers and the ledger both need.

Public so that ``ledger/`` reads the providers' dates exactly as the door does.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_FRACTION = re.compile(r"(\.\d{6})\d+")
_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")
BRT = timezone(timedelta(hours=-3), "BRT")


def parse_timestamp(value: object, naive_tz: timezone = UTC) -> datetime | None:
    """Best-effort provider timestamp → aware datetime, or None when absent or unreadable.

    Handles ISO 8601 with ``Z``, Celcoin's 7 fractional digits without offset, Ruby's
    ``2017-04-18 09:18:13 -0300`` and date-only strings. Naive values get ``naive_tz``.
    A bad timestamp never rejects an event: the worker falls back to the receive time.
    """
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    text = _FRACTION.sub(r"\1", value.strip())
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed


def parse_date(value: object) -> date | None:
    parsed = parse_timestamp(value)
    return parsed.date() if parsed else None
