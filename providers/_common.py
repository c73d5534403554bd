"""Helpers every provider needs: constant-time HMAC checks, strict JSON, lenient timestamps."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from providers.errors import Invalid


def signature_matches(expected: Iterable[bytes], candidates: Iterable[bytes]) -> bool:
    """True if any candidate digest equals any expected one (one per secret: rotation).

    Every candidate is tried (Transfeera may send several ``v1``). ``compare_digest`` on raw
    bytes makes the check constant-time and hex case irrelevant.
    """
    wanted = list(expected)
    return any(hmac.compare_digest(e, c) for c in candidates for e in wanted)


def hex_digest_or_none(text: str, length: int) -> bytes | None:
    """Decode a hex signature of exactly ``length`` bytes, or None for anything else."""
    if len(text) != 2 * length:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def body_digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


#: A JSON number's decimal exponent beyond this is no amount, rate or id: ``1e999999999`` is a
#: valid literal that becomes a Decimal fine and then hangs ``int()`` in whatever handler touches it.
_MAX_EXPONENT = 30


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if abs(value.adjusted()) > _MAX_EXPONENT:
        raise ValueError("number out of range")
    return value


#: One decoder for every body: ``json.loads`` with these options builds a decoder and its scanner per call.
_DECODER = json.JSONDecoder(parse_float=_decimal, parse_constant=_reject_constant)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object with every non-integer number as ``Decimal`` (money is never a float).

    NaN/Infinity literals, exponent bombs, invalid UTF-8, absurd nesting and 5,000-digit integers all become
    ``Invalid`` (so the authentic body is quarantined) instead of an exception escaping.
    """
    try:
        value = _DECODER.decode(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Invalid(f"body is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise Invalid("body is not a JSON object")
    return value


def ci_get(mapping: Mapping[str, Any], *names: str) -> Any:
    """First value among ``names``, matching keys case-insensitively.

    Celcoin spells the same key ``clientFinality`` and ``clientfinality`` (providers.md §2.6).
    """
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


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
