"""Helpers every provider needs: constant-time HMAC checks and strict JSON (timestamps: ``timeparse``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

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


#: A JSON number's decimal exponent beyond this is no amount, rate or id: ``1e999999999`` is a
#: valid literal that becomes a Decimal fine and then hangs ``int()`` in whatever handler touches it.
_MAX_EXPONENT = 30


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if abs(value.adjusted()) > _MAX_EXPONENT:
        raise ValueError("number out of range")
    return value


#: msgspec, not the standard library's ``json``: it hands every non-integer number to ``float_hook``
#: as its literal text, as ``json``'s ``parse_float`` does, and decodes a Kobana ``bank_billet.paid``
#: in less than half the time (bench/results.md). It refuses ``NaN`` and ``Infinity`` and invalid
#: UTF-8 itself, and also a ``\ud800`` escape that stands for no character, which ``json`` would
#: let through into a string no database or encoder downstream accepts.
_DECODER = msgspec.json.Decoder(float_hook=_decimal)
_BOM = b"\xef\xbb\xbf"


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object with every non-integer number as ``Decimal`` (money is never a float).

    NaN/Infinity literals, exponent bombs, invalid UTF-8, absurd nesting and 5,000-digit integers all become
    ``Invalid`` (so the authentic body is quarantined) instead of an exception escaping. One leading
    UTF-8 byte order mark is allowed, as ``bytes.decode("utf-8-sig")`` allows it.
    """
    try:
        value = _DECODER.decode(raw[3:] if raw.startswith(_BOM) else raw)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError (the hook's refusal) is a DecodeError
        raise Invalid(f"body is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise Invalid("body is not a JSON object")
    return value
