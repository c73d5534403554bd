"""Helpers every provider needs: constant-time HMAC checks and strict JSON (timestamps: ``timeparse``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
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
