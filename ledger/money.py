"""Money is ``Decimal`` reais with two places, or integer centavos in the database. Never float.

Provider JSON is parsed with ``parse_float=Decimal`` (the providers' JSON parser), so a float here
means a bug upstream: ``to_decimal`` refuses it loudly instead of rounding it quietly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Larger than any real payment (a trillion reais) and safely inside Decimal's and BIGINT's range.
MAX = Decimal(10) ** 12


def to_decimal(value: object) -> Decimal | None:
    """A provider amount (Decimal, int or numeric string) as reais with two places; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise TypeError("float amount reached the ledger: parse JSON with parse_float=Decimal")
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite() or abs(number) >= MAX:
        return None  # outside input never crashes a worker: an absurd amount is "not stated"
    return number.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def fmt(value: Decimal) -> str:
    """``Decimal('349.9')`` → ``"349.90"``: the JSON report's stable amount format."""
    return str(value.quantize(CENT))
